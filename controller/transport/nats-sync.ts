/**
 * Watch-list sync links and their parts' statuses in JetStream KV. A link is created with the KV's
 * create (fails when the key exists), so two controllers cannot both create the same link.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { ConflictError } from '../../shared/errors.js';
import { syncStatusFilter } from '../../shared/names.js';
import type { SyncLink, SyncPartStatus } from '../../shared/sync/link.js';
import type { SyncCheckReport } from '../../shared/sync/inspect.js';
import { isCasFailure, kvValues, openSyncChecksBucket, openSyncLinksBucket, openSyncStatusBucket, type KV } from '../../shared/transport/kv.js';
import type { SyncCheckStore, SyncLinkStore, SyncStatusStore } from '../domain/sync/links.js';

export class KvSyncLinkStore implements SyncLinkStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvSyncLinkStore> {
    return new KvSyncLinkStore(await openSyncLinksBucket(nc));
  }

  async get(id: string): Promise<SyncLink | undefined> {
    const e = await this.kv.get(id);
    return e && e.operation === 'PUT' ? e.json<SyncLink>() : undefined;
  }

  async list(): Promise<SyncLink[]> {
    return (await kvValues(this.kv)).map((v) => JSON.parse(v.value) as SyncLink);
  }

  async create(link: SyncLink): Promise<void> {
    try {
      await this.kv.create(link.id, JSON.stringify(link));
    } catch (err) {
      if (isCasFailure(err)) throw new ConflictError(`sync link '${link.id}' already exists`, { cause: err });
      throw err;
    }
  }

  async update(link: SyncLink): Promise<void> {
    await this.kv.put(link.id, JSON.stringify(link));
  }

  async delete(id: string): Promise<boolean> {
    const e = await this.kv.get(id);
    if (!e || e.operation !== 'PUT') return false;
    await this.kv.delete(id);
    return true;
  }
}

export class KvSyncStatusStore implements SyncStatusStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvSyncStatusStore> {
    return new KvSyncStatusStore(await openSyncStatusBucket(nc));
  }

  async list(linkId: string): Promise<SyncPartStatus[]> {
    return (await kvValues(this.kv, syncStatusFilter(linkId))).map((v) => JSON.parse(v.value) as SyncPartStatus);
  }

  async purge(linkId: string): Promise<void> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys(syncStatusFilter(linkId))) keys.push(k);
    await Promise.all(keys.map((k) => this.kv.purge(k)));
  }
}

export class KvSyncCheckStore implements SyncCheckStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvSyncCheckStore> {
    return new KvSyncCheckStore(await openSyncChecksBucket(nc));
  }

  async get(linkId: string): Promise<SyncCheckReport | undefined> {
    const e = await this.kv.get(linkId);
    return e && e.operation === 'PUT' ? e.json<SyncCheckReport>() : undefined;
  }

  async put(report: SyncCheckReport): Promise<void> {
    await this.kv.put(report.link, JSON.stringify(report));
  }

  async delete(linkId: string): Promise<void> {
    await this.kv.purge(linkId);
  }
}
