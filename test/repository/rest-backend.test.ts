/**
 * Issue 20, the REST backend (`rclone serve restic` from Debian, TLS with a private CA, basic auth) with
 * append-only credentials for agents and maintenance credentials for the controller: what each can do to
 * the repository through restic, what an attacker holding the agents' credentials can do over HTTP, and
 * storage qualification against a right and several wrong configurations.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qualifyRepository } from '../../controller/domain/repository/qualify.js';
import { RepositoryAccessDeniedError, RepositoryUnavailableError } from '../../shared/repository/errors.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { freePort } from '../../shared/net.js';
import { startRestServer, type RestServer } from '../harness/rest-server.js';
import { PASSWORD, TempDirs, hashStream, pseudoRandomStream } from './helpers.js';

const SITE = 'rest-1';

describe('a REST repository: append-only agents, a maintenance controller', () => {
  let server: RestServer;
  const temp = new TempDirs();
  let cache: string;
  const open = (url: string, caCert: string | undefined = server.caPem): ResticRepository =>
    new ResticRepository({ url, password: PASSWORD, cacheDir: cache, ...(caCert ? { caCert } : {}) });
  let agent: ResticRepository;
  let maintenance: ResticRepository;
  let snapshotId: string;

  beforeAll(async () => {
    server = await startRestServer();
    cache = await temp.make('ffk-rest-cache-');
    agent = open(server.url(SITE, 'agent'));
    maintenance = open(server.url(SITE, 'maintenance'));
    // The controller creates repositories through the agents' endpoint: creating is appending.
    await agent.init();
    const s = await agent.backupStream({ stream: pseudoRandomStream('rest-a', 3 << 20), filename: 'a.bin', tags: ['ffk-site=rest-1'] });
    snapshotId = s.snapshotId;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await temp.cleanup();
  });

  it('agents back up, list and read back through the append-only endpoint; their removal is refused at once', async () => {
    expect((await agent.listSnapshots()).map((s) => s.id)).toEqual([snapshotId]);
    const back = await hashStream(agent.dump({ snapshotId, path: '/a.bin' }));
    expect(back).toEqual(await hashStream(pseudoRandomStream('rest-a', 3 << 20)));
    const t0 = Date.now();
    const attempt = await agent.tryRemove(snapshotId);
    expect(attempt.removed).toBe(false);
    if (!attempt.removed) expect(attempt.refusal).toMatch(/403/);
    console.log(`[rest] the append-only endpoint refused the removal; tryRemove returned in ${Date.now() - t0} ms`);
    // Nothing was removed, and no lock was left behind: another backup and a check run.
    expect((await agent.listSnapshots()).map((s) => s.id)).toEqual([snapshotId]);
    expect((await agent.check()).ok).toBe(true);
  }, 120_000);

  it("an attacker with the agents' credentials can neither delete nor overwrite any file of the repository over HTTP", async () => {
    const root = path.join(server.dir, SITE);
    const files = (kind: string): string[] => readdirSync(path.join(root, kind), { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name);
    const data = files('data')[0] as string;
    const dataFile = readdirSync(path.join(root, 'data'), { recursive: true }).map(String).find((f) => f.endsWith(data)) as string;
    const before = readFileSync(path.join(root, 'data', dataFile));
    const targets = [`/${SITE}/data/${data}`, `/${SITE}/snapshots/${files('snapshots')[0]}`, `/${SITE}/index/${files('index')[0]}`, `/${SITE}/keys/${files('keys')[0]}`, `/${SITE}/config`];
    const codes: Record<string, number[]> = {};
    for (const t of targets) codes[t] = [await server.request('agent', 'DELETE', t), await server.request('agent', 'POST', t, Buffer.from('garbage'))];
    console.log(`[rest] agent credentials, DELETE/POST over existing files: ${JSON.stringify(codes)}`);
    for (const t of targets) for (const c of codes[t] ?? []) expect(c, t).toBe(403);
    expect(readFileSync(path.join(root, 'data', dataFile)).equals(before)).toBe(true);
    expect((await maintenance.check({ readData: true })).ok).toBe(true);
  }, 60_000);

  it('qualification: the agents write, list, read back and cannot delete; the maintenance credentials delete; speeds measured', async () => {
    const q = await qualifyRepository(SITE, { agent, maintenance, separate: true }, { bytes: 2 << 20 });
    console.log(`[rest] qualify: ${q.steps.map((s) => `${s.credentials} ${s.step} ${s.ok ? 'ok' : 'FAILED'} ${s.ms} ms`).join(', ')}; write ${q.writeMiBps} MiB/s, read ${q.readMiBps} MiB/s, list ${q.listMs} ms`);
    expect(q.steps.map((s) => `${s.credentials} ${s.step} ${s.ok}`)).toEqual([
      'agent open true', 'agent write true', 'agent list true', 'agent read true', 'agent delete true', 'maintenance open true', 'maintenance delete true',
    ]);
    expect(q.appendOnly).toBe('append-only');
    expect(q.ok).toBe(true);
    expect(q.findings).toEqual([]);
    expect(q.writeMiBps).toBeGreaterThan(0);
    // The test snapshot is gone; the real one stays.
    expect((await maintenance.listSnapshots()).map((s) => s.id)).toEqual([snapshotId]);
  }, 120_000);

  it('qualification fails naming the problem: credentials that can delete, wrong credentials, no CA, an unreachable endpoint', async () => {
    const canDelete = await qualifyRepository(SITE, { agent: maintenance, maintenance, separate: true }, { bytes: 1 << 20 });
    expect(canDelete.ok).toBe(false);
    expect(canDelete.appendOnly).toBe('can-delete');
    expect(canDelete.findings.join('\n')).toContain("the agents' credentials can delete backups");

    const wrong = open(server.url(SITE, 'agent').replace(server.agent.password, 'not-the-password'));
    const denied = await qualifyRepository(SITE, { agent: wrong, maintenance, separate: true }, { bytes: 1 << 20 });
    expect(denied.ok).toBe(false);
    expect(denied.steps).toHaveLength(1);
    expect(denied.findings[0]).toMatch(/^open through the agent credentials failed: open on repository rest:https:\/\/agent:\*\*\*@127\.0\.0\.1:\d+\/rest-1\/? was refused by the storage: .*401/);
    expect(denied.findings.join('')).not.toContain('not-the-password');
    await expect(wrong.describe()).rejects.toBeInstanceOf(RepositoryAccessDeniedError);

    const noCa = await qualifyRepository(SITE, { agent: open(server.url(SITE, 'agent'), ''), maintenance, separate: true }, { bytes: 1 << 20 });
    expect(noCa.findings[0]).toMatch(/unreachable: .*x509: certificate signed by unknown authority/);

    const closed = open(`rest:https://agent:x@127.0.0.1:${await freePort()}/${SITE}`);
    const unreachable = await qualifyRepository(SITE, { agent: closed, maintenance, separate: true }, { bytes: 1 << 20 });
    expect(unreachable.findings[0]).toMatch(/is unreachable: .*connection refused/);
    await expect(closed.describe()).rejects.toBeInstanceOf(RepositoryUnavailableError);
    console.log(`[rest] qualify findings: ${[canDelete, denied, noCa, unreachable].map((q) => q.findings[0]).join(' | ')}`);
  }, 180_000);

  it('copies snapshots to a second repository (a local one): by original id, once, and a missing id is named', async () => {
    const secondary = new ResticRepository({ url: path.join(await temp.make('ffk-rest-secondary-'), 'repo'), password: 'another password', cacheDir: cache });
    await secondary.init();
    const copies = await secondary.copyFrom(maintenance, [snapshotId]);
    const copyId = copies[snapshotId] as string;
    expect(copyId).toMatch(/^[0-9a-f]{64}$/);
    expect(copyId).not.toBe(snapshotId);
    expect(await hashStream(secondary.dump({ snapshotId: copyId, path: '/a.bin' }))).toEqual(await hashStream(pseudoRandomStream('rest-a', 3 << 20)));
    expect(await secondary.copyFrom(maintenance, [snapshotId])).toEqual(copies); // copied once
    expect((await secondary.listSnapshots()).map((s) => s.tags)).toEqual([['ffk-site=rest-1']]);
    const missing = 'f'.repeat(64);
    await expect(secondary.copyFrom(maintenance, [snapshotId, missing])).rejects.toThrow(new RegExp(`${missing.slice(0, 8)}.*not found|not found.*${missing.slice(0, 8)}`));
  }, 60_000);

  it('the maintenance credentials forget and prune', async () => {
    const r = await maintenance.forget({ snapshotIds: [snapshotId], prune: true });
    expect(r).toEqual({ removed: [snapshotId], notFound: [], pruned: true });
    expect(await agent.listSnapshots()).toEqual([]);
    expect(readdirSync(path.join(server.dir, SITE, 'data'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile())).toEqual([]);
  }, 120_000);
});
