/**
 * Issue 20, the S3 backend: restic's `s3:` against an S3-compatible server (s3rver over TLS with a private CA;
 * test/harness/s3-server.ts says why that one and what it cannot do). Backup, read back, check --read-data,
 * forget + prune, and storage qualification against a right and several wrong configurations. s3rver has no
 * access policies, so its one login can delete: qualification must say NOT append-only.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qualifyRepository } from '../../controller/domain/repository/qualify.js';
import { RepositoryAccessDeniedError, RepositoryUnavailableError } from '../../shared/repository/errors.js';
import { ResticRepository, resticFromAccess } from '../../shared/repository/restic.js';
import { freePort } from '../../shared/net.js';
import { startS3Server, S3_KEYS, S3_REPOSITORY_PASSWORD, type S3Server } from '../harness/s3-server.js';
import { TempDirs, hashStream, pseudoRandomStream } from './helpers.js';

const SITE = 's3-1';

describe('an S3 repository (s3rver over TLS)', () => {
  let server: S3Server;
  const temp = new TempDirs();
  let cache: string;
  let repo: ResticRepository;
  let snapshotId: string;

  beforeAll(async () => {
    server = await startS3Server();
    cache = await temp.make('ffk-s3-cache-');
    repo = resticFromAccess(server.agentAccess(SITE), { cacheDir: cache });
    await repo.init();
    snapshotId = (await repo.backupStream({ stream: pseudoRandomStream('s3-a', 3 << 20), filename: 'a.bin', tags: ['ffk-site=s3-1'] })).snapshotId;
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    await temp.cleanup();
  });

  it('backs up, lists, reads back byte for byte, and check --read-data finds every stored byte sound', async () => {
    expect((await repo.listSnapshots()).map((s) => s.id)).toEqual([snapshotId]);
    expect(await hashStream(repo.dump({ snapshotId, path: '/a.bin' }))).toEqual(await hashStream(pseudoRandomStream('s3-a', 3 << 20)));
    expect(await repo.check({ readData: true })).toEqual({ ok: true, problems: [] });
  }, 60_000);

  it('qualification: writes, lists, reads back; the one login can delete, so the verdict is NOT append-only; speeds measured', async () => {
    const q = await qualifyRepository(SITE, { agent: repo, maintenance: repo, separate: false }, { bytes: 2 << 20, prune: true });
    console.log(`[s3] qualify: ${q.steps.map((s) => `${s.credentials} ${s.step} ${s.ok ? 'ok' : 'FAILED'} ${s.ms} ms`).join(', ')}; write ${q.writeMiBps} MiB/s, read ${q.readMiBps} MiB/s, list ${q.listMs} ms; ${q.appendOnly}`);
    expect(q.steps.filter((s) => !s.ok)).toEqual([]);
    expect(q.appendOnly).toBe('can-delete');
    expect(q.ok).toBe(true);
    expect(q.findings.join('\n')).toContain('agents hold the credentials that delete backups');
    expect(q.writeMiBps).toBeGreaterThan(0);
  }, 120_000);

  it('qualification fails naming the problem: an unknown key id, no CA, an unreachable server', async () => {
    const denied = resticFromAccess({ ...server.agentAccess(SITE), env: { ...S3_KEYS, AWS_ACCESS_KEY_ID: 'NOT-A-KEY' } }, { cacheDir: cache });
    const d = await qualifyRepository(SITE, { agent: denied, maintenance: denied, separate: false }, { bytes: 1 << 20 });
    expect(d.ok).toBe(false);
    expect(d.findings[0]).toMatch(/^open through the agent credentials failed: .* was refused by the storage: .*Access Key Id you provided does not exist/);
    await expect(denied.describe()).rejects.toBeInstanceOf(RepositoryAccessDeniedError);

    const noCa = new ResticRepository({ url: server.url(SITE), password: S3_REPOSITORY_PASSWORD, extraEnv: S3_KEYS, cacheDir: cache });
    const n = await qualifyRepository(SITE, { agent: noCa, maintenance: noCa, separate: false }, { bytes: 1 << 20 });
    expect(n.findings[0]).toMatch(/unreachable: .*x509: certificate signed by unknown authority/);

    const closed = resticFromAccess({ ...server.agentAccess(SITE), url: `s3:https://127.0.0.1:${await freePort()}/ffkeeper/${SITE}` }, { cacheDir: cache });
    const u = await qualifyRepository(SITE, { agent: closed, maintenance: closed, separate: false }, { bytes: 1 << 20 });
    expect(u.findings[0]).toMatch(/is unreachable: .*connection refused/);
    await expect(closed.describe()).rejects.toBeInstanceOf(RepositoryUnavailableError);
    console.log(`[s3] qualify findings: ${[d, n, u].map((q) => q.findings[0]).join(' | ')}`);
  }, 240_000);

  it('forget and prune free the data', async () => {
    const before = (await repo.stats({ measure: 'stored' })).totalBytes;
    const r = await repo.forget({ snapshotIds: [snapshotId], prune: true });
    expect(r).toEqual({ removed: [snapshotId], notFound: [], pruned: true });
    expect(await repo.listSnapshots()).toEqual([]);
    const after = (await repo.stats({ measure: 'stored' })).totalBytes;
    console.log(`[s3] stored before ${before} B, after forget --prune ${after} B`);
    expect(after).toBeLessThan(before / 10);
    expect((await repo.check()).ok).toBe(true);
  }, 60_000);
});
