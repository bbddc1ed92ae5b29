/** The controllers' roster (controller/domain/controllers.ts) in the JetStream KV bucket `ffk_controllers`. */
import type { NatsConnection } from '@nats-io/transport-node';
import { isCasFailure, kvEntries, openControllersBucket, type KV } from '../../shared/transport/kv.js';
import type { ControllerEntry, ControllerRoster } from '../domain/controllers.js';

type StoredEntry = Omit<ControllerEntry, 'startedAt' | 'seenAt' | 'expiresAt'> & { startedAt: string; seenAt: string; expiresAt: string };

export class KvControllerRoster implements ControllerRoster {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvControllerRoster> {
    return new KvControllerRoster(await openControllersBucket(nc));
  }

  async put(entry: ControllerEntry): Promise<void> {
    await this.kv.put(entry.id, JSON.stringify(entry));
  }

  async list(): Promise<{ entry: ControllerEntry; revision: number }[]> {
    return (await kvEntries(this.kv)).flatMap((e) => {
      if (e.operation !== 'PUT') return [];
      const s = e.json<StoredEntry>();
      return [{ entry: { ...s, startedAt: new Date(s.startedAt), seenAt: new Date(s.seenAt), expiresAt: new Date(s.expiresAt) }, revision: e.revision }];
    });
  }

  async remove(id: string, revision: number): Promise<void> {
    try {
      await this.kv.delete(id, { previousSeq: revision });
    } catch (err) {
      if (!isCasFailure(err)) throw err; // renewed or removed meanwhile: not ours to remove
    }
  }
}
