/** Join tokens in JetStream KV (`ffk_enrolment`, readable by the controller only): created once, marked used by compare-and-set. */
import type { NatsConnection } from '@nats-io/transport-node';
import { isCasFailure, openEnrolmentBucket, type KV } from '../../shared/transport/kv.js';
import type { JoinTokenRecord, JoinTokenStore } from '../domain/enrolment.js';

export class KvJoinTokenStore implements JoinTokenStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvJoinTokenStore> {
    return new KvJoinTokenStore(await openEnrolmentBucket(nc));
  }

  async create(record: JoinTokenRecord): Promise<void> {
    await this.kv.create(record.id, JSON.stringify(record));
  }

  async get(id: string): Promise<{ record: JoinTokenRecord; revision: number } | undefined> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return undefined;
    const e = await this.kv.get(id);
    if (!e || e.operation !== 'PUT') return undefined;
    return { record: e.json<JoinTokenRecord>(), revision: e.revision };
  }

  async update(record: JoinTokenRecord, revision: number): Promise<boolean> {
    try {
      await this.kv.update(record.id, JSON.stringify(record), revision);
      return true;
    } catch (err) {
      if (isCasFailure(err)) return false;
      throw err;
    }
  }
}
