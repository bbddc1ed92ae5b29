import { describe, expect, it } from 'vitest';
import { NotFoundError, UnavailableError, ValidationError } from '../../../shared/errors.js';
import type { SyncTime } from '../../../shared/findface/config-py.js';
import type { SyncEnd, SyncLink } from '../../../shared/sync/link.js';
import type { NativeReplica, NativeSettings, NativeSyncRequest, NativeSyncResult } from '../../../shared/sync/native.js';
import { clockIn, nativeLinkView, replicaOf, type NativeSyncPort } from './native.js';
import { SyncService, type CreateSyncLinkArgs } from './service.js';
import { MemoryChecks, MemoryLinks, MemoryStatuses } from './fakes.test-support.js';

const NOW = new Date('2026-11-21T10:00:00.000Z');
const FACE = { ffsec_face_objects: 'face-v1', ffsec_body_objects: 'body-v1' };
const MSK_URL = 'http://10.1.0.5';
const CONFIG_PATH = '/etc/ffsecurity/config.py';
const ago = (seconds: number): string => new Date(NOW.getTime() - seconds * 1000).toISOString();

describe('clockIn', () => {
  it.each([
    ['02:00', 'Europe/Moscow', 'UTC', '2026-11-21T10:00:00Z', { hour: 23, minute: 0 }],
    ['03:00', 'UTC', 'UTC', '2026-11-21T10:00:00Z', { hour: 3, minute: 0 }],
    ['02:00', 'Europe/Moscow', 'Europe/Moscow', '2026-11-21T10:00:00Z', { hour: 2, minute: 0 }],
    ['23:30', 'UTC', 'Europe/Moscow', '2026-11-21T10:00:00Z', { hour: 2, minute: 30 }],
    ['03:00', 'Asia/Kolkata', 'UTC', '2026-11-21T10:00:00Z', { hour: 21, minute: 30 }],
    // New York is UTC-4 in summer (EDT) and UTC-5 in winter (EST)
    ['03:00', 'America/New_York', 'UTC', '2026-07-15T12:00:00Z', { hour: 7, minute: 0 }],
    ['03:00', 'America/New_York', 'UTC', '2026-01-15T12:00:00Z', { hour: 8, minute: 0 }],
    ['03:00', 'UTC', 'America/New_York', '2026-07-15T12:00:00Z', { hour: 23, minute: 0 }],
    ['03:00', 'UTC', 'America/New_York', '2026-01-15T12:00:00Z', { hour: 22, minute: 0 }],
    ['03:00', 'Europe/Moscow', 'America/New_York', '2026-07-15T12:00:00Z', { hour: 20, minute: 0 }],
    // On the days the clocks change, the offset at the answer counts, not the offset at the first guess.
    ['03:00', 'America/New_York', 'UTC', '2026-03-08T12:00:00Z', { hour: 7, minute: 0 }],
    ['03:00', 'America/New_York', 'UTC', '2026-11-01T12:00:00Z', { hour: 8, minute: 0 }],
    ['01:30', 'Europe/Berlin', 'UTC', '2026-03-29T12:00:00Z', { hour: 0, minute: 30 }],
  ])('%s in %s is %s time %o on %s', (at, from, to, now, expected) => {
    expect(clockIn(at, from, to, new Date(now))).toEqual(expected);
  });
});

const end = (site: string, list: number): SyncEnd => ({ site, list });

const nativeLink = (over: Partial<SyncLink> = {}): SyncLink => ({
  id: 'msk-1.1.spb-1.2', number: 1, from: end('msk-1', 1), to: end('spb-1', 2), mode: 'native', at: '02:00', timezone: 'Europe/Moscow', paused: false,
  createdAt: ago(3600), models: FACE, native: { remoteUrl: MSK_URL, replicaId: 7, syncTime: { hour: 23, minute: 0 } }, ...over,
});
const replica = (over: Partial<NativeReplica> = {}): NativeReplica => ({ id: 7, remoteList: 1, remoteUrl: MSK_URL, slaveList: 2, createdAt: ago(3600), ...over });

describe('nativeLinkView', () => {
  it('no run yet → waiting, lag since the link was created', () => {
    const r = replica();
    const v = nativeLinkView(nativeLink(), { replica: r }, NOW);
    expect(v).toEqual({ ...nativeLink(), state: 'waiting', lagSeconds: 3600, pending: 0, appliedTotal: 0, errors: 0, resyncs: 0, parts: [], nativeReplica: r });
  });

  it('a good last run → running, its dossiers applied, lag since it started', () => {
    const r = replica({ lastRun: { startedAt: ago(7200), finishedAt: ago(7000), status: 'ok', dossiers: 120, faces: 300 } });
    const v = nativeLinkView(nativeLink({ createdAt: ago(86_400 * 3) }), { replica: r }, NOW);
    expect(v).toMatchObject({ state: 'running', lagSeconds: 7200, appliedTotal: 120, errors: 0, lastAppliedAt: ago(7000), nativeReplica: r });
    expect(v.lastError).toBeUndefined();
  });

  it('a failed last run → error naming the run and its reason', () => {
    const r = replica({ lastRun: { startedAt: ago(600), finishedAt: ago(590), status: 'failed', error: 'remote returned 401 Unauthorized' } });
    const v = nativeLinkView(nativeLink(), { replica: r }, NOW);
    expect(v).toMatchObject({ state: 'error', errors: 1, appliedTotal: 0, lagSeconds: 3600, nativeReplica: r });
    expect(v.lastError).toBe(`the nightly run of msk-1:1 → spb-1:2 at ${ago(600)} failed: remote returned 401 Unauthorized`);
  });

  it('a failed run without a reason says so', () => {
    const v = nativeLinkView(nativeLink(), { replica: replica({ lastRun: { startedAt: ago(600), status: 'failed' } }) }, NOW);
    expect(v.lastError).toBe(`the nightly run of msk-1:1 → spb-1:2 at ${ago(600)} failed: no reason given`);
  });

  it('a run in progress → running, nothing applied yet', () => {
    const v = nativeLinkView(nativeLink(), { replica: replica({ lastRun: { startedAt: ago(60), status: 'running' } }) }, NOW);
    expect(v).toMatchObject({ state: 'running', appliedTotal: 0, errors: 0 });
    expect(v.lastAppliedAt).toBeUndefined();
  });

  it('the slave cannot be asked → error with the reason, no replica', () => {
    const v = nativeLinkView(nativeLink(), { error: "agent spb-1/ffsec (findface-security) is offline" }, NOW);
    expect(v).toMatchObject({ state: 'error', lastError: "agent spb-1/ffsec (findface-security) is offline", lagSeconds: 3600, errors: 0 });
    expect(v.nativeReplica).toBeUndefined();
  });
});

interface FakeSite {
  externalAddress?: string;
  token?: string;
  timeZone?: string;
  syncTime: SyncTime;
  plugin: boolean;
  replicas: NativeReplica[];
}

/** Each site's findface-security as its agent would drive it; `log` records every call (and what the test adds) in order. */
function findfaceSecurity(sites: Record<string, FakeSite>) {
  const log: string[] = [];
  const calls: { site: string; request: NativeSyncRequest }[] = [];
  const failures = new Map<string, Error>();
  let nextReplica = 100;
  const settingsOf = (s: FakeSite): NativeSettings => ({
    configPath: CONFIG_PATH, ...(s.externalAddress ? { externalAddress: s.externalAddress } : {}), tokenSet: s.token !== undefined, syncTime: s.syncTime,
    ...(s.timeZone ? { timeZone: s.timeZone } : {}), pluginInstalled: s.plugin,
  });
  const answer = (site: string, s: FakeSite, request: NativeSyncRequest): NativeSyncResult => {
    switch (request.op) {
      case 'settings':
        return { settings: settingsOf(s) };
      case 'master':
        if (!s.externalAddress) throw new ValidationError(`${CONFIG_PATH} has no EXTERNAL_ADDRESS: a sync master needs it (its slaves pull from that URL)`, { field: 'EXTERNAL_ADDRESS' });
        s.token ??= `token-of-${site}-0123456789`;
        Object.assign(s, { syncTime: request.syncTime, plugin: true });
        return { token: s.token, changed: true, settings: settingsOf(s) };
      case 'slave':
        Object.assign(s, { token: request.token, syncTime: request.syncTime, externalAddress: request.externalAddress, plugin: true });
        return { changed: true, settings: settingsOf(s) };
      case 'link': {
        if (!s.token) throw new NotFoundError(`${CONFIG_PATH} has no SYNC_TOKEN: this site takes part in no native sync link`);
        const created = { id: nextReplica++, remoteList: request.remoteList, remoteUrl: request.remoteUrl, slaveList: request.slaveList };
        s.replicas.push(created);
        return { replica: created };
      }
      case 'unlink': {
        const before = s.replicas.length;
        s.replicas = s.replicas.filter((r) => r.slaveList !== request.slaveList);
        return { removed: s.replicas.length < before };
      }
      case 'replicas':
        return { replicas: s.replicas };
    }
  };
  const port: NativeSyncPort = {
    call(site, request) {
      calls.push({ site, request });
      log.push(`${site} ${request.op}`);
      const failure = failures.get(`${site} ${request.op}`);
      const s = sites[site];
      if (failure) return Promise.reject(failure);
      if (!s) return Promise.reject(new UnavailableError(`site '${site}' has no agent running findface-security`));
      try {
        return Promise.resolve(answer(site, s, request));
      } catch (err) {
        return Promise.reject(err);
      }
    },
  };
  return { port, sites, log, calls, failures };
}

/** Three sites: msk-1 (Moscow time, reachable at MSK_URL), spb-1 (UTC), ekb-1 (no EXTERNAL_ADDRESS). */
function world() {
  const ff = findfaceSecurity({
    'msk-1': { externalAddress: MSK_URL, timeZone: 'Europe/Moscow', syncTime: { hour: 3, minute: 0 }, plugin: false, replicas: [] },
    'spb-1': { externalAddress: 'http://10.2.0.7', syncTime: { hour: 3, minute: 0 }, plugin: false, replicas: [] },
    'ekb-1': { timeZone: 'Asia/Yekaterinburg', syncTime: { hour: 3, minute: 0 }, plugin: false, replicas: [] },
  });
  const links = new MemoryLinks();
  const statuses = new MemoryStatuses();
  const checks = new MemoryChecks();
  const snapshots: { site: string; reason: string }[] = [];
  const service = new SyncService({
    links,
    statuses,
    checks,
    compare: () => Promise.reject(new Error('not compared in these tests')),
    knownSites: () => ['msk-1', 'spb-1', 'ekb-1'],
    listsOf: () => Promise.resolve([1, 2, 3, 4].map((id) => ({ id, name: `list ${id}`, dossiers: 0 }))),
    modelsOf: () => Promise.resolve(FACE),
    takeSnapshot: (site, reason) => {
      snapshots.push({ site, reason });
      ff.log.push(`snapshot ${site}`);
      return Promise.resolve(`c-${site}-${snapshots.length}`);
    },
    native: ff.port,
    now: () => NOW,
  });
  return { service, links, statuses, checks, snapshots, ff };
}

const args = (over: Partial<CreateSyncLinkArgs> = {}): CreateSyncLinkArgs => ({
  from: end('msk-1', 1), to: end('spb-1', 2), mode: 'native', at: '02:00', timezone: 'Europe/Moscow', ...over,
});
const caught = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

describe('SyncService: native links', () => {
  it("create sets up both findface-security services in order and stores the link with its replica", async () => {
    const w = world();
    const v = await w.service.create(args());
    const token = 'token-of-msk-1-0123456789';
    expect(w.ff.calls).toEqual([
      { site: 'msk-1', request: { op: 'settings' } },
      { site: 'spb-1', request: { op: 'settings' } },
      { site: 'msk-1', request: { op: 'master', syncTime: { hour: 2, minute: 0 } } }, // 02:00 Moscow in the master's Moscow time
      { site: 'spb-1', request: { op: 'slave', syncTime: { hour: 23, minute: 0 }, token, externalAddress: MSK_URL } }, // in the slave's UTC
      { site: 'spb-1', request: { op: 'link', remoteList: 1, remoteUrl: MSK_URL, slaveList: 2 } },
      { site: 'spb-1', request: { op: 'replicas' } },
    ]);
    expect(w.ff.log.indexOf('snapshot spb-1')).toBe(0); // the safety snapshot comes before anything changes
    const stored = w.links.items.get('msk-1.1.spb-1.2');
    expect(stored).toEqual({
      id: 'msk-1.1.spb-1.2', number: 1, from: end('msk-1', 1), to: end('spb-1', 2), mode: 'native', at: '02:00', timezone: 'Europe/Moscow', paused: false,
      createdAt: NOW.toISOString(), safetySnapshot: 'c-spb-1-1', replacedDossiers: 0, models: FACE,
      native: { remoteUrl: MSK_URL, replicaId: 100, syncTime: { hour: 23, minute: 0 } },
    });
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(v).toMatchObject({ ...stored, state: 'waiting', lagSeconds: 0, nativeReplica: { id: 100, remoteList: 1, remoteUrl: MSK_URL, slaveList: 2 } });
    expect(w.ff.sites['spb-1']).toMatchObject({ token, externalAddress: MSK_URL, syncTime: { hour: 23, minute: 0 }, plugin: true });
  });

  it("a master without EXTERNAL_ADDRESS: the agent's error propagates, the slave is not touched, nothing is stored", async () => {
    const w = world();
    const err = await caught(w.service.create(args({ from: end('ekb-1', 1), noSafetySnapshot: true })));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe(`${CONFIG_PATH} has no EXTERNAL_ADDRESS: a sync master needs it (its slaves pull from that URL)`);
    expect(w.ff.log).toEqual(['ekb-1 settings', 'spb-1 settings', 'ekb-1 master']);
    expect(w.links.items.size).toBe(0);
    expect(w.ff.sites['spb-1']?.token).toBeUndefined();
  });

  it('if storing fails after the link was POSTed, the replica is DELETEd again and the error propagates', async () => {
    const w = world();
    const failure = new UnavailableError('NATS KV ffk_sync_links is unavailable');
    w.links.create = () => Promise.reject(failure);
    expect(await caught(w.service.create(args({ noSafetySnapshot: true })))).toBe(failure);
    expect(w.ff.log).toEqual(['msk-1 settings', 'spb-1 settings', 'msk-1 master', 'spb-1 slave', 'spb-1 link', 'spb-1 unlink']);
    expect(w.ff.calls.at(-1)).toEqual({ site: 'spb-1', request: { op: 'unlink', slaveList: 2 } });
    expect(w.ff.sites['spb-1']?.replicas).toEqual([]);
    expect(w.links.items.size).toBe(0);
  });

  it('if that undo fails too, the storing error is the one reported', async () => {
    const w = world();
    const failure = new UnavailableError('NATS KV ffk_sync_links is unavailable');
    w.links.create = () => Promise.reject(failure);
    w.ff.failures.set('spb-1 unlink', new UnavailableError('agent spb-1/ffsec is offline'));
    expect(await caught(w.service.create(args({ noSafetySnapshot: true })))).toBe(failure);
    expect(w.ff.log.at(-1)).toBe('spb-1 unlink');
  });

  it("get asks the slave for its replicas and reports the last run", async () => {
    const w = world();
    await w.service.create(args({ noSafetySnapshot: true }));
    const slave = w.ff.sites['spb-1'] as FakeSite;
    slave.replicas = [{ ...(slave.replicas[0] as NativeReplica), lastRun: { startedAt: ago(1800), finishedAt: ago(1700), status: 'ok', dossiers: 42 } }];
    w.ff.log.length = 0;
    const v = await w.service.get('msk-1.1.spb-1.2');
    expect(w.ff.log).toEqual(['spb-1 replicas']);
    expect(v).toMatchObject({ state: 'running', appliedTotal: 42, lagSeconds: 1800, lastAppliedAt: ago(1700) });
  });

  it.each([
    ['removed outside ffkeeper', (w: ReturnType<typeof world>) => { (w.ff.sites['spb-1'] as FakeSite).replicas = []; }, "findface-security of site 'spb-1' holds no replica of list 2 (removed outside ffkeeper?)"],
    ['the slave unreachable', (w: ReturnType<typeof world>) => { w.ff.failures.set('spb-1 replicas', new UnavailableError('agent spb-1/ffsec is offline')); }, 'agent spb-1/ffsec is offline'],
  ])('get with the replica %s → state error', async (_name, breakIt, message) => {
    const w = world();
    await w.service.create(args({ noSafetySnapshot: true }));
    breakIt(w);
    expect(await w.service.get('msk-1.1.spb-1.2')).toMatchObject({ state: 'error', lastError: message });
    expect((await w.service.list('spb-1')).map((l) => l.state)).toEqual(['error']);
  });

  it.each([
    ['setPaused', (s: SyncService) => s.setPaused('msk-1.1.spb-1.2', true), 'pause'],
    ['check', (s: SyncService) => s.check('msk-1.1.spb-1.2', false), 'comparison by ffkeeper'],
  ])('%s of a native link → ValidationError, nothing asked or changed', async (_name, call, what) => {
    const w = world();
    await w.service.create(args({ noSafetySnapshot: true }));
    const before = structuredClone(w.links.items.get('msk-1.1.spb-1.2'));
    w.ff.log.length = 0;
    const err = await caught(call(w.service));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe(`sync link 'msk-1.1.spb-1.2' runs FindFace's native sync, which has no ${what}; 'sync show' reports its nightly runs (unlink and link again to change it)`);
    expect(w.ff.log).toEqual([]);
    expect(w.links.items.get('msk-1.1.spb-1.2')).toEqual(before);
    expect(w.checks.items.size).toBe(0);
  });

  it('checkTimes leaves native links out', async () => {
    const w = world();
    await w.service.create(args({ noSafetySnapshot: true }));
    await w.service.create(args({ from: end('msk-1', 3), to: end('ekb-1', 4), mode: 'continuous', noSafetySnapshot: true }));
    expect((await w.service.checkTimes()).map((t) => t.link.id)).toEqual(['msk-1.3.ekb-1.4']);
  });

  it('remove DELETEs the replica on the slave, then deletes the record', async () => {
    const w = world();
    await w.service.create(args({ noSafetySnapshot: true }));
    const del = w.links.delete.bind(w.links);
    w.links.delete = (id) => {
      w.ff.log.push(`delete ${id}`);
      return del(id);
    };
    w.ff.log.length = 0;
    await w.service.remove('msk-1.1.spb-1.2');
    expect(w.ff.log).toEqual(['spb-1 unlink', 'delete msk-1.1.spb-1.2']);
    expect(w.ff.calls.at(-1)).toEqual({ site: 'spb-1', request: { op: 'unlink', slaveList: 2 } });
    expect(w.links.items.size).toBe(0);
    expect(w.ff.sites['spb-1']?.replicas).toEqual([]);
  });

  it('remove keeps the record when the slave cannot be asked, and says why', async () => {
    const w = world();
    await w.service.create(args({ noSafetySnapshot: true }));
    const offline = new UnavailableError("DELETE /sync/dossier-lists/2/ on site 'spb-1' needs agent spb-1/ffsec (findface-security), which is offline");
    w.ff.failures.set('spb-1 unlink', offline);
    expect(await caught(w.service.remove('msk-1.1.spb-1.2'))).toBe(offline);
    expect(w.links.items.has('msk-1.1.spb-1.2')).toBe(true);
    expect(w.ff.sites['spb-1']?.replicas).toHaveLength(1);
  });
});

describe('replicaOf', () => {
  it("finds the slave list's replica among the slave's replicas", async () => {
    const ff = findfaceSecurity({
      'spb-1': { syncTime: { hour: 3, minute: 0 }, plugin: true, replicas: [replica({ id: 5, slaveList: 9 }), replica({ id: 7, slaveList: 2 })] },
    });
    expect(await replicaOf(ff.port, nativeLink())).toEqual({ replica: replica({ id: 7, slaveList: 2 }) });
    expect(ff.calls).toEqual([{ site: 'spb-1', request: { op: 'replicas' } }]);
  });
});
