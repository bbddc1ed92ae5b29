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

/** How long a presence watch that ended waits before it is opened again (doubling up to RESUME_MAX_MS). */
const RESUME_FIRST_MS = 500;
const RESUME_MAX_MS = 10_000;

/**
 * Delivers every current presence entry, then every change, to `onUpdate` until stopped. The watch
 * starts before the initial read so nothing falls between them (the inventory ignores stale beats).
 * A watch that ends while not stopped (its consumer lost in a JetStream leader change the client could not
 * recover from, or an error) is opened again, and every current entry read again: without it, no agent
 * would ever be seen online or gone again by this controller.
 */
export async function watchPresence(kv: KV, onUpdate: (u: PresenceUpdate) => void, logger: Logger): Promise<PresenceWatch> {
  let stopped = false;
  const deliver = (e: KvEntry): void => {
    const u = toUpdate(e, logger);
    if (u) onUpdate(u);
  };
  const open = async (): Promise<Awaited<ReturnType<KV['watch']>>> => {
    const iter = await kv.watch({ include: KvWatchInclude.UpdatesOnly });
    try {
      for (const e of await kvEntries(kv)) deliver(e);
    } catch (err) {
      iter.stop();
      throw err;
    }
    return iter;
  };
  // The first watch opens before the controller serves: a failure is the caller's.
  let current = await open();
  const run = async (): Promise<void> => {
    for (let wait = RESUME_FIRST_MS; !stopped; ) {
      try {
        for await (const e of current) deliver(e);
        if (stopped) return;
        logger.warn('presence watch ended; opening it again');
      } catch (err) {
        if (stopped) return;
        logger.warn({ err }, 'presence watch failed; opening it again');
      }
      for (;;) {
        await new Promise((r) => setTimeout(r, wait));
        if (stopped) return;
        try {
          current = await open();
          logger.info('presence watch open again');
          wait = RESUME_FIRST_MS;
          break;
        } catch (err) {
          wait = Math.min(wait * 2, RESUME_MAX_MS);
          logger.warn({ err, retryInMs: wait }, 'presence watch: could not open it again');
        }
      }
    }
  };
  void run();
  return {
    stop: () => {
      stopped = true;
      current.stop();
    },
  };
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
