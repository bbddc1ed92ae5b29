/**
 * The controller's state in NATS: the snapshot catalog and job records (KV buckets) and the job event
 * audit trail (JetStream stream FFK_EVENTS). The controller itself stays stateless.
 */
import { jetstream, jetstreamManager, DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetStreamReplicas } from '../../shared/transport/nats.js';
import { UnavailableError } from '../../shared/errors.js';
import type { JobEvent, JobRecord } from '../../shared/jobs.js';
import type { Manifest } from '../../shared/manifest.js';
import { decodeManifest, encodeManifest } from '../../shared/manifest-codec.js';
import { catalogFilter, catalogKey, EVENTS_STREAM, EVENTS_SUBJECTS, jobEventsSubject } from '../../shared/names.js';
import { kvValues, openCatalogBucket, openJobsBucket, openVerificationsBucket, type KV } from '../../shared/transport/kv.js';
import type { Verification } from '../../shared/verification.js';
import type { CatalogStore, EventLog, JobStore, VerificationStore } from '../domain/ports.js';

export class KvCatalogStore implements CatalogStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvCatalogStore> {
    return new KvCatalogStore(await openCatalogBucket(nc));
  }

  async put(m: Manifest): Promise<void> {
    await this.kv.put(catalogKey(m.site, m.cutId), encodeManifest(m));
  }

  async get(site: string, cutId: string): Promise<Manifest | undefined> {
    const e = await this.kv.get(catalogKey(site, cutId));
    return e && e.operation === 'PUT' ? decodeManifest(e.string(), `catalog ${e.key}`) : undefined;
  }

  async list(site: string): Promise<Manifest[]> {
    const values = await kvValues(this.kv, catalogFilter({ site }));
    return values
      .map((v) => decodeManifest(v.value, `catalog ${v.key}`))
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
  }

  async find(cutId: string): Promise<Manifest | undefined> {
    const [v] = await kvValues(this.kv, catalogFilter({ cutId }));
    return v ? decodeManifest(v.value, `catalog ${v.key}`) : undefined;
  }

  async delete(site: string, cutId: string): Promise<void> {
    await this.kv.purge(catalogKey(site, cutId));
  }
}

type StoredVerification = Omit<Verification, 'time'> & { time: string };

/** The latest verification of each snapshot: bucket ffk_verifications, keyed like the catalog (`<site>.<cutId>`). */
export class KvVerificationStore implements VerificationStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvVerificationStore> {
    return new KvVerificationStore(await openVerificationsBucket(nc));
  }

  async put(v: Verification): Promise<void> {
    await this.kv.put(catalogKey(v.site, v.snapshotId), JSON.stringify(v));
  }

  async get(site: string, cutId: string): Promise<Verification | undefined> {
    const e = await this.kv.get(catalogKey(site, cutId));
    return e && e.operation === 'PUT' ? fromStored(e.json<StoredVerification>()) : undefined;
  }

  async list(site: string): Promise<Verification[]> {
    return (await kvValues(this.kv, catalogFilter({ site }))).map((v) => fromStored(JSON.parse(v.value) as StoredVerification));
  }
}

function fromStored(s: StoredVerification): Verification {
  return { ...s, time: new Date(s.time) };
}

type StoredJob = Omit<JobRecord, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string };

function toRecord(s: StoredJob): JobRecord {
  return { ...s, createdAt: new Date(s.createdAt), updatedAt: new Date(s.updatedAt) };
}

export class KvJobStore implements JobStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvJobStore> {
    return new KvJobStore(await openJobsBucket(nc));
  }

  async put(r: JobRecord): Promise<void> {
    await this.kv.put(r.id, JSON.stringify(r));
  }

  async get(id: string): Promise<JobRecord | undefined> {
    const e = await this.kv.get(id);
    return e && e.operation === 'PUT' ? toRecord(e.json<StoredJob>()) : undefined;
  }

  async list(filter: { site?: string; limit?: number }): Promise<JobRecord[]> {
    const all = (await kvValues(this.kv)).map((v) => toRecord(JSON.parse(v.value) as StoredJob));
    const mine = all.filter((j) => !filter.site || j.site === filter.site).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    return filter.limit ? mine.slice(0, filter.limit) : mine;
  }
}

type StoredEvent = Omit<JobEvent, 'time'> & { time: string };

export class JetStreamEventLog implements EventLog {
  private constructor(private readonly js: JetStreamClient) {}

  /** Opens the events stream, creating it when missing. */
  static async open(nc: NatsConnection): Promise<JetStreamEventLog> {
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.info(EVENTS_STREAM).catch(async () => {
        await jsm.streams.add({ name: EVENTS_STREAM, subjects: [EVENTS_SUBJECTS], num_replicas: jetStreamReplicas(nc) });
      });
    } catch (err) {
      throw new UnavailableError(`cannot open JetStream stream ${EVENTS_STREAM}: ${(err as Error).message}`, { cause: err });
    }
    return new JetStreamEventLog(jetstream(nc));
  }

  async publish(e: JobEvent): Promise<void> {
    await this.js.publish(jobEventsSubject(e.site, e.jobId), JSON.stringify(e));
  }

  async history(site: string, jobId: string): Promise<JobEvent[]> {
    const consumer = await this.js.consumers.get(EVENTS_STREAM, {
      filter_subjects: jobEventsSubject(site, jobId), // a string: a list needs nats-server 2.10
      deliver_policy: DeliverPolicy.All,
    });
    const out: JobEvent[] = [];
    const info = await consumer.info(true);
    let pending = info.num_pending;
    while (pending > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(pending, 500), expires: 2000 });
      let got = 0;
      for await (const m of batch) {
        const s = m.json<StoredEvent>();
        out.push({ ...s, time: new Date(s.time) });
        got += 1;
      }
      if (got === 0) break;
      pending -= got;
    }
    await consumer.delete().catch(() => undefined);
    return out;
  }
}
