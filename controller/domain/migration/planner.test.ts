import { describe, expect, it } from 'vitest';
import type { AgentEntry } from '../../../shared/fleet.js';
import type { MigrationRequest, MigrationResult } from '../../../shared/migration/survey.js';
import type { CatalogStore, VerificationStore } from '../ports.js';
import { facts, shard } from './fixtures.test-support.js';
import { MigrationPlanner } from './planner.js';

const agents = [
  { status: 'online', description: { host: 'tnt', grpcAddress: 'tnt:1', roles: [], components: [{ kind: 'tarantool', name: 'shard-001' }, { kind: 'tarantool', name: 'shard-002' }] } },
  { status: 'online', description: { host: 'db', grpcAddress: 'db:1', roles: [], components: [] } },
] as unknown as AgentEntry[];

const none = { list: () => Promise.resolve([]), get: () => Promise.resolve(undefined) } as unknown as CatalogStore & VerificationStore;

/** The site's agents; the new shards of `taken` offsets have files there already (a migration rolled back). */
function planner(taken: number[]) {
  const asked: number[] = [];
  const client = {
    migration(address: string, req: MigrationRequest): Promise<MigrationResult> {
      if (req.op === 'sample') return Promise.resolve({ op: 'sample', sample: { host: 'tnt', faces: 8, extracted: 8, failed: 0, ms: 10, model: 'face/mango_512.cpu.fnk' } });
      if (req.op !== 'survey') return Promise.reject(new Error(`unexpected ${req.op}`));
      const base = facts().surveys.find((v) => v.host === address.split(':')[0]);
      if (!base) return Promise.reject(new Error(address));
      if (base.host === 'tnt') asked.push(req.portOffset);
      const shards = base.shards.map((s, i) => {
        const n = i + 1;
        const name = `shard-${String(n + req.portOffset).padStart(3, '0')}`;
        const target = { ...shard(n).target!, name, existing: taken.includes(req.portOffset) ? [`/etc/tarantool/instances.available/${name}.lua`] : [], listen: { port: 32000 + n + req.portOffset, free: true }, http: { port: 8100 + n + req.portOffset, free: true } };
        return { ...s, target };
      });
      return Promise.resolve({ op: 'survey', survey: { ...base, shards } });
    },
  };
  const p = new MigrationPlanner({ agentsOf: () => agents, client, catalog: none, verifications: none, deadlines: { checkMs: 1000 } });
  return { p, asked };
}

describe('migrate plan: the port offset', () => {
  it('is 10 by default; when those new shards are there (a migration rolled back), the next multiple whose are not', async () => {
    const fresh = planner([]);
    expect((await fresh.p.plan({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' })).portOffset).toBe(10);
    const after = planner([10, 20]);
    const plan = await after.p.plan({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' });
    expect(after.asked).toEqual([10, 20, 30]);
    expect(plan.portOffset).toBe(30);
    expect(plan.shards.map((s) => s.to.name).sort()).toEqual(['shard-031', 'shard-032']);
    expect(plan.checks.find((c) => c.name === 'new shards')?.ok).toBe(true);
  });

  it('an offset asked for is kept, and its clash reported', async () => {
    const { p, asked } = planner([10]);
    const plan = await p.plan({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk', portOffset: 10 });
    expect(asked).toEqual([10]);
    expect(plan.checks.find((c) => c.name === 'new shards')).toMatchObject({ ok: false, detail: expect.stringContaining('already exist') });
  });
});
