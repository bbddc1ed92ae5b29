/**
 * Site leases, schedules and retention policies in JetStream KV. Leases and schedule claims use the
 * KV's per-key revision as compare-and-set, so two controllers cannot both win.
 */
import type { KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { ConflictError } from '../../shared/errors.js';
import { scheduleKey } from '../../shared/names.js';
import { isCasFailure, kvEntries, openLeasesBucket, openRetentionBucket, openSchedulesBucket, type KV } from '../../shared/transport/kv.js';
import { sameJob, type HeldLease, type LeaseHolder, type LeaseState, type LeaseStore } from '../domain/leases.js';
import type { RetentionStore } from '../domain/retention-service.js';
import type { RetentionPolicy } from '../domain/retention.js';
import type { Schedule, ScheduleKind, ScheduleStore, StoredSchedule } from '../domain/schedules.js';

type Stored<T, K extends keyof T> = Omit<T, K> & { [P in K]: string };

type StoredLease = Stored<LeaseState, 'acquiredAt' | 'expiresAt'>;

function leaseFrom(s: StoredLease): LeaseState {
  return { ...s, acquiredAt: new Date(s.acquiredAt), expiresAt: new Date(s.expiresAt) };
}

/** Tries of a lease release whose reply does not come (each waits the client's request timeout). */
const RELEASE_ATTEMPTS = 4;

export class KvLeaseStore implements LeaseStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvLeaseStore> {
    return new KvLeaseStore(await openLeasesBucket(nc));
  }

  async tryAcquire(site: string, holder: LeaseHolder, ttlMs: number, now: Date): Promise<{ lease: HeldLease } | { heldBy: LeaseState }> {
    const state: LeaseState = { ...holder, site, acquiredAt: now, expiresAt: new Date(now.getTime() + ttlMs) };
    const value = JSON.stringify(state);
    const e = await this.kv.get(site);
    try {
      if (!e || e.operation !== 'PUT') return { lease: { state, token: await this.kv.create(site, value) } };
      const cur = leaseFrom(e.json<StoredLease>());
      if (cur.expiresAt > now && !sameJob(cur, holder)) return { heldBy: cur };
      return { lease: { state, token: await this.kv.update(site, value, e.revision) } };
    } catch (err) {
      if (!isCasFailure(err)) throw err;
      const again = await this.current(site, now);
      if (again) return { heldBy: again };
      throw new ConflictError(`the lease of site '${site}' changed hands while it was being taken; try again`, { cause: err });
    }
  }

  /**
   * The lease's current revision when the record is still this holder's: a write of it whose reply was
   * lost (a timeout) was applied all the same, and the holder's own revision is then one behind.
   */
  private async stillMine(lease: HeldLease): Promise<number | undefined> {
    const e = await this.kv.get(lease.state.site);
    if (!e || e.operation !== 'PUT') return undefined;
    const cur = leaseFrom(e.json<StoredLease>());
    const mine = sameJob(cur, lease.state) && cur.owner === lease.state.owner && cur.instance === lease.state.instance && cur.acquiredAt.getTime() === lease.state.acquiredAt.getTime();
    return mine ? e.revision : undefined;
  }

  async renew(lease: HeldLease, ttlMs: number, now: Date): Promise<HeldLease> {
    const state = { ...lease.state, expiresAt: new Date(now.getTime() + ttlMs) };
    try {
      return { state, token: await this.kv.update(lease.state.site, JSON.stringify(state), lease.token) };
    } catch (err) {
      if (!isCasFailure(err)) throw err;
      const revision = await this.stillMine(lease);
      if (revision !== undefined) return { state, token: await this.kv.update(lease.state.site, JSON.stringify(state), revision) };
      throw new ConflictError(`the lease of site '${lease.state.site}' held by job ${lease.state.jobId} was lost (it expired and was taken)`, { cause: err });
    }
  }

  async release(lease: HeldLease): Promise<void> {
    // A delete that timed out may or may not have been applied: asking again is safe (it names the
    // revision it deletes; applied already, it fails as not ours) and keeps the site from staying held
    // until the lease expires because one reply was lost (a NATS node going away, say).
    for (let attempt = 1; ; attempt++) {
      try {
        await this.kv.delete(lease.state.site, { previousSeq: lease.token });
        return;
      } catch (err) {
        if (isCasFailure(err)) {
          // Lost meanwhile, or deleted by the try that timed out: not ours to delete. Or still ours, at a
          // revision a renewal whose reply was lost wrote: deleted at that one.
          const revision = await this.stillMine(lease);
          if (revision !== undefined) await this.kv.delete(lease.state.site, { previousSeq: revision }).catch((e: unknown) => {
            if (!isCasFailure(e)) throw e;
          });
          return;
        }
        if (attempt >= RELEASE_ATTEMPTS || !/timeout/i.test(err instanceof Error ? err.message : String(err))) throw err;
      }
    }
  }

  async current(site: string, now: Date): Promise<LeaseState | undefined> {
    const e = await this.kv.get(site);
    if (!e || e.operation !== 'PUT') return undefined;
    const cur = leaseFrom(e.json<StoredLease>());
    return cur.expiresAt > now ? cur : undefined;
  }

  async list(): Promise<HeldLease[]> {
    return (await kvEntries(this.kv)).flatMap((e) => (e.operation === 'PUT' ? [{ state: leaseFrom(e.json<StoredLease>()), token: e.revision }] : []));
  }
}

type StoredScheduleJson = Omit<Schedule, 'updatedAt' | 'lastRunAt'> & { updatedAt: string; lastRunAt?: string };

function scheduleFrom(s: StoredScheduleJson): Schedule {
  const { lastRunAt, ...rest } = s;
  return { ...rest, updatedAt: new Date(s.updatedAt), ...(lastRunAt ? { lastRunAt: new Date(lastRunAt) } : {}) };
}

function storedSchedule(e: KvEntry | null): StoredSchedule | undefined {
  return e && e.operation === 'PUT' ? { schedule: scheduleFrom(e.json<StoredScheduleJson>()), revision: e.revision } : undefined;
}

export class KvScheduleStore implements ScheduleStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvScheduleStore> {
    return new KvScheduleStore(await openSchedulesBucket(nc));
  }

  async list(): Promise<StoredSchedule[]> {
    return (await kvEntries(this.kv)).flatMap((e) => storedSchedule(e) ?? []);
  }

  async get(site: string, kind: ScheduleKind): Promise<StoredSchedule | undefined> {
    return storedSchedule(await this.kv.get(scheduleKey(site, kind)));
  }

  async put(s: Schedule): Promise<void> {
    await this.kv.put(scheduleKey(s.site, s.kind), JSON.stringify(s));
  }

  async replace(s: Schedule, revision: number): Promise<boolean> {
    try {
      await this.kv.update(scheduleKey(s.site, s.kind), JSON.stringify(s), revision);
      return true;
    } catch (err) {
      if (isCasFailure(err)) return false;
      throw err;
    }
  }

  async remove(site: string, kind: ScheduleKind): Promise<boolean> {
    const e = await this.kv.get(scheduleKey(site, kind));
    if (!e || e.operation !== 'PUT') return false;
    await this.kv.delete(scheduleKey(site, kind));
    return true;
  }
}

type StoredPolicy = Omit<RetentionPolicy, 'updatedAt'> & { updatedAt: string };

export class KvRetentionStore implements RetentionStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvRetentionStore> {
    return new KvRetentionStore(await openRetentionBucket(nc));
  }

  async get(site: string): Promise<RetentionPolicy | undefined> {
    const e = await this.kv.get(site);
    if (!e || e.operation !== 'PUT') return undefined;
    const s = e.json<StoredPolicy>();
    return { ...s, updatedAt: new Date(s.updatedAt) };
  }

  async put(site: string, policy: RetentionPolicy): Promise<void> {
    await this.kv.put(site, JSON.stringify(policy));
  }
}
