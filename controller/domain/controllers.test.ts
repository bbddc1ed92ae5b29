import { describe, expect, it } from 'vitest';
import type { JobEvent } from '../../shared/jobs.js';
import { silentLogger } from '../../shared/logger.js';
import { ControllerPeers, type ControllerEntry, type ControllerRoster } from './controllers.js';
import { JobRunner } from './jobs.js';
import { MemoryLeaseStore, SiteLeases } from './leases.js';
import type { EventLog } from './ports.js';
import { MemoryJobs } from './jobs.test-support.js';

class MemoryRoster implements ControllerRoster {
  readonly entries = new Map<string, { entry: ControllerEntry; revision: number }>();
  private rev = 0;
  put(entry: ControllerEntry): Promise<void> {
    this.entries.set(entry.id, { entry, revision: ++this.rev });
    return Promise.resolve();
  }
  list(): Promise<{ entry: ControllerEntry; revision: number }[]> {
    return Promise.resolve([...this.entries.values()]);
  }
  remove(id: string, revision: number): Promise<void> {
    if (this.entries.get(id)?.revision === revision) this.entries.delete(id);
    return Promise.resolve();
  }
}

const events: EventLog = { publish: (_e: JobEvent) => Promise.resolve(), history: () => Promise.resolve([]) };
const TTL = 30_000;

/** A controller process on the shared stores, on the test's clock. */
function controller(id: string, shared: { roster: MemoryRoster; jobs: MemoryJobs; leases: MemoryLeaseStore; clock: { t: number } }) {
  const now = () => new Date(shared.clock.t);
  const self = { id, instance: `${id}-${Math.random().toString(36).slice(2, 8)}` };
  const jobs = new JobRunner({ store: shared.jobs, events, logger: silentLogger(), runBy: self, now });
  const leases = new SiteLeases({ store: shared.leases, owner: id, instance: self.instance, ttlMs: TTL, logger: silentLogger(), now });
  const peers = new ControllerPeers({ roster: shared.roster, self, ttlMs: TTL, jobs, leases, logger: silentLogger(), now });
  return { self, jobs, leases, peers };
}

/** A job that holds the site's lease and runs until the test ends it (never, for a controller that "dies"). */
async function holdingJob(c: ReturnType<typeof controller>, site: string): Promise<string> {
  let release: (() => Promise<void>) | undefined;
  const job = await c.jobs.start('snapshot', site, () => new Promise<void>(() => undefined), {}, {
    acquire: async (jobId) => {
      const lease = await c.leases.acquire(site, 'snapshot', jobId, { wait: false });
      release = () => lease.release();
      return release;
    },
  });
  return job.id;
}

/** controller-a and controller-b, started, on shared stores and one clock. */
async function twoControllers() {
  const shared = { roster: new MemoryRoster(), jobs: new MemoryJobs(), leases: new MemoryLeaseStore(), clock: { t: Date.parse('2026-12-04T10:00:00Z') } };
  const a = controller('controller-a', shared);
  const b = controller('controller-b', shared);
  await a.peers.start();
  await b.peers.start();
  return { shared, a, b };
}

describe('controllers of one fleet', () => {
  it("marks the jobs of a controller that stopped renewing as failed and releases its leases, within the lease TTL; a live one's are left alone", async () => {
    const { shared, a, b } = await twoControllers();
    const jobA = await holdingJob(a, 'msk-1');
    const jobB = await holdingJob(b, 'spb-1');
    expect(shared.jobs.items.get(jobA)).toMatchObject({ controller: 'controller-a', instance: a.self.instance, phase: 'InProgress' });
    expect((await shared.leases.current('msk-1', new Date(shared.clock.t)))?.instance).toBe(a.self.instance);

    // Both renew: nothing is taken over.
    shared.clock.t += b.peers.beatMs;
    await a.peers.tick();
    expect(await b.peers.tick()).toBeUndefined();

    // a stops renewing (killed); b ticks on. At most half the TTL plus a beat later, a's job and lease are let go.
    const died = shared.clock.t;
    let found;
    while (!found) {
      shared.clock.t += b.peers.beatMs;
      found = await b.peers.tick();
    }
    expect(shared.clock.t - died).toBeLessThan(TTL);
    expect(found.jobs.map((j) => j.id)).toEqual([jobA]);
    expect(found.leases.map((l) => l.site)).toEqual(['msk-1']);
    const failed = shared.jobs.items.get(jobA);
    expect(failed?.phase).toBe('Failed');
    expect(failed?.error?.message).toMatch(/^controller controller-a stopped while this job ran \(last seen .*\); marked failed by controller-b$/);
    expect(await shared.leases.current('msk-1', new Date(shared.clock.t))).toBeUndefined();
    // b's own job and lease: untouched; a's roster entry gone, so the next tick finds nothing.
    expect(shared.jobs.items.get(jobB)?.phase).toBe('InProgress');
    expect((await shared.leases.current('spb-1', new Date(shared.clock.t)))?.owner).toBe('controller-b');
    expect([...shared.roster.entries.keys()]).toEqual(['controller-b']);
    expect(await b.peers.tick()).toBeUndefined();
    await b.peers.stop();
    expect(shared.roster.entries.size).toBe(0);
  });

  it('a controller that was cut off itself gives the others a round to renew before taking anything over', async () => {
    const { shared, a, b } = await twoControllers();
    const jobA = await holdingJob(a, 'msk-1');
    // NATS away for a whole TTL: neither could renew. b comes back first and must not take a's job.
    shared.clock.t += TTL;
    expect(await b.peers.tick()).toBeUndefined();
    await a.peers.tick();
    shared.clock.t += b.peers.beatMs;
    expect(await b.peers.tick()).toBeUndefined();
    expect(shared.jobs.items.get(jobA)?.phase).toBe('InProgress');
  });

  it("a restarted controller takes its own earlier run's jobs and leases back at once, and leaves another live controller's", async () => {
    const { shared, a: first, b: other } = await twoControllers();
    const mine = await holdingJob(first, 'msk-1');
    const theirs = await holdingJob(other, 'spb-1');
    // Written before jobs named their controller: counts as gone.
    await shared.jobs.put({ id: 'j-old', kind: 'snapshot', site: 'nsk-1', phase: 'InProgress', createdAt: new Date(0), updatedAt: new Date(0), step: 'freeze', detail: {} });

    shared.clock.t += 1000; // the restart comes before the earlier run's entry ran out
    const again = controller('controller-a', shared);
    const found = await again.peers.start();
    expect(found.jobs.map((j) => j.id).sort()).toEqual(['j-old', mine].sort());
    expect(shared.jobs.items.get(mine)?.error?.message).toBe('the controller stopped while this job ran (controller-a was restarted)');
    expect(found.leases.map((l) => l.site)).toEqual(['msk-1']);
    expect(shared.jobs.items.get(theirs)?.phase).toBe('InProgress');
    expect(await again.leases.acquire('msk-1', 'snapshot', 'j-next', { wait: false })).toBeDefined();
    await expect(again.leases.acquire('spb-1', 'snapshot', 'j-next', { wait: false })).rejects.toThrow(/controller-b holds site 'spb-1'/);
  });
});
