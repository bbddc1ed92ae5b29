/**
 * Site leases and schedules in a real JetStream KV (own nats-server): compare-and-set ownership, a dead
 * holder's lease expiring, two stores (two controllers) racing for one lease or one schedule occurrence.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLeasesBucket } from '../../shared/transport/kv.js';
import { connectNats, type NatsConnection } from '../../shared/transport/nats.js';
import { silentLogger } from '../../shared/logger.js';
import { SiteLeases } from '../../controller/domain/leases.js';
import { ScheduleService } from '../../controller/domain/schedules.js';
import { KvLeaseStore, KvRetentionStore, KvScheduleStore } from '../../controller/transport/nats-policies.js';
import { startNats, type TestNats } from '../harness/nats.js';

describe('leases, schedules and retention in JetStream KV', () => {
  let nats: TestNats;
  const conns: NatsConnection[] = [];
  const connect = async () => {
    const nc = await connectNats({ config: nats.controller(), name: 'test' });
    conns.push(nc);
    return nc;
  };

  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    for (const nc of conns) await nc.close();
    await nats?.stop();
  });

  it('two controllers race for a lease: exactly one wins; the loser is told who holds it', async () => {
    const [a, b] = [await KvLeaseStore.open(await connect()), await KvLeaseStore.open(await connect())];
    const now = new Date();
    const results = await Promise.all([
      a.tryAcquire('msk-1', { purpose: 'snapshot', jobId: 'j-a', owner: 'ctl-a' }, 30_000, now),
      b.tryAcquire('msk-1', { purpose: 'prune', jobId: 'j-b', owner: 'ctl-b' }, 30_000, now),
    ]);
    const won = results.filter((r) => 'lease' in r);
    const lost = results.filter((r) => 'heldBy' in r);
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(1);
    const winner = won[0] as { lease: { state: { jobId: string }; token: number } };
    expect((lost[0] as { heldBy: { jobId: string } }).heldBy.jobId).toBe(winner.lease.state.jobId);
    await (winner.lease.state.jobId === 'j-a' ? a : b).release(winner.lease as never);
    expect(await a.current('msk-1', new Date())).toBeUndefined();
  });

  it("a dead holder's lease expires and can be taken; the dead holder can neither renew nor release it then", async () => {
    const store = await KvLeaseStore.open(await connect());
    const t0 = new Date();
    const dead = await store.tryAcquire('spb-1', { purpose: 'prune', jobId: 'j-dead', owner: 'ctl-0' }, 500, t0);
    if (!('lease' in dead)) throw new Error('expected the lease');
    const leases = new SiteLeases({ store, owner: 'ctl-1', ttlMs: 30_000, logger: silentLogger(), pollMs: 100 });
    await expect(leases.acquire('spb-1', 'snapshot', 'j-1', { wait: false })).rejects.toThrow(/prune job j-dead on ctl-0 holds site 'spb-1'/);
    const live = await leases.acquire('spb-1', 'snapshot', 'j-1', { wait: true, timeoutMs: 5000 }); // waits out the 500 ms
    await expect(store.renew(dead.lease, 500, new Date())).rejects.toThrow(/was lost/);
    await store.release(dead.lease); // not ours any more: left alone
    expect((await store.current('spb-1', new Date()))?.jobId).toBe('j-1');
    await live.release();
    expect(await store.current('spb-1', new Date())).toBeUndefined();
  });

  it('a renewal whose reply was lost (applied all the same) leaves the holder able to renew and release its lease', async () => {
    const nc = await connect();
    const store = await KvLeaseStore.open(nc);
    const got = await store.tryAcquire('nsk-1', { purpose: 'snapshot', jobId: 'j-r', owner: 'ctl-1', instance: 'i1' }, 30_000, new Date());
    if (!('lease' in got)) throw new Error('expected the lease');
    // The renewal as the store writes it, but its new revision never reaches the holder (a timeout).
    const kv = await openLeasesBucket(nc);
    await kv.update('nsk-1', JSON.stringify({ ...got.lease.state, expiresAt: new Date(Date.now() + 30_000) }), got.lease.token);
    const renewed = await store.renew(got.lease, 30_000, new Date()); // with the stale revision: still ours
    await kv.update('nsk-1', JSON.stringify({ ...renewed.state, expiresAt: new Date(Date.now() + 30_000) }), renewed.token);
    await store.release(renewed); // stale again: released all the same
    expect(await store.current('nsk-1', new Date())).toBeUndefined();
    // Someone else's lease at that key is never taken for ours.
    const other = await store.tryAcquire('nsk-1', { purpose: 'snapshot', jobId: 'j-other', owner: 'ctl-2', instance: 'i2' }, 30_000, new Date());
    expect('lease' in other).toBe(true);
    await store.release(got.lease);
    await expect(store.renew(got.lease, 30_000, new Date())).rejects.toThrow(/was lost/);
    expect((await store.current('nsk-1', new Date()))?.jobId).toBe('j-other');
  });

  it('schedules and retention policies round-trip; an occurrence is claimed once', async () => {
    const store = await KvScheduleStore.open(await connect());
    const service = new ScheduleService(store);
    const set = await service.set({ site: 'msk-1', kind: 'snapshot', cron: '*/5 * * * *', timezone: 'Europe/Moscow' });
    expect(set.nextRunAt).toBeInstanceOf(Date);
    const stored = await store.get('msk-1', 'snapshot');
    expect(stored?.schedule).toMatchObject({ site: 'msk-1', kind: 'snapshot', cron: '*/5 * * * *', timezone: 'Europe/Moscow' });
    const claim = { ...stored!.schedule, lastRunAt: new Date() };
    const [x, y] = await Promise.all([store.replace(claim, stored!.revision), store.replace(claim, stored!.revision)]);
    expect([x, y].filter(Boolean)).toHaveLength(1);
    expect((await service.list('msk-1')).map((s) => s.kind)).toEqual(['snapshot']);
    expect(await service.remove('msk-1', 'snapshot')).toBe(true);
    expect(await service.remove('msk-1', 'snapshot')).toBe(false);
    await expect(service.set({ site: 'msk-1', cron: 'every day' })).rejects.toThrow(/cron expression 'every day' is not valid/);

    const policies = await KvRetentionStore.open(await connect());
    const p = { keepLast: 2, keepDaily: 7, keepWeekly: 0, keepMonthly: 0, timezone: 'UTC', updatedAt: new Date('2026-11-21T10:00:00Z') };
    await policies.put('msk-1', p);
    expect(await policies.get('msk-1')).toEqual(p);
    expect(await policies.get('spb-1')).toBeUndefined();
  });
});
