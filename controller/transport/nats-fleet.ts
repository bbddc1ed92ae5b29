/**
 * NATS side of the fleet inventory: watches the presence bucket (every current entry, then updates)
 * and keeps the durable fleet bucket of known agents.
 */
import { KvWatchInclude, type KvEntry } from '@nats-io/kv';
import { kvEntries, type KV } from '../../shared/transport/kv.js';
import { parseDescription } from '../../shared/fleet.js';
import type { Logger } from '../../shared/logger.js';
import { agentKey, parseAgentKey } from '../../shared/names.js';
import type { FleetRecord, FleetStore, PresenceUpdate } from '../domain/ports.js';

export interface PresenceWatch {
  stop(): void;
}

function toUpdate(e: KvEntry, logger: Logger): PresenceUpdate | undefined {
  const id = parseAgentKey(e.key);
  if (!id) return undefined;
  if (e.operation !== 'PUT') return { kind: 'gone', site: id.site, host: id.host, at: e.created };
  const description = parseDescription(e.string());
  if (!description) {
    logger.warn({ key: e.key }, 'ignoring malformed presence entry');
    return undefined;
  }
  return { kind: 'seen', description, seenAt: e.created };
}

/**
 * Delivers every current presence entry, then every change, to `onUpdate` until stopped. The watch
 * starts before the initial read so nothing falls between them (the inventory ignores stale beats).
 */
export async function watchPresence(kv: KV, onUpdate: (u: PresenceUpdate) => void, logger: Logger): Promise<PresenceWatch> {
  const iter = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
  void (async () => {
    for await (const e of iter) {
      const u = toUpdate(e, logger);
      if (u) onUpdate(u);
    }
  })().catch((err: unknown) => logger.error({ err }, 'presence watch ended'));
  for (const e of await kvEntries(kv)) {
    const u = toUpdate(e, logger);
    if (u) onUpdate(u);
  }
  return { stop: () => iter.stop() };
}

interface StoredRecord {
  description: string;
  lastSeen: string;
  goneAt?: string;
}

/** FleetStore over the `ffk_fleet` KV bucket. */
export class KvFleetStore implements FleetStore {
  constructor(private readonly kv: KV) {}

  async loadAll(): Promise<FleetRecord[]> {
    const out: FleetRecord[] = [];
    for (const e of await kvEntries(this.kv)) {
      if (e.operation !== 'PUT') continue;
      const stored = e.json<StoredRecord>();
      const description = parseDescription(stored.description);
      if (!description) continue;
      out.push({
        description,
        lastSeen: new Date(stored.lastSeen),
        ...(stored.goneAt ? { goneAt: new Date(stored.goneAt) } : {}),
      });
    }
    return out;
  }

  async save(record: FleetRecord): Promise<void> {
    const stored: StoredRecord = {
      description: JSON.stringify(record.description),
      lastSeen: record.lastSeen.toISOString(),
      ...(record.goneAt ? { goneAt: record.goneAt.toISOString() } : {}),
    };
    await this.kv.put(agentKey(record.description.site, record.description.host), JSON.stringify(stored));
  }
}
