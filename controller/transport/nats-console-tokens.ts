/** Web console tokens in JetStream KV (`ffk_console_tokens`, readable by the controller only). */
import type { NatsConnection } from '@nats-io/transport-node';
import { kvValues, openConsoleTokensBucket, type KV } from '../../shared/transport/kv.js';
import type { ConsoleTokenRecord, ConsoleTokenStore } from '../domain/access/console-tokens.js';

export class KvConsoleTokenStore implements ConsoleTokenStore {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection): Promise<KvConsoleTokenStore> {
    return new KvConsoleTokenStore(await openConsoleTokensBucket(nc));
  }

  async create(record: ConsoleTokenRecord): Promise<void> {
    await this.kv.create(record.id, JSON.stringify(record));
  }

  async removeOperator(operator: string): Promise<number> {
    let removed = 0;
    for (const { key, value } of await kvValues(this.kv)) {
      if ((JSON.parse(value) as Partial<ConsoleTokenRecord>).operator !== operator) continue;
      await this.kv.delete(key);
      removed += 1;
    }
    return removed;
  }

  async get(id: string): Promise<ConsoleTokenRecord | undefined> {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return undefined;
    const e = await this.kv.get(id);
    return e && e.operation === 'PUT' ? e.json<ConsoleTokenRecord>() : undefined;
  }
}
