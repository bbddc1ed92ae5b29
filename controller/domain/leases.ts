/**
 * Site leases: one holder at a time per site for the work that must not overlap on a site's repository
 * (snapshots, pruning, verification, deleting snapshots). A lease lives in shared state (KV) with an
 * expiry, so it also excludes other controllers; the holder renews it while it works, and a crashed
 * holder's lease simply expires. A second request is refused with a message naming the holder, or waits.
 */
import { CancelledError, ConflictError, describeError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';

/** What holds (or asks for) a site's lease. */
export interface LeaseHolder {
  /** `snapshot`, `prune`, `verify`, `delete`: shown to whoever is refused. */
  purpose: string;
  /** The job (or operation) id, shown too. */
  jobId: string;
  /** The controller that holds it. */
  owner: string;
  /** Which run of that controller process (shared/jobs.ts): another controller releases a lease whose holder is gone. */
  instance?: string;
}

export interface LeaseState extends LeaseHolder {
  site: string;
  acquiredAt: Date;
  expiresAt: Date;
}

/** An acquired lease; `token` is the store's proof of ownership (e.g. a KV revision). */
export interface HeldLease {
  state: LeaseState;
  token: number;
}

/** The shared lease records. Implemented over JetStream KV (`KvLeaseStore`). */
export interface LeaseStore {
  /**
   * Takes the lease when free, expired (at `now`), or held for the same purpose by the same job (a job
   * resumed after its controller died takes its own lease back); otherwise returns the live holder.
   */
  tryAcquire(site: string, holder: LeaseHolder, ttlMs: number, now: Date): Promise<{ lease: HeldLease } | { heldBy: LeaseState }>;
  /** Extends a held lease; throws ConflictError when it was lost (expired and taken by someone else). */
  renew(lease: HeldLease, ttlMs: number, now: Date): Promise<HeldLease>;
  /** Gives a held lease back; a lease already lost is left alone. */
  release(lease: HeldLease): Promise<void>;
  /** The current holder of a site's lease, when there is a live one. */
  current(site: string, now: Date): Promise<LeaseState | undefined>;
  /** Every lease record, expired ones too. */
  list(): Promise<HeldLease[]>;
}

export interface SiteLeasesOptions {
  store: LeaseStore;
  owner: string;
  /** This run of the owner's process. */
  instance?: string;
  ttlMs: number;
  logger: Logger;
  /** How often a waiting request asks again. */
  pollMs?: number;
  now?: () => Date;
}

export type LeaseMode = { wait: false } | { wait: true; timeoutMs: number; signal?: AbortSignal };

/** A lease held for the caller; `release()` is idempotent. */
export interface SiteLease {
  readonly state: LeaseState;
  release(): Promise<void>;
}

function describeHolder(h: LeaseState, now: Date): string {
  const left = Math.max(0, Math.round((h.expiresAt.getTime() - now.getTime()) / 1000));
  return `${h.purpose} job ${h.jobId} on ${h.owner} holds site '${h.site}' (lease renewed until ${h.expiresAt.toISOString()}, ${left} s left unless renewed)`;
}

export class SiteLeases {
  private readonly now: () => Date;

  constructor(private readonly options: SiteLeasesOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** The live holder of the site's lease, if any. */
  current(site: string): Promise<LeaseState | undefined> {
    return this.options.store.current(site, this.now());
  }

  /**
   * Takes the site's lease for `purpose`/`jobId`, renewing it every third of its TTL until released.
   * Refused (ConflictError naming the holder) when held and `wait` is false; with `wait`, asks again
   * until `timeoutMs` has passed.
   */
  async acquire(site: string, purpose: string, jobId: string, mode: LeaseMode): Promise<SiteLease> {
    const { store, ttlMs, owner, instance } = this.options;
    const holder: LeaseHolder = { purpose, jobId, owner, ...(instance ? { instance } : {}) };
    const deadline = Date.now() + (mode.wait ? mode.timeoutMs : 0);
    for (;;) {
      const r = await store.tryAcquire(site, holder, ttlMs, this.now());
      if ('lease' in r) return this.hold(r.lease);
      if (!mode.wait || Date.now() >= deadline) {
        const waited = mode.wait ? ` after waiting ${Math.round(mode.timeoutMs / 1000)} s` : '';
        throw new ConflictError(`cannot start ${purpose} of site '${site}'${waited}: ${describeHolder(r.heldBy, this.now())}; try again when it ends`);
      }
      if (mode.signal?.aborted) throw new CancelledError(`${purpose} of site '${site}' cancelled while waiting for the site's lease`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(this.options.pollMs ?? 1000, Math.max(1, deadline - Date.now()))));
    }
  }

  /**
   * Releases the live leases whose holding controller process is gone (`alive` says which run; a lease
   * without one counts as gone when its owner is this controller: a restart of it). Returns them.
   */
  async releaseOrphans(alive: (runBy: { id: string; instance: string }) => boolean): Promise<LeaseState[]> {
    const now = this.now();
    const gone = (l: LeaseState): boolean => (l.instance === undefined ? l.owner === this.options.owner && this.options.instance !== undefined : !alive({ id: l.owner, instance: l.instance }));
    const orphans = (await this.options.store.list()).filter((l) => l.state.expiresAt > now && gone(l.state));
    for (const l of orphans) await this.options.store.release(l);
    return orphans.map((l) => l.state);
  }

  /** The option of `JobRunner.start` that makes a job hold the site's lease while it runs. */
  forJob(site: string, purpose: string, mode: LeaseMode): { acquire: (jobId: string) => Promise<() => Promise<void>> } {
    return {
      acquire: async (jobId) => {
        const lease = await this.acquire(site, purpose, jobId, mode);
        return () => lease.release();
      },
    };
  }

  /** Runs `fn` holding the site's lease; releases it however `fn` ends. */
  async with<T>(site: string, purpose: string, jobId: string, mode: LeaseMode, fn: () => Promise<T>): Promise<T> {
    const lease = await this.acquire(site, purpose, jobId, mode);
    try {
      return await fn();
    } finally {
      await lease.release();
    }
  }

  private hold(first: HeldLease): SiteLease {
    const { store, ttlMs, logger } = this.options;
    let lease = first;
    let released = false;
    let renewing: Promise<void> = Promise.resolve();
    const timer = setInterval(
      () => {
        renewing = store
          .renew(lease, ttlMs, this.now())
          .then((l) => {
            lease = l;
          })
          .catch((err: unknown) => logger.error({ err, site: lease.state.site, jobId: lease.state.jobId }, `could not renew the site lease: ${describeError(err)}`));
      },
      Math.max(50, Math.floor(ttlMs / 3)),
    );
    timer.unref();
    return {
      get state() {
        return lease.state;
      },
      release: async () => {
        if (released) return;
        released = true;
        clearInterval(timer);
        await renewing;
        await store.release(lease).catch((err: unknown) => logger.warn({ err, site: lease.state.site }, 'could not release the site lease (it expires by itself)'));
      },
    };
  }
}

/** True when `holder` asks for a lease `held` already holds for it: the same job, for the same purpose. */
export function sameJob(held: LeaseHolder, holder: LeaseHolder): boolean {
  return held.jobId === holder.jobId && held.purpose === holder.purpose;
}

/** An in-memory LeaseStore (unit tests, and one-process tools). */
export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, HeldLease>();
  private seq = 0;

  tryAcquire(site: string, holder: LeaseHolder, ttlMs: number, now: Date): Promise<{ lease: HeldLease } | { heldBy: LeaseState }> {
    const cur = this.leases.get(site);
    if (cur && cur.state.expiresAt > now && !sameJob(cur.state, holder)) return Promise.resolve({ heldBy: cur.state });
    const lease = { state: { ...holder, site, acquiredAt: now, expiresAt: new Date(now.getTime() + ttlMs) }, token: ++this.seq };
    this.leases.set(site, lease);
    return Promise.resolve({ lease });
  }

  renew(lease: HeldLease, ttlMs: number, now: Date): Promise<HeldLease> {
    const cur = this.leases.get(lease.state.site);
    if (!cur || cur.token !== lease.token) return Promise.reject(new ConflictError(`the lease of site '${lease.state.site}' was lost`));
    const next = { state: { ...cur.state, expiresAt: new Date(now.getTime() + ttlMs) }, token: ++this.seq };
    this.leases.set(lease.state.site, next);
    return Promise.resolve(next);
  }

  release(lease: HeldLease): Promise<void> {
    const cur = this.leases.get(lease.state.site);
    if (cur && cur.token === lease.token) this.leases.delete(lease.state.site);
    return Promise.resolve();
  }

  current(site: string, now: Date): Promise<LeaseState | undefined> {
    const cur = this.leases.get(site);
    return Promise.resolve(cur && cur.state.expiresAt > now ? cur.state : undefined);
  }

  list(): Promise<HeldLease[]> {
    return Promise.resolve([...this.leases.values()]);
  }
}
