import { describe, expect, it } from 'vitest';
import { ConflictError, TimeoutError, ValidationError } from '../../../shared/errors.js';
import type { SyncCheckReport } from '../../../shared/sync/inspect.js';
import type { SyncLink, SyncPartStatus, SyncRole } from '../../../shared/sync/link.js';
import { MemoryChecks, MemoryLinks, MemoryStatuses } from './fakes.test-support.js';
import { SyncService } from './service.js';
import { linkView } from './view.js';
import { caughtUp, runWindow, type WindowDeps } from './window.js';

const T0 = new Date('2026-12-02T03:00:00.000Z');
const link = (over: Partial<SyncLink> = {}): SyncLink => ({
  id: 'msk-1.1.spb-1.2', number: 1, from: { site: 'msk-1', list: 1 }, to: { site: 'spb-1', list: 2 }, mode: 'nightly', at: '03:00', timezone: 'UTC',
  paused: false, createdAt: '2026-12-01T10:00:00.000Z', models: {}, ...over,
});
const part = (role: SyncRole, over: Partial<SyncPartStatus> = {}): SyncPartStatus => ({
  link: 'msk-1.1.spb-1.2', role, site: role.startsWith('apply') ? 'spb-1' : 'msk-1', host: role === 'apply-rows' ? 'db' : 'files', state: 'running',
  position: 10, pending: 0, handled: 0, errors: 0, resyncs: 0, updatedAt: T0.toISOString(), ...over,
});
const report = (over: Partial<SyncCheckReport> = {}): SyncCheckReport => ({
  link: 'msk-1.1.spb-1.2', checkedAt: T0.toISOString(), dossiers: 3, records: 3, files: 9, differences: [], requeued: 0, durationMs: 5, ...over,
});

describe('caughtUp', () => {
  const since = new Date(T0.getTime() - 5000);
  const following = { followingSince: new Date(T0.getTime() - 1000).toISOString() };
  it('needs every fresh apply part following since the window opened with nothing pending, rows among them', () => {
    expect(caughtUp([part('apply-rows', following), part('apply-files', following), part('capture', { pending: 7 })], since, T0)).toEqual({ done: true, missing: '' });
    expect(caughtUp([part('apply-files', following)], since, T0).missing).toBe('no apply-rows part of the slave site is reporting');
    expect(caughtUp([part('apply-rows', following), part('apply-files', { ...following, pending: 4 })], since, T0).missing).toBe('apply-files on files: 4 pending');
    expect(caughtUp([part('apply-rows', { state: 'waiting' })], since, T0).missing).toBe('apply-rows on db: not following yet');
    expect(caughtUp([part('apply-rows', { followingSince: new Date(since.getTime() - 1).toISOString() })], since, T0).missing).toBe('apply-rows on db: not following yet');
    expect(caughtUp([part('apply-rows', { ...following, state: 'error', lastError: 'guard missing' })], since, T0).missing).toBe('apply-rows on db: error (guard missing)');
  });

  it('ignores a stale part (an agent that went away) but not its absence of rows', () => {
    const stale = { updatedAt: new Date(T0.getTime() - 60_000).toISOString(), pending: 9 };
    expect(caughtUp([part('apply-rows', following), part('apply-files', stale)], since, T0).done).toBe(true);
    expect(caughtUp([part('apply-rows', { ...following, ...stale })], since, T0).done).toBe(false);
  });
});

/** A world where the slave's parts start following `lagPolls` polls after the window opens. */
function world(opts: { lagPolls?: number; reports?: SyncCheckReport[]; catchUpMs?: number } = {}) {
  const links = new MemoryLinks();
  const statuses = new MemoryStatuses();
  let now = T0.getTime();
  let polls = 0;
  const compared: boolean[] = [];
  const reports = [...(opts.reports ?? [report()])];
  const deps: WindowDeps = {
    links,
    statuses: {
      list: (id) => {
        polls++;
        const open = links.items.get(id)?.window;
        const following = open && polls > (opts.lagPolls ?? 0);
        statuses.items = [
          part('apply-rows', following ? { followingSince: new Date(now).toISOString(), updatedAt: new Date(now).toISOString() } : { state: 'waiting', pending: 3, updatedAt: new Date(now).toISOString() }),
        ];
        return statuses.list(id);
      },
      purge: (id) => statuses.purge(id),
    },
    compare: (l, repair) => {
      compared.push(repair);
      expect(l.window).toBeDefined();
      return Promise.resolve(reports.shift() ?? report());
    },
    catchUpMs: opts.catchUpMs ?? 60_000,
    pollMs: 1000,
    now: () => new Date(now),
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  };
  return { links, deps, compared, polls: () => polls };
}

describe('runWindow', () => {
  it('opens the window, waits for the slave, compares with repair and closes the window with its times', async () => {
    const w = world({ lagPolls: 3 });
    await w.links.create(link());
    const steps: string[] = [];
    const r = await runWindow(w.deps, link(), (name) => steps.push(name));
    expect(r.differences).toEqual([]);
    expect(w.compared).toEqual([true]);
    expect(steps).toEqual(['apply', 'compare']);
    const stored = w.links.items.get('msk-1.1.spb-1.2');
    expect(stored?.window).toBeUndefined();
    expect(stored?.lastWindow).toEqual({ openedAt: T0.toISOString(), closedAt: new Date(T0.getTime() + 3000).toISOString() });
  });

  it('compares again after a repair until nothing is left to republish, at most three rounds', async () => {
    const diff = { kind: 'different' as const, key: 'dossier:7', detail: 'comment' };
    const w = world({ reports: [report({ differences: [diff], requeued: 1 }), report({ differences: [diff], requeued: 1 }), report({ differences: [diff], requeued: 1 }), report()] });
    await w.links.create(link());
    const r = await runWindow(w.deps, link(), () => undefined);
    expect(w.compared).toEqual([true, true, true]);
    expect(r.differences).toEqual([diff]);
  });

  it('gives up after catchUpMs, says which part is behind, and still closes the window with the error', async () => {
    const w = world({ lagPolls: 1000, catchUpMs: 5000 });
    await w.links.create(link());
    const err = await runWindow(w.deps, link(), () => undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe("the slave site 'spb-1' of sync link 'msk-1.1.spb-1.2' did not catch up within 5.0s of its apply window: apply-rows on db: not following yet");
    const stored = w.links.items.get('msk-1.1.spb-1.2');
    expect(stored?.window).toBeUndefined();
    expect(stored?.lastWindow?.error).toBe((err as Error).message);
    expect(w.compared).toEqual([]);
  });
});

describe('SyncService.run', () => {
  const service = (l: SyncLink) => {
    const links = new MemoryLinks();
    links.items.set(l.id, l);
    return new SyncService({
      links, statuses: new MemoryStatuses(), checks: new MemoryChecks(), compare: () => Promise.resolve(report()), knownSites: () => ['msk-1', 'spb-1'],
      modelsOf: () => Promise.resolve({}), takeSnapshot: () => Promise.reject(new Error('no snapshots here')), now: () => T0,
    });
  };
  it.each([
    [link({ mode: 'continuous' }), ValidationError, "sync link 'msk-1.1.spb-1.2' runs in mode 'continuous': only a nightly link has an apply window to run (it applies continuously; 'sync check --repair' compares and repairs)"],
    [link({ paused: true }), ConflictError, "sync link 'msk-1.1.spb-1.2' is paused; resume it first"],
    [link({ window: { openedAt: '2026-12-02T02:59:00.000Z' } }), ConflictError, "the apply window of sync link 'msk-1.1.spb-1.2' is already open (since 2026-12-02T02:59:00.000Z)"],
  ])('refuses %#', async (l, type, message) => {
    const err = await service(l).run(l.id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toBe(message);
  });
});

describe('the view of a nightly link', () => {
  const fresh = T0.toISOString();
  it('is waiting between windows, with the lag since the last window while the master has changes pending', () => {
    const l = link({ lastWindow: { openedAt: '2026-12-01T03:00:00.000Z', closedAt: '2026-12-01T03:01:00.000Z' } });
    const v = linkView(l, [part('capture', { updatedAt: fresh }), part('apply-rows', { state: 'waiting', pending: 5, updatedAt: fresh })], T0);
    expect(v.state).toBe('waiting');
    expect(v.pending).toBe(5);
    expect(v.lagSeconds).toBe(24 * 3600);
    expect(v.nextRunAt).toBe('2026-12-03T03:00:00.000Z');
    const idle = linkView(l, [part('capture', { updatedAt: fresh }), part('apply-rows', { state: 'waiting', pending: 0, updatedAt: fresh })], T0);
    expect(idle.lagSeconds).toBe(0);
  });

  it('runs while its window is open, and names a failed last window', () => {
    const open = linkView(link({ window: { openedAt: fresh } }), [part('capture'), part('apply-rows')], T0);
    expect(open.state).toBe('running');
    const failed = linkView(link({ lastWindow: { openedAt: '2026-12-02T02:00:00.000Z', closedAt: '2026-12-02T02:30:00.000Z', error: 'did not catch up' } }), [part('capture'), part('apply-rows', { state: 'waiting' })], T0);
    expect(failed.lastError).toBe('the apply window opened at 2026-12-02T02:00:00.000Z failed: did not catch up');
  });

  it('is an error when the master\'s capture has gone silent, window or not', () => {
    const v = linkView(link(), [part('capture', { updatedAt: '2026-12-02T02:00:00.000Z' }), part('apply-rows', { state: 'waiting' })], T0);
    expect(v.state).toBe('error');
  });
});
