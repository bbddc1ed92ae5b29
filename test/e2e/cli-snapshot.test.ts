/**
 * Issue 5 acceptance through the CLI as an operator types it: snapshot create --wait, list, show,
 * restore --before TIME (picks the newest sealed snapshot before TIME), the cross-site refusal,
 * jobs list/show/logs, catalog rebuild and snapshot delete. Issue 12: a writer unit whose start takes
 * 7 s, longer than the 5 s protocol deadline, is waited for (unit control has its own deadline, 15 s here:
 * the production default is minutes, but a unit that never starts costs this file the deadline twice, as
 * the restore tries it once the shards are in and again with the other writers); one that never starts
 * fails naming the unit, the host and the deadline.
 * Issue 20: site cli-a's repository is on a REST server (append-only agents, a maintenance controller):
 * its snapshots are restored into cli-b from there with 0 integrity errors, its catalog is rebuilt from
 * there and a snapshot deleted there through the maintenance credentials.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import { setUnitFault, stopWriter } from '../../deploy/dev-site/index.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { startRestServer, type RestServer } from '../harness/rest-server.js';
import { Readable } from 'node:stream';
import { MANIFEST_COMPONENT, MANIFEST_FILENAME, type Manifest } from '../../shared/manifest.js';
import { decodeManifest, encodeManifest } from '../../shared/manifest-codec.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { sealTag, snapshotTags } from '../../shared/tags.js';

interface Snap {
  id: string;
  createdAt: string;
  freezeWindowMs: number;
  components: string[];
}

const UNIT_DEADLINE_MS = 15_000;
/** Longer than the 5 s protocol deadline, and far enough below UNIT_DEADLINE_MS for a loaded machine's process starts. */
const SLOW_START_MS = 7_000;

describe('ffkeeper snapshot / restore / jobs', () => {
  let fleet: TestFleet;
  let rest: RestServer;
  const ids: string[] = [];

  beforeAll(async () => {
    rest = await startRestServer();
    fleet = await startFleet([
      { site: 'cli-a', dossiers: 30, events: 100 },
      { site: 'cli-b', dossiers: 0, events: 0 },
    ], { controller: { agents: { deadlines: { unitControlMs: UNIT_DEADLINE_MS } } }, remote: { server: rest, sites: ['cli-a'] } });
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop();
    await rest?.stop();
  });

  it('snapshot create --wait shows progress and a summary; list and show find it', async () => {
    for (let i = 0; i < 2; i += 1) {
      const r = await fleet.cli('snapshot', 'create', '--site', 'cli-a', '--wait');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/freeze/i);
      const list = await fleet.json<Snap[]>('snapshot', 'list', '--site', 'cli-a');
      ids.splice(0, ids.length, ...list.map((s) => s.id));
      await new Promise((res) => setTimeout(res, 1100));
    }
    expect(ids).toHaveLength(2);
    const table = await fleet.cli('snapshot', 'list', '--site', 'cli-a');
    expect(table.stdout).toMatch(/^ID\s+CREATED/);
    expect(table.stdout).toContain(ids[0]);
    const shown = await fleet.cli('snapshot', 'show', ids[0] as string);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('postgres:ffsecurity');
    expect(shown.stdout).toContain('tarantool:shard-001');
  }, 240_000);

  it('refuses to restore site A’s snapshot into site B without --to-site, naming both', async () => {
    const r = await fleet.cli('restore', '--site', 'cli-b', '--snapshot', ids[0] as string, '--yes');
    expect(r.code).toBe(EXIT_CODES.VALIDATION);
    expect(r.stderr).toContain(`snapshot '${ids[0]}' belongs to site 'cli-a', not 'cli-b'`);
    expect(r.stderr).toContain('--to-site');
  });

  it('restore --before TIME picks the newest sealed snapshot before TIME and restores it, waiting 7 s for a slow unit start', async () => {
    const list = await fleet.json<Snap[]>('snapshot', 'list', '--site', 'cli-a');
    const [newer, older] = list;
    const between = new Date((Date.parse(older!.createdAt) + Date.parse(newer!.createdAt)) / 2).toISOString();
    // A unit start slower than the 5 s protocol deadline (a real findface-sf-api often is) is waited for.
    setUnitFault(fleet.sites.get('cli-b')!, 'findface-sf-api', { startDelayMs: SLOW_START_MS });
    const r = await fleet.cli('restore', '--site', 'cli-a', '--before', between, '--to-site', 'cli-b', '--no-safety-snapshot', '--yes');
    setUnitFault(fleet.sites.get('cli-b')!, 'findface-sf-api', undefined);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(older!.id);
    expect(r.stdout).not.toContain(newer!.id);
    expect(r.stdout).toMatch(/integrity.*OK, 0 errors/);
  }, 180_000);

  it('a writer unit that never starts fails the restore naming the unit, the host and the deadline; resume finishes it', async () => {
    const b = fleet.sites.get('cli-b')!;
    await stopWriter(b); // the shard restored below then matches the rest of the site exactly
    const snap = await fleet.cli('snapshot', 'create', '--site', 'cli-b', '--wait');
    expect(snap.code, snap.stderr).toBe(0);
    try {
      setUnitFault(b, 'findface-sf-api', { neverStarts: true });
      const hung = await fleet.cli('restore', '--site', 'cli-b', '--latest', '--component', 'tarantool:shard-001', '--no-safety-snapshot', '--yes');
      expect(hung.code, hung.stderr).toBe(EXIT_CODES.TIMEOUT);
      expect(hung.stderr).toContain(`start findface-sf-api on host 'tnt' did not finish within its deadline of ${UNIT_DEADLINE_MS / 1000}s; the deadline is set by agents.deadlines.unitControlMs`);
      expect(hung.stderr).toContain('still stopped: db: findface-security, tnt: findface-sf-api');
      const job = /--resume (j-[\w-]+)/.exec(hung.stderr)?.[1];
      expect(job, hung.stderr).toBeDefined();
      setUnitFault(b, 'findface-sf-api', undefined);
      const resumed = await fleet.cli('restore', '--resume', job!, '--yes');
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toMatch(/integrity.*OK, 0 errors/);
    } finally {
      setUnitFault(b, 'findface-sf-api', undefined);
    }
  }, 240_000);

  it('jobs list / show / logs tell what happened', async () => {
    const jobs = await fleet.json<{ id: string; kind: string; phase: string }[]>('jobs', 'list', '--site', 'cli-a');
    expect(jobs.filter((j) => j.kind === 'snapshot' && j.phase === 'Completed').length).toBeGreaterThanOrEqual(2);
    const logs = await fleet.cli('jobs', 'logs', jobs[0]!.id);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/freeze/);
    expect(logs.stdout).toMatch(/Completed/);
  });

  it('catalog rebuild restores the catalog from the repository, leaving out manifests a host forged; delete removes a whole cut', async () => {
    // A host holding the agents' append-only credentials stores manifests of its own, dated a year ahead
    // (retention's keep-last would keep them in place of real snapshots): one with a made-up seal, one unsealed.
    const shown = await fleet.cli('snapshot', 'show', ids[0] as string, '--site', 'cli-a', '--json');
    const real = decodeManifest(shown.stdout, 'snapshot show');
    const access = fleet.repositoryAccess('cli-a');
    const asAgent = new ResticRepository({ url: access.url, password: access.password, ...(access.caCert ? { caCert: access.caCert } : {}) });
    const forge = async (cutId: string, seal: string | undefined): Promise<void> => {
      const forged: Manifest = { ...real, cutId, createdAt: new Date(Date.now() + 365 * 86_400_000), sealedAt: new Date(Date.now() + 365 * 86_400_000) };
      const tags = [...snapshotTags({ site: 'cli-a', cutId, component: MANIFEST_COMPONENT }), ...(seal ? [sealTag(seal)] : [])];
      await asAgent.backupStream({ stream: Readable.from([Buffer.from(encodeManifest(forged))]), filename: MANIFEST_FILENAME, tags });
    };
    await forge('c-20271204-000000-f0f0f0', 'ab'.repeat(32));
    await forge('c-20271204-000001-f1f1f1', undefined);
    const rebuilt = await fleet.cli('catalog', 'rebuild', '--site', 'cli-a');
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    console.log(`[cli-snapshot] catalog rebuild:\n${rebuilt.stdout}${rebuilt.stderr}`);
    expect(rebuilt.stderr).toContain('WARNING: 2 stored manifest(s) left out');
    expect(rebuilt.stderr).toMatch(/cut c-20271204-000000-f0f0f0, stored .*: its seal does not match/);
    expect(rebuilt.stderr).toMatch(/cut c-20271204-000001-f1f1f1, stored .*: not sealed by the controller/);
    expect((await fleet.json<Snap[]>('snapshot', 'list', '--site', 'cli-a')).map((s) => s.id).filter((id) => id.startsWith('c-2027'))).toEqual([]);
    const del = await fleet.cli('snapshot', 'delete', ids[1] as string, '--site', 'cli-a', '--yes');
    expect(del.code, del.stderr).toBe(0);
    const list = await fleet.json<Snap[]>('snapshot', 'list', '--site', 'cli-a');
    expect(list.map((s) => s.id)).not.toContain(ids[1]);
    const again = await fleet.json<{ snapshots: number }>('catalog', 'rebuild', '--site', 'cli-a');
    expect(again.snapshots).toBe(list.length);
  }, 120_000);
});
