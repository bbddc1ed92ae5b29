import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { SyncLink } from '../../../shared/sync/link.js';
import { NightlyComparisons, nextComparison } from './nightly.js';

const link = (id: string, over: Partial<SyncLink> = {}): SyncLink => ({
  id, number: 1, from: { site: 'msk-1', list: 1 }, to: { site: 'spb-1', list: 2 }, mode: 'continuous', at: '03:00', timezone: 'UTC', paused: false, createdAt: '2026-12-01T10:00:00.000Z', models: {}, ...over,
});

describe('nightly sync comparison', () => {
  it.each([
    ['03:00', 'UTC', '2026-12-01T10:00:00Z', '2026-12-02T03:00:00.000Z'],
    ['03:00', 'Europe/Moscow', '2026-12-01T10:00:00Z', '2026-12-02T00:00:00.000Z'],
    ['23:30', 'UTC', '2026-12-01T10:00:00Z', '2026-12-01T23:30:00.000Z'],
  ])('at %s %s after %s is %s', (at, timezone, after, next) => {
    expect(nextComparison({ at, timezone }, new Date(after))?.toISOString()).toBe(next);
  });

  it('runs the comparisons that are due, skips paused links and waits before retrying a failed one', async () => {
    let now = new Date('2026-12-02T03:00:30Z');
    const checked: string[] = [];
    const failing = new Set(['b']);
    const nightly = new NightlyComparisons({
      checkTimes: () => Promise.resolve([
        { link: link('a') },
        { link: link('b') },
        { link: link('c', { paused: true }) },
        { link: link('d'), lastCheckedAt: '2026-12-02T03:00:10Z' },
      ]),
      check: (id) => {
        checked.push(id);
        return failing.has(id) ? Promise.reject(new Error('agent offline')) : Promise.resolve({ differences: [], requeued: 0 });
      },
      run: () => Promise.reject(new Error('no nightly link here')),
      logger: pino({ level: 'silent' }),
      tickMs: 1000,
      now: () => now,
    });
    expect(await nightly.tick()).toEqual(['a', 'b']);
    now = new Date('2026-12-02T03:01:30Z');
    checked.length = 0;
    await nightly.tick();
    expect(checked).toEqual(['a']); // 'a' stays due here (its stored check time is the checker's job); 'b' waits 5 minutes
    now = new Date('2026-12-02T03:06:00Z');
    checked.length = 0;
    await nightly.tick();
    expect(checked).toEqual(['a', 'b']);
  });

  it("runs a nightly link's apply window instead of a bare comparison, and skips a link whose window is open", async () => {
    const calls: string[] = [];
    const nightly = new NightlyComparisons({
      checkTimes: () => Promise.resolve([
        { link: link('n', { mode: 'nightly' }) },
        { link: link('o', { mode: 'nightly', window: { openedAt: '2026-12-02T03:00:00Z' } }) },
        { link: link('c') },
      ]),
      check: (id) => { calls.push(`check ${id}`); return Promise.resolve({ differences: [], requeued: 0 }); },
      run: (id) => { calls.push(`run ${id}`); return Promise.resolve({ differences: [], requeued: 0 }); },
      logger: pino({ level: 'silent' }),
      tickMs: 1000,
      now: () => new Date('2026-12-02T03:00:30Z'),
    });
    expect(await nightly.tick()).toEqual(['n', 'c']);
    expect(calls).toEqual(['run n', 'check c']);
  });
});
