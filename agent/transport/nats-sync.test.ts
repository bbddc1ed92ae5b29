/**
 * The agent's watch of its sync links outlives the end of one of its JetStream watches: a watch that ends
 * (its consumer lost) or fails makes the links be read and watched again, so a new link is never missed.
 */
import { describe, expect, it } from 'vitest';
import type { KvEntry } from '@nats-io/kv';
import { FakeWatch } from '../../shared/transport/kv-watch.test-support.js';
import { silentLogger } from '../../shared/logger.js';
import type { SyncLink } from '../../shared/sync/link.js';
import type { KV } from '../../shared/transport/kv.js';
import { watchLinkRecords } from './nats-sync.js';

function entry(key: string): KvEntry {
  const value = JSON.stringify({ id: key });
  return { key, operation: 'PUT', created: new Date(), string: () => value, json: () => JSON.parse(value) as unknown } as unknown as KvEntry;
}

/** A links bucket: keys `a.*` and `b.*` under the filters `a.>` and `b.>`. */
function fakeBucket(): { kv: KV; watches: FakeWatch[]; current: Map<string, KvEntry> } {
  const b = { watches: [] as FakeWatch[], current: new Map<string, KvEntry>() };
  const matches = (filter: string, key: string): boolean => key.startsWith(filter.slice(0, -1));
  const kv = {
    watch: async () => {
      const w = new FakeWatch();
      b.watches.push(w);
      return w;
    },
    keys: async (filter: string) => [...b.current.keys()].filter((k) => matches(filter, k))[Symbol.iterator](),
    get: async (k: string) => b.current.get(k) ?? null,
  };
  return Object.assign(b, { kv: kv as unknown as KV });
}

describe('watchLinkRecords', () => {
  it("one filter's watch ending quietly makes both be read and watched again: a link of that filter added meanwhile is seen", async () => {
    const b = fakeBucket();
    b.current.set('a.1', entry('a.1'));
    let seen: string[] = [];
    const sub = watchLinkRecords(b.kv, ['a.>', 'b.>'], (ls: SyncLink[]) => (seen = ls.map((l) => l.id).sort()), silentLogger(), 50);
    await expect.poll(() => b.watches.length).toBe(2);
    expect(seen).toEqual(['a.1']);
    b.watches[1]?.push(entry('b.1'));
    await expect.poll(() => seen).toEqual(['a.1', 'b.1']);
    b.current.set('b.1', entry('b.1'));
    // The master-role watch ends with no error; a new link of that role is written before it is open again.
    b.watches[0]?.end();
    b.current.set('a.2', entry('a.2'));
    await expect.poll(() => b.watches.length).toBe(4);
    expect(b.watches[1]?.stopped).toBe(true);
    await expect.poll(() => seen).toEqual(['a.1', 'a.2', 'b.1']);
    b.watches[2]?.push(entry('a.3'));
    await expect.poll(() => seen).toEqual(['a.1', 'a.2', 'a.3', 'b.1']);
    await sub.stop();
    expect(b.watches.every((w) => w.stopped)).toBe(true);
  });

  it('a watch that fails is opened again; after stop() nothing is opened', async () => {
    const b = fakeBucket();
    let seen: string[] = [];
    const sub = watchLinkRecords(b.kv, ['a.>', 'b.>'], (ls: SyncLink[]) => (seen = ls.map((l) => l.id).sort()), silentLogger(), 50);
    await expect.poll(() => b.watches.length).toBe(2);
    b.current.set('b.9', entry('b.9'));
    b.watches[1]?.fail();
    await expect.poll(() => seen).toEqual(['b.9']);
    await expect.poll(() => b.watches.length).toBe(4);
    await sub.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(b.watches.length).toBe(4);
  });
});
