import { describe, expect, it } from 'vitest';
import { ConflictError, type FfkError, IllegalStateError, TimeoutError, ValidationError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';
import type { ComponentArtifact, CutPoint } from '../../../shared/manifest.js';
import { FakeAgents, FakeCatalog, FakeRepositories, fakeContext, manifest as sealed, standardSite, TestFleet } from '../restore/fakes.test-support.js';
import type { FreezeOutcome } from '../../../shared/cut.js';
import { SnapshotCoordinator } from './coordinator.js';

/**
 * Agents that speak the cut protocol; `cutFailures` fail that many cuts (on host db) with the error. They
 * cut in their freeze call when asked (and thaw there when asked, but never the db host: it holds the
 * writes), unless `cutsInFreeze` is false (agents of an older version).
 */
class CutAgents extends FakeAgents {
  readonly log: string[] = [];
  cutFailures: Error[] = [];
  cutsInFreeze = true;
  prepareFailure: Error | undefined;
  /** The parents each prepare was given, by host (an agent may open its backup at prepare). */
  readonly prepareParents = new Map<string, { parents?: Record<string, string>; parentsComplete?: boolean }>();
  override async prepare(address: string, req: { cutId: string; parents?: Record<string, string>; parentsComplete?: boolean }): Promise<string[]> {
    this.log.push(`prepare ${address} ${req.cutId}`);
    const { parents, parentsComplete } = req;
    this.prepareParents.set(address.split(':')[0] ?? '', { ...(parents ? { parents } : {}), ...(parentsComplete === undefined ? {} : { parentsComplete }) });
    if (this.prepareFailure) throw this.prepareFailure;
    return [];
  }
  override async freeze(address: string, cutId: string, _o?: unknown, also?: { cut?: boolean; thawIfHoldingNone?: boolean }): Promise<FreezeOutcome> {
    this.log.push(`freeze ${address} ${cutId}`);
    if (!this.cutsInFreeze || !also?.cut) return {};
    const points = await this.cut(address, cutId);
    if (!also.thawIfHoldingNone || address.includes('-db:')) return { points };
    this.log.push(`thawed-in-freeze ${address} ${cutId}`);
    return { points, thawed: { freezeWindowMs: 2 } };
  }
  override async cut(address: string, cutId: string): Promise<CutPoint[]> {
    this.log.push(`cut ${address} ${cutId}`);
    const failure = address.includes('-db:') ? this.cutFailures.shift() : undefined;
    if (failure) throw failure;
    return [];
  }
  override async thaw(address: string, cutId: string): Promise<{ freezeWindowMs: number }> {
    this.log.push(`thaw ${address} ${cutId}`);
    return { freezeWindowMs: 3 };
  }
  override async abort(address: string, cutId: string): Promise<void> {
    this.log.push(`abort ${address} ${cutId}`);
  }
  /** The parents each upload was given, by host. */
  readonly parents = new Map<string, { parents?: Record<string, string>; parentsComplete?: boolean }>();
  override async upload(address: string, req: { cutId: string; parents?: Record<string, string>; parentsComplete?: boolean }): Promise<ComponentArtifact[]> {
    this.log.push(`upload ${address} ${req.cutId}`);
    const { parents, parentsComplete } = req;
    this.parents.set(address.split(':')[0] ?? '', { ...(parents ? { parents } : {}), ...(parentsComplete === undefined ? {} : { parentsComplete }) });
    return [];
  }
}

class Repos extends FakeRepositories {
  readonly stored: string[] = [];
  override open(): Promise<never> {
    const repo = {
      backupStream: async (r: { tags: string[] }) => {
        this.stored.push(r.tags.join(','));
        return { snapshotId: 'm1' };
      },
      listSnapshots: async () => [],
      forget: async () => undefined,
    };
    return Promise.resolve(repo as never);
  }
}

function setup(attempts?: number) {
  const calls: string[] = [];
  const fleet = standardSite(new TestFleet(), 'msk-1');
  const agents = new CutAgents(calls);
  const catalog = new FakeCatalog();
  const coordinator = new SnapshotCoordinator({
    fleet: fleet.inventory,
    agents,
    repositories: new Repos(calls),
    catalog,
    sealer: { sign: () => 'seal', verify: (_b: Buffer, s: string) => s === 'seal' },
    deadlines: { protocolMs: 5000, prepareMs: 60_000, unitControlMs: 120_000, checkMs: 60_000, transferMs: 60_000, agentReturnMs: 2_000 },
    defaultLeaseMs: 5000,
    ...(attempts === undefined ? {} : { freezeAttempts: attempts }),
    retryDelayMs: 1,
    logger: silentLogger(),
  });
  return { agents, catalog, coordinator };
}

const cutsOf = (log: string[], verb: string): Set<string> => new Set(log.filter((l) => l.startsWith(`${verb} `)).map((l) => l.split(' ')[2] ?? ''));

describe('SnapshotCoordinator: a freeze window that could not be held', () => {
  it('aborts the cut (every agent thaws and drops it) and seals a new cut on the next attempt', async () => {
    const { agents, catalog, coordinator } = setup();
    agents.cutFailures = [new IllegalStateError("cut 'c-1' is expired: freeze lease of 5000 ms ran out before thaw")];
    const { ctx, rec } = fakeContext({}, 'j-snap-1');
    const manifest = await coordinator.run(ctx, { site: 'msk-1', reason: 'test' });
    const cuts = [...cutsOf(agents.log, 'prepare')];
    expect(cuts).toHaveLength(2);
    const [failed, sealed] = cuts as [string, string];
    expect(manifest.cutId).toBe(sealed);
    // Where the sealed cut's window went: each fan-out of the controller, in order (the site has a PostgreSQL
    // agent; every agent cut in its freeze call).
    expect(manifest.freezeSteps?.map((x) => x.step)).toEqual(['freeze writers', 'freeze others', 'thaw']);
    for (const x of manifest.freezeSteps ?? []) expect(x.ms).toBeGreaterThanOrEqual(0);
    expect(catalog.manifests.map((m) => m.cutId)).toEqual([sealed]);
    expect(cutsOf(agents.log, 'abort')).toEqual(new Set([failed]));
    expect(cutsOf(agents.log, 'thaw')).toEqual(new Set([failed, sealed]));
    expect(cutsOf(agents.log, 'upload')).toEqual(new Set([sealed]));
    expect(ctx.detail.snapshotId).toBe(sealed);
    expect(rec.messages.join('\n')).toContain(`cut ${failed} could not hold its freeze window (attempt 1 of 3); every agent thawed`);
    expect(rec.messages.join('\n')).toMatch(new RegExp(`cut ${sealed}: .*\\(attempt 2 of 3\\)`));
  });

  it('gives up after freezeAttempts, failing with the last cause', async () => {
    const { agents, catalog, coordinator } = setup(2);
    agents.cutFailures = [new TimeoutError('PAUSE did not return within 500 ms'), new TimeoutError('PAUSE did not return within 500 ms (2)')];
    const { ctx } = fakeContext({}, 'j-snap-2');
    const err = await coordinator.run(ctx, { site: 'msk-1', reason: 'test' }).catch((e: unknown) => e);
    expect((err as FfkError).code).toBe('TIMEOUT');
    expect((err as Error).message).toBe('freeze failed on msk-1/db: PAUSE did not return within 500 ms (2)');
    expect(cutsOf(agents.log, 'prepare').size).toBe(2);
    expect(catalog.manifests).toEqual([]);
  });

  it('does not retry what a new cut would not fix: a prepare failure or a conflict', async () => {
    for (const [failure, where] of [
      [new ValidationError('psql is not on PATH'), 'prepare'],
      [new ConflictError("cut 'c-0' is still frozen on this agent"), 'cut'],
    ] as const) {
      const { agents, coordinator } = setup();
      if (where === 'prepare') agents.prepareFailure = failure;
      else agents.cutFailures = [failure];
      const { ctx } = fakeContext({}, 'j-snap-3');
      const err = await coordinator.run(ctx, { site: 'msk-1', reason: 'test' }).catch((e: unknown) => e);
      expect((err as FfkError).code, where).toBe(failure.code);
      expect(cutsOf(agents.log, 'prepare').size, where).toBe(1);
    }
  });
});

describe('SnapshotCoordinator: the round trips inside the freeze window', () => {
  it('cuts in the freeze calls; agents holding no writes end their freeze there, the writers stay frozen until every other agent has cut', async () => {
    const { agents, coordinator } = setup();
    const manifest = await coordinator.run(fakeContext({}, 'j-snap-7').ctx, { site: 'msk-1', reason: 'test' });
    const window = agents.log.filter((l) => !l.startsWith('prepare ') && !l.startsWith('upload ')).map((l) => l.split(' ').slice(0, 2).join(' ').replace(/:\d+$/, ''));
    const others = ['msk-1-t1', 'msk-1-t2', 'msk-1-up'];
    expect(window.slice(0, 2)).toEqual(['freeze msk-1-db', 'cut msk-1-db']);
    expect(new Set(window.slice(2, -1))).toEqual(new Set(others.flatMap((h) => [`freeze ${h}`, `cut ${h}`, `thawed-in-freeze ${h}`])));
    expect(window.at(-1)).toBe('thaw msk-1-db');
    expect(manifest.freezeSteps?.map((x) => x.step)).toEqual(['freeze writers', 'freeze others', 'thaw']);
    // Each agent's window: the early thaws' from their freeze answers, the writers' from its thaw.
    expect(manifest.agents?.map((a) => [a.host, a.freezeWindowMs]).sort()).toEqual([['db', 3], ['t1', 2], ['t2', 2], ['up', 2]]);
  });

  it('asks agents that did not cut in their freeze call (an older version) to cut, then thaws every agent', async () => {
    const { agents, coordinator } = setup();
    agents.cutsInFreeze = false;
    const manifest = await coordinator.run(fakeContext({}, 'j-snap-8').ctx, { site: 'msk-1', reason: 'test' });
    expect(manifest.freezeSteps?.map((x) => x.step)).toEqual(['freeze writers', 'freeze others', 'cut', 'thaw']);
    expect(agents.log.filter((l) => l.startsWith('thaw ')).length).toBe(4);
    expect(agents.log.filter((l) => l.startsWith('cut ')).length).toBe(4);
  });
});

describe('SnapshotCoordinator: parents of incremental backups', () => {
  it("gives each agent its components' snapshots in the newest sealed cut that holds them, from the catalog", async () => {
    const { agents, catalog, coordinator } = setup();
    const older = sealed('msk-1', 'c-0100', '2026-01-01T01:00:00Z');
    const newer = sealed('msk-1', 'c-0200', '2026-01-01T02:00:00Z', { components: ['uploads:uploads@up', 'postgres:main@db'] });
    for (const m of [older, newer]) for (const c of m.components) c.snapshotIds = [`${m.cutId}-${c.component}`];
    await catalog.put(newer); // the catalog's order is not relied on
    await catalog.put(older);
    const { ctx } = fakeContext({}, 'j-snap-4');
    await coordinator.run(ctx, { site: 'msk-1', reason: 'test' });
    expect(Object.fromEntries(agents.parents)).toEqual({
      'msk-1-db': { parents: { 'postgres:main': 'c-0200-postgres:main' }, parentsComplete: true },
      'msk-1-up': { parents: { 'uploads:uploads': 'c-0200-uploads:uploads' }, parentsComplete: true },
      'msk-1-t1': { parents: { 'tarantool:shard-1': 'c-0100-tarantool:shard-1' }, parentsComplete: true },
      'msk-1-t2': { parents: { 'tarantool:shard-2': 'c-0100-tarantool:shard-2' }, parentsComplete: true },
    });
    expect(agents.prepareParents).toEqual(agents.parents); // the prepare said what the upload would
  });

  it('says no component has a parent on a site without sealed cuts, and nothing when the catalog cannot be read', async () => {
    const first = setup();
    await first.coordinator.run(fakeContext({}, 'j-snap-5').ctx, { site: 'msk-1', reason: 'test' });
    expect(first.agents.parents.get('msk-1-up')).toEqual({ parents: {}, parentsComplete: true });
    const broken = setup();
    broken.catalog.list = () => Promise.reject(new Error('KV unavailable'));
    await broken.coordinator.run(fakeContext({}, 'j-snap-6').ctx, { site: 'msk-1', reason: 'test' });
    expect(broken.agents.parents.get('msk-1-up')).toEqual({});
    expect(broken.agents.prepareParents.get('msk-1-up')).toEqual({});
  });
});
