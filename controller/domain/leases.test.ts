import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { MemoryLeaseStore, SiteLeases } from './leases.js';

const logger = silentLogger();

describe('site leases', () => {
  it('one holder at a time: a second request is refused naming the holder, then succeeds after release', async () => {
    const leases = new SiteLeases({ store: new MemoryLeaseStore(), owner: 'ctl-1', ttlMs: 30_000, logger });
    const first = await leases.acquire('msk-1', 'snapshot', 'j-1', { wait: false });
    await expect(leases.acquire('msk-1', 'prune', 'j-2', { wait: false })).rejects.toThrow(/cannot start prune of site 'msk-1': snapshot job j-1 on ctl-1 holds site 'msk-1'/);
    const other = await leases.acquire('spb-1', 'prune', 'j-3', { wait: false }); // other sites are free
    await first.release();
    await first.release(); // idempotent
    const second = await leases.acquire('msk-1', 'prune', 'j-2', { wait: false });
    expect(second.state.jobId).toBe('j-2');
    await second.release();
    await other.release();
  });

  it('a waiting request gets the lease when the holder releases it', async () => {
    const leases = new SiteLeases({ store: new MemoryLeaseStore(), owner: 'ctl-1', ttlMs: 30_000, logger, pollMs: 20 });
    const first = await leases.acquire('msk-1', 'snapshot', 'j-1', { wait: false });
    setTimeout(() => void first.release(), 100);
    const second = await leases.acquire('msk-1', 'snapshot', 'j-2', { wait: true, timeoutMs: 5000 });
    expect(second.state.jobId).toBe('j-2');
    await second.release();
    const third = await leases.acquire('msk-1', 'snapshot', 'j-3', { wait: false });
    await expect(leases.acquire('msk-1', 'snapshot', 'j-4', { wait: true, timeoutMs: 100 })).rejects.toThrow(/after waiting 0 s: snapshot job j-3/);
    await third.release();
  });

  it('a job resumed after its controller died takes its own lease back at once; another job is still refused', async () => {
    const store = new MemoryLeaseStore();
    await store.tryAcquire('msk-1', { purpose: 'restore', jobId: 'j-7', owner: 'ctl-dead' }, 30_000, new Date());
    const leases = new SiteLeases({ store, owner: 'ctl-1', ttlMs: 30_000, logger });
    await expect(leases.acquire('msk-1', 'restore', 'j-8', { wait: false })).rejects.toThrow(/restore job j-7 on ctl-dead/);
    await expect(leases.acquire('msk-1', 'snapshot', 'j-7', { wait: false })).rejects.toThrow(/restore job j-7 on ctl-dead/);
    const resumed = await leases.acquire('msk-1', 'restore', 'j-7', { wait: false });
    expect(resumed.state).toMatchObject({ jobId: 'j-7', owner: 'ctl-1' });
    await resumed.release();
  });

  it("a crashed holder's lease expires; a live holder's is renewed and does not", async () => {
    const store = new MemoryLeaseStore();
    let now = new Date('2026-11-21T10:00:00Z');
    const clock = () => now;
    // "Crashed": acquired straight from the store, never renewed.
    await store.tryAcquire('msk-1', { purpose: 'prune', jobId: 'j-dead', owner: 'ctl-0' }, 1000, now);
    const leases = new SiteLeases({ store, owner: 'ctl-1', ttlMs: 1000, logger, now: clock });
    await expect(leases.acquire('msk-1', 'snapshot', 'j-1', { wait: false })).rejects.toThrow(/j-dead/);
    now = new Date(now.getTime() + 1001);
    const live = await leases.acquire('msk-1', 'snapshot', 'j-1', { wait: false });
    // The holder renews every ttl/3 of real time; advance the fake clock less than a TTL per renewal, and
    // wait for the renewal each time (however late a loaded machine runs the timer).
    for (let i = 0; i < 3; i++) {
      now = new Date(now.getTime() + 600);
      const renewedPast = now.getTime() + 500;
      for (let waited = 0; ((await store.current('msk-1', now))?.expiresAt.getTime() ?? 0) < renewedPast; waited += 10) {
        if (waited > 30_000) throw new Error('the live holder did not renew its lease within 30 s');
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    await expect(leases.acquire('msk-1', 'prune', 'j-2', { wait: false })).rejects.toThrow(/snapshot job j-1/);
    await live.release();
    expect(await leases.current('msk-1')).toBeUndefined();
  });
});
