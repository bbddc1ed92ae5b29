import { describe, expect, it } from 'vitest';
import * as names from './names.js';

describe('names', () => {
  it('says of every bucket and stream whether agents may read it (their NATS permissions are built from it)', () => {
    const classified = new Set<string>([...names.AGENT_UNREADABLE_BUCKETS, ...names.AGENT_UNREADABLE_JS_STREAMS, ...names.AGENT_READABLE]);
    const declared = Object.entries(names)
      .filter(([key, value]) => /_(BUCKET|STREAM)$/.test(key) && typeof value === 'string')
      .map(([, value]) => value as string);
    expect(declared.length).toBeGreaterThan(10);
    expect(declared.filter((d) => !classified.has(d))).toEqual([]);
  });
});
