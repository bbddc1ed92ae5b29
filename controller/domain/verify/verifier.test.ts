/**
 * The verifier against in-memory fakes of its ports (the restore tests' fleet, catalog and agents, plus a
 * repository whose check result is set per test and an in-memory verification store): the order of what
 * it does, what it stores, and the error — naming the snapshot — each kind of failure ends with.
 */
import { describe, expect, it } from 'vitest';
import { FfkError, UnavailableError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';
import type { CheckResult, Repository, SnapshotInfo } from '../../../shared/repository/repository.js';
import type { Verification } from '../../../shared/verification.js';
import type { RepositoryAccess, SiteRepositories, VerificationStore } from '../ports.js';
import { FakeAgents, FakeCatalog, TestFleet, addressOf, fakeContext, manifest, pg, shard, standardSite, uploads } from '../restore/fakes.test-support.js';
import { Verifier } from './verifier.js';

class MemoryVerifications implements VerificationStore {
  readonly stored: Verification[] = [];
  async put(v: Verification): Promise<void> {
    this.stored.push(v);
  }
  async get(site: string, cutId: string): Promise<Verification | undefined> {
    return this.stored.filter((v) => v.site === site && v.snapshotId === cutId).at(-1);
  }
  async list(site: string): Promise<Verification[]> {
    return this.stored.filter((v) => v.site === site);
  }
}

/** A repository whose check answers `result`; `find --pack` maps packs to the repository snapshots given. */
class FakeRepositories implements SiteRepositories {
  result: CheckResult = { ok: true, problems: [] };
  checks: { readData?: boolean }[] = [];
  usingPacks: string[] = [];
  snapshots: SnapshotInfo[] = [];

  constructor(private readonly calls: string[]) {}

  async access(site: string): Promise<RepositoryAccess> {
    return { url: `/srv/repos/${site}`, password: 'pw', env: {} };
  }
  async open(site: string): Promise<Repository> {
    const repo: Partial<Repository> = {
      displayUrl: `/srv/repos/${site}`,
      check: async (req = {}) => {
        this.calls.push(`repository check ${site}${req.readData ? ' --read-data' : ''}`);
        this.checks.push(req);
        return this.result;
      },
      snapshotsUsingPacks: async () => this.usingPacks,
      listSnapshots: async () => this.snapshots,
    };
    return repo as Repository;
  }
  credentialSets(): Promise<never> {
    throw new Error('not used by verification');
  }
  secondary(): Promise<undefined> {
    return Promise.resolve(undefined);
  }
}

function world(...manifests: ReturnType<typeof manifest>[]) {
  return worldOn(standardSite(new TestFleet(), 'msk-1'), ...manifests);
}

function worldOn(fleet: TestFleet, ...manifests: ReturnType<typeof manifest>[]) {
  const calls: string[] = [];
  const agents = new FakeAgents(calls);
  const repositories = new FakeRepositories(calls);
  const verifications = new MemoryVerifications();
  agents.reports.set(addressOf('msk-1', 'db'), { configured: true, ok: true, errors: 0, warnings: 2, summary: 'consistent: 0 error(s), 2 warning(s)' });
  const verifier = new Verifier({
    catalog: new FakeCatalog(...manifests),
    fleet: fleet.inventory,
    agents,
    repositories,
    verifications,
    secondaryManifests: () => Promise.resolve([]),
    deadlines: { protocolMs: 1000, prepareMs: 5000, unitControlMs: 5000, checkMs: 5000, transferMs: 5000, agentReturnMs: 5000 },
    logger: silentLogger(),
  });
  return { calls, fleet, agents, repositories, verifications, verifier };
}

const OLD = manifest('msk-1', 'c-old', '2026-01-01T00:00:00Z');
const NEW = manifest('msk-1', 'c-new', '2026-01-02T00:00:00Z');
const addr = (host: string): string => addressOf('msk-1', host);

describe('Verifier', () => {
  it('checks the repository, drills every host into sandboxes, checks them, drops every sandbox and stores the result', async () => {
    const w = world(NEW, OLD);
    const { ctx } = fakeContext({}, 'j-verify-1');
    const v = await w.verifier.run(ctx, { site: 'msk-1', readData: true });
    expect(v.snapshotId).toBe('c-new');
    expect(v.ok).toBe(true);
    expect(w.calls[0]).toBe('repository check msk-1 --read-data');
    expect(w.calls.slice(1, 5).sort()).toEqual([`sandbox ${addr('db')} postgres:main`, `sandbox ${addr('t1')} tarantool:shard-1`, `sandbox ${addr('t2')} tarantool:shard-2`, `sandbox ${addr('up')} uploads:uploads`]);
    expect(w.calls[5]).toBe(`check ${addr('db')}`);
    expect(w.calls.slice(6).sort()).toEqual(['db', 't1', 't2', 'up'].map((h) => `drop ${addr(h)} j-verify-1`));
    const [checked] = w.agents.checkedSandboxes;
    expect(checked?.sandboxId).toBe('j-verify-1');
    expect(checked?.components.map((c) => `${c.component}@${c.agentHost}`).sort()).toEqual(['postgres:main@db', 'tarantool:shard-1@t1', 'tarantool:shard-2@t2', 'uploads:uploads@up']);
    expect(v.steps.map((s) => `${s.name} ${s.ok ? 'ok' : 'FAILED'}`)).toEqual([
      'repository-check ok',
      ...v.steps.slice(1, 5).map((s) => `${s.name} ok`),
      'integrity-check ok',
      'drop-sandbox ok',
    ]);
    expect(v.integrity).toEqual({ errors: 0, warnings: 2, summary: 'consistent: 0 error(s), 2 warning(s)', host: 'db' });
    expect(w.verifications.stored).toEqual([v]);
    expect(ctx.detail.verification).toBe(v);
  });

  it('verifies the snapshot asked for; an unknown one is NOT_FOUND before anything runs', async () => {
    const w = world(NEW, OLD);
    const v = await w.verifier.run(fakeContext().ctx, { site: 'msk-1', snapshotId: 'c-old', readData: false });
    expect(v.snapshotId).toBe('c-old');
    expect(w.repositories.checks).toEqual([{ readData: false }]);
    await expect(w.verifier.run(fakeContext().ctx, { site: 'msk-1', snapshotId: 'c-nope', readData: false })).rejects.toThrow("snapshot 'c-nope' not found for site 'msk-1'");
    await expect(world().verifier.select({ site: 'msk-1', readData: false })).rejects.toThrow("site 'msk-1' has no sealed snapshot to verify");
  });

  it('a failed repository check fails the verification naming the snapshot and the snapshots using the damaged pack; no drill runs', async () => {
    const w = world(NEW, OLD);
    const pack = 'ab'.repeat(32);
    w.repositories.result = { ok: false, problems: [`Pack ID does not match, want ${pack}, got ${'cd'.repeat(32)}`], damagedPacks: [pack] };
    w.repositories.usingPacks = ['r1', 'r2'];
    const snap = (id: string, cut: string): SnapshotInfo => ({ id, shortId: id, time: new Date(), host: 'h', tags: ['ffk-site=msk-1', `ffk-cut=${cut}`, 'ffk-component=postgres:main'], paths: [] });
    w.repositories.snapshots = [snap('r1', 'c-new'), snap('r2', 'c-old'), snap('r3', 'c-other')];
    const err = await w.verifier.run(fakeContext().ctx, { site: 'msk-1', readData: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfkError);
    expect((err as FfkError).code).toBe('ILLEGAL_STATE');
    expect((err as Error).message).toContain("snapshot 'c-new' of site 'msk-1': repository check failed: Pack ID does not match");
    expect((err as Error).message).toContain(`damaged pack(s) ${pack.slice(0, 12)} hold data of snapshot(s) c-new, c-old: this snapshot is damaged`);
    expect(w.calls).toEqual(['repository check msk-1 --read-data']);
    const [stored] = w.verifications.stored;
    expect(stored?.ok).toBe(false);
    expect(stored?.readData).toBe(true);
    expect(stored?.steps.map((s) => s.name)).toEqual(['repository-check']);
  });

  it('a failed drill names the component and host, still drops every sandbox, and records the components that did restore', async () => {
    const w = world(NEW);
    w.agents.sandboxFailures.set('tarantool:shard-2', new FfkError('INTERNAL', 'checkpoint 10 did not recover'));
    const err = await w.verifier.run(fakeContext({}, 'j-v2').ctx, { site: 'msk-1', readData: false }).catch((e: unknown) => e);
    expect((err as FfkError).code).toBe('ILLEGAL_STATE');
    expect((err as Error).message).toContain("snapshot 'c-new' of site 'msk-1': restore drill failed: tarantool:shard-2 on host 't2': checkpoint 10 did not recover");
    expect(w.calls.filter((c) => c.startsWith('check'))).toEqual([]);
    expect(w.calls.filter((c) => c.startsWith('drop')).sort()).toEqual(['db', 't1', 't2', 'up'].map((h) => `drop ${addr(h)} j-v2`));
    const steps = w.verifications.stored[0]?.steps ?? [];
    expect(steps.find((s) => s.name === 'drill tarantool:shard-2')).toMatchObject({ ok: false, host: 't2' });
    expect(steps.find((s) => s.name === 'drill tarantool:shard-1')).toMatchObject({ ok: true, host: 't1' });
  });

  it('integrity errors in the sandbox fail the verification (ILLEGAL_STATE) with the checker\'s counts', async () => {
    const w = world(NEW);
    w.agents.reports.set(addr('db'), { configured: true, ok: false, errors: 3, warnings: 0, summary: 'INCONSISTENT: 3 error(s), 0 warning(s)' });
    const err = await w.verifier.run(fakeContext().ctx, { site: 'msk-1', readData: false }).catch((e: unknown) => e);
    expect((err as FfkError).code).toBe('ILLEGAL_STATE');
    expect((err as Error).message).toContain("snapshot 'c-new' of site 'msk-1': the integrity check of its sandbox (host 'db') found 3 error(s)");
    expect(w.verifications.stored[0]?.integrity?.errors).toBe(3);
    expect(w.calls.filter((c) => c.startsWith('drop'))).toHaveLength(4);
  });

  it('an offline agent makes the verification UNAVAILABLE (not a finding about the snapshot); online hosts are still cleaned up', async () => {
    const fleet = new TestFleet()
      .add('msk-1', 'db', [pg()])
      .add('msk-1', 't1', [shard('shard-1')])
      .add('msk-1', 't2', [shard('shard-2')], { offline: true })
      .add('msk-1', 'up', [uploads()]);
    const w = worldOn(fleet, NEW);
    const err = await w.verifier.run(fakeContext({}, 'j-v3').ctx, { site: 'msk-1', readData: false }).catch((e: unknown) => e);
    expect((err as FfkError).code).toBe('UNAVAILABLE');
    expect((err as Error).message).toContain("the agent on host 't2' of site 'msk-1' is offline");
    expect(w.calls.filter((c) => c.startsWith('drop')).sort()).toEqual(['db', 't1', 'up'].map((h) => `drop ${addr(h)} j-v3`));
  });

  it('a sandbox that cannot be dropped is a failed step, not a failed verification', async () => {
    const w = world(NEW);
    w.agents.dropFailures.set(addr('up'), new UnavailableError('agent went away'));
    const { ctx, rec } = fakeContext();
    const v = await w.verifier.run(ctx, { site: 'msk-1', readData: false });
    expect(v.ok).toBe(true);
    expect(v.steps.at(-1)).toMatchObject({ name: 'drop-sandbox', ok: false });
    expect(v.steps.at(-1)?.detail).toContain("NOT dropped on host 'up': agent went away (the agent drops it at its next start)");
    expect(rec.messages.some((m) => m.startsWith('warning: sandbox'))).toBe(true);
  });
});
