/** Opening ffkeeper's KV buckets: create when missing, with the settings named here. */
import { Kvm, type KV, type KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { AGENTS_BUCKET, CATALOG_BUCKET, CONSOLE_TOKENS_BUCKET, CONTROLLERS_BUCKET, ENROLMENT_BUCKET, FLEET_BUCKET, JOBS_BUCKET, LEASES_BUCKET, RETENTION_BUCKET, SCHEDULES_BUCKET, SYNC_CHECKS_BUCKET, SYNC_LINKS_BUCKET, SYNC_STATUS_BUCKET, VERIFICATIONS_BUCKET } from '../names.js';
import { UnavailableError } from '../errors.js';
import { jetStreamReplicas } from './nats.js';

export type { KV } from '@nats-io/kv';

/**
 * How long a KV call is tried again while no JetStream server answers it ("no responders": a cluster
 * moving a stream's leader, a client reconnecting after its server died). Such a request reached no
 * server, so asking again cannot apply it twice; a timeout (it may have been applied) is not retried.
 */
export const NO_RESPONDERS_RETRY_MS = 20_000;

function isNoResponders(err: unknown): boolean {
  return err instanceof Error && (err.name === 'JetStreamNotEnabled' || /no responders/i.test(err.message));
}

/** `call`, asked again (backing off from `firstWaitMs` to `maxWaitMs`) while it fails with an error `again` accepts, for up to `windowMs`. */
async function askAgain<T>(call: () => Promise<T>, again: (err: unknown) => boolean, windowMs: number, firstWaitMs: number, maxWaitMs: number): Promise<T> {
  const deadline = Date.now() + windowMs;
  for (let wait = firstWaitMs; ; wait = Math.min(wait * 2, maxWaitMs)) {
    try {
      return await call();
    } catch (err) {
      if (!again(err) || Date.now() + wait > deadline) throw err;
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/** The bucket with each call that returns a promise asked again while no JetStream server answers. */
function askingAgainWhileNoResponders(kv: KV): KV {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]): unknown => {
        const first: unknown = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (!(first instanceof Promise)) return first;
        let called = false;
        return askAgain(() => {
          if (!called) {
            called = true;
            return first;
          }
          return (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        }, isNoResponders, NO_RESPONDERS_RETRY_MS, 100, 1000);
      };
    },
  });
}

/**
 * Opens a bucket, creating it when missing. `direct`: reads are direct gets, whose API subject names the
 * key (so NATS permissions can allow an agent some keys only); the bucket's stream must allow them.
 */
/** How long opening a bucket is tried again while JetStream does not answer in time (a cluster busy electing, creating replicas). */
export const OPEN_RETRY_MS = 60_000;

async function openOrCreate(nc: NatsConnection, bucket: string, options: { ttlMs?: number; direct?: boolean }): Promise<KV> {
  // Opening and creating are both safe to ask again (a create of the same bucket with the same settings succeeds).
  // JetStream answering "temporarily unavailable" (10008: no meta leader yet, a cluster coming up) is the same.
  const unanswered = (err: unknown): boolean => {
    const cause = (err as Error).cause;
    return isNoResponders(cause) || /timeout|temporarily unavailable/i.test(cause instanceof Error ? cause.message : '');
  };
  return askingAgainWhileNoResponders(await askAgain(() => openOrCreateOnce(nc, bucket, options), unanswered, OPEN_RETRY_MS, 250, 2000));
}

async function openOrCreateOnce(nc: NatsConnection, bucket: string, options: { ttlMs?: number; direct?: boolean }): Promise<KV> {
  const kvm = new Kvm(nc);
  const open = async (): Promise<KV> => {
    const kv = await kvm.open(bucket);
    const { streamInfo } = await kv.status(); // fails when the bucket does not exist
    return options.direct && streamInfo.config.allow_direct ? kvm.open(bucket, { allow_direct: true }) : kv;
  };
  try {
    return await open();
  } catch {
    try {
      return await kvm.create(bucket, { history: 1, replicas: jetStreamReplicas(nc), ...(options.ttlMs ? { ttl: options.ttlMs } : {}), ...(options.direct ? { allow_direct: true } : {}) });
    } catch (err) {
      // Another process created it between the open and the create, with its own settings (a controller's
      // and an agent's presence TTL differ: "stream name already in use with a different configuration"):
      // that bucket is the one to use, as it would have been had it existed a moment earlier.
      return open().catch(() => {
        throw new UnavailableError(`cannot open KV bucket '${bucket}': ${(err as Error).message}`, { cause: err });
      });
    }
  }
}

/** The presence bucket; entries expire `ttlMs` after their last heartbeat. */
export function openPresenceBucket(nc: NatsConnection, ttlMs: number): Promise<KV> {
  return openOrCreate(nc, AGENTS_BUCKET, { ttlMs });
}

/** The controller's durable memory of known agents (no TTL). */
export function openFleetBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, FLEET_BUCKET, {});
}

/** Sealed snapshots (manifests) by site. */
export function openCatalogBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, CATALOG_BUCKET, {});
}

/** Job records. */
export function openJobsBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, JOBS_BUCKET, {});
}

/** Join tokens by id. */
export function openEnrolmentBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, ENROLMENT_BUCKET, {});
}

/** Web console tokens (controller only; the expiry is in the value). */
export function openConsoleTokensBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, CONSOLE_TOKENS_BUCKET, {});
}

/** The running controller processes (expiry is in the value; each renews its own). */
export function openControllersBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, CONTROLLERS_BUCKET, {});
}

/** Site leases (expiry is in the value; the holder renews it). */
export function openLeasesBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, LEASES_BUCKET, {});
}

/** Schedules per site and kind. */
export function openSchedulesBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, SCHEDULES_BUCKET, {});
}

/** Retention policies per site. */
export function openRetentionBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, RETENTION_BUCKET, {});
}

/** Snapshot verifications by site and cut. */
export function openVerificationsBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, VERIFICATIONS_BUCKET, {});
}

/** Watch-list sync link records by link id (written by the controller, watched by the agents). */
export function openSyncLinksBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, SYNC_LINKS_BUCKET, { direct: true });
}

/** What each part of a sync link reports, by `<linkId>.<role>.<host>` (staleness is read from the value). */
export function openSyncStatusBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, SYNC_STATUS_BUCKET, { direct: true });
}

/** Current (last) entries of the keys matching `filter`, deleted ones included (their operation says so). */
export async function kvEntries(kv: KV, filter = '>'): Promise<KvEntry[]> {
  const keys: string[] = [];
  for await (const k of await kv.keys(filter)) keys.push(k);
  const entries = await Promise.all(keys.map((k) => kv.get(k)));
  return entries.filter((e): e is KvEntry => e !== null);
}

/** Current (last) values of the keys matching `filter`, skipping deleted ones. */
export async function kvValues(kv: KV, filter = '>'): Promise<{ key: string; value: string }[]> {
  return (await kvEntries(kv, filter)).flatMap((e) => (e.operation === 'PUT' ? [{ key: e.key, value: e.string() }] : []));
}

/** The last full comparison of each sync link. */
export function openSyncChecksBucket(nc: NatsConnection): Promise<KV> {
  return openOrCreate(nc, SYNC_CHECKS_BUCKET, {});
}

/** A KV write that lost a compare-and-set (wrong last sequence), or a create that found the key present. */
export function isCasFailure(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /wrong last sequence|key exists|10071/i.test(m);
}
