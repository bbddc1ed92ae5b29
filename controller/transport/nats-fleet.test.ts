/**
 * The presence watch outlives the end of its JetStream watch: a watch that ends (its consumer lost in a
 * leader change) or fails is opened again and the current entries read again, so agents keep being seen.
 */
import { describe, expect, it } from 'vitest';
import type { KvEntry } from '@nats-io/kv';
import { FakeWatch } from '../../shared/transport/kv-watch.test-support.js';
import type { KV } from '../../shared/transport/kv.js';
import { silentLogger } from '../../shared/logger.js';
import type { PresenceUpdate } from '../domain/ports.js';
import { watchPresence } from './nats-fleet.js';

function entry(site: string, host: string): KvEntry {
  const value = JSON.stringify({ site, host, grpcAddress: `${host}:1`, startedAt: new Date(0).toISOString() });
  return { key: `${site}.${host}`, operation: 'PUT', created: new Date(), string: () => value } as unknown as KvEntry;
}

function fakeBucket(): { kv: KV; watches: FakeWatch[]; current: Map<string, KvEntry>; failOpens: number } {
  const b = { watches: [] as FakeWatch[], current: new Map<string, KvEntry>(), failOpens: 0 };
  const kv = {
    watch: async () => {
      if (b.failOpens > 0) {
        b.failOpens--;
        throw new Error('JetStream temporarily unavailable');
      }
      const w = new FakeWatch();
      b.watches.push(w);
      return w;
    },
    keys: async () => [...b.current.keys()][Symbol.iterator](),
    get: async (k: string) => b.current.get(k) ?? null,
  };
  return Object.assign(b, { kv: kv as unknown as KV });
}

const seen = (updates: PresenceUpdate[]): string[] => updates.flatMap((u) => (u.kind === 'seen' ? [`${u.description.site}/${u.description.host}`] : []));

describe('watchPresence', () => {
  it('opens a watch that ended again and reads the current entries again: agents that came meanwhile are seen', async () => {
    const b = fakeBucket();
    b.current.set('s.a', entry('s', 'a'));
    const updates: PresenceUpdate[] = [];
    const watch = await watchPresence(b.kv, (u) => updates.push(u), silentLogger());
    expect(seen(updates)).toEqual(['s/a']);
    b.watches[0]?.push(entry('s', 'b'));
    await expect.poll(() => seen(updates)).toEqual(['s/a', 's/b']);
    // The watch ends (no error); an agent's beat lands before it is open again.
    b.current.set('s.c', entry('s', 'c'));
    b.watches[0]?.end();
    await expect.poll(() => b.watches.length, { timeout: 5000 }).toBe(2);
    await expect.poll(() => seen(updates)).toContain('s/c');
    b.watches[1]?.push(entry('s', 'd'));
    await expect.poll(() => seen(updates)).toContain('s/d');
    watch.stop();
    expect(b.watches[1]?.stopped).toBe(true);
  });

  it('a watch that fails, and opens that fail, are tried again; after stop() nothing is opened', async () => {
    const b = fakeBucket();
    const updates: PresenceUpdate[] = [];
    const watch = await watchPresence(b.kv, (u) => updates.push(u), silentLogger());
    b.failOpens = 2;
    b.current.set('s.a', entry('s', 'a'));
    b.watches[0]?.fail();
    await expect.poll(() => b.watches.length, { timeout: 10_000 }).toBe(2);
    expect(b.failOpens).toBe(0);
    await expect.poll(() => seen(updates)).toEqual(['s/a']);
    watch.stop();
    await new Promise((r) => setTimeout(r, 700));
    expect(b.watches.length).toBe(2);
  });

  it('the first open failing is the caller\'s error', async () => {
    const b = fakeBucket();
    b.failOpens = 1;
    await expect(watchPresence(b.kv, () => undefined, silentLogger())).rejects.toThrow(/temporarily unavailable/);
  });
});
