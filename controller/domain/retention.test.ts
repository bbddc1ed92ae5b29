import { describe, expect, it } from 'vitest';
import { applyPolicy, checkPolicy } from './retention.js';

const policy = { keepLast: 0, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, timezone: 'UTC' };
const cut = (id: string, iso: string) => ({ cutId: id, createdAt: new Date(iso) });

describe('retention policy', () => {
  it('keep-last N keeps exactly the N newest cuts', () => {
    const cuts = [cut('c1', '2026-11-20T10:00:00Z'), cut('c3', '2026-11-20T12:00:00Z'), cut('c2', '2026-11-20T11:00:00Z')];
    const d = applyPolicy(cuts, { ...policy, keepLast: 2 });
    expect(d.map((x) => [x.cutId, x.keep])).toEqual([
      ['c3', true],
      ['c2', true],
      ['c1', false],
    ]);
    expect(d[2]?.reasons).toEqual(['kept by no rule']);
    expect(d[0]?.reasons).toEqual(['last 1/2']);
  });

  it('keep-daily keeps the newest cut of each of the last N days that have cuts, in the policy time zone', () => {
    const cuts = [
      cut('a', '2026-11-18T23:30:00Z'), // 19th in Moscow (UTC+3)
      cut('b', '2026-11-18T08:00:00Z'),
      cut('c', '2026-11-19T09:00:00Z'),
      cut('d', '2026-11-19T10:00:00Z'),
      cut('e', '2026-11-21T01:00:00Z'),
    ];
    const utc = applyPolicy(cuts, { ...policy, keepDaily: 3 });
    expect(utc.filter((x) => x.keep).map((x) => x.cutId)).toEqual(['e', 'd', 'a']);
    const msk = applyPolicy(cuts, { ...policy, keepDaily: 3, timezone: 'Europe/Moscow' });
    expect(msk.filter((x) => x.keep).map((x) => x.cutId)).toEqual(['e', 'd', 'b']);
  });

  it('rules combine: a cut kept by any rule stays, with every reason', () => {
    const cuts = [cut('w1', '2026-11-02T10:00:00Z'), cut('w2', '2026-11-10T10:00:00Z'), cut('w3a', '2026-11-17T10:00:00Z'), cut('w3b', '2026-11-18T10:00:00Z')];
    const d = applyPolicy(cuts, { ...policy, keepLast: 1, keepWeekly: 2, keepMonthly: 1 });
    expect(d.map((x) => [x.cutId, x.keep])).toEqual([
      ['w3b', true],
      ['w3a', false],
      ['w2', true],
      ['w1', false],
    ]);
    expect(d[0]?.reasons).toEqual(['last 1/1', 'weekly 2026-W47 (1/2)', 'monthly 2026-11 (1/1)']);
  });

  it('refuses a policy that keeps nothing, a negative count or an unknown zone', () => {
    expect(() => checkPolicy(policy)).toThrow(/must keep something/);
    expect(() => checkPolicy({ ...policy, keepLast: -1 })).toThrow(/--keep-last/);
    expect(() => checkPolicy({ ...policy, keepLast: 1, timezone: 'Mars/Olympus' })).toThrow(/unknown time zone 'Mars\/Olympus'/);
    expect(() => checkPolicy({ ...policy, keepDaily: 7 })).not.toThrow();
  });
});
