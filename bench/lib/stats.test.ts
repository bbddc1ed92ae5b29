/** Order statistics used by every bench case. */
import { describe, expect, it } from 'vitest';
import { median, percentile, summarize } from './stats.js';

describe('bench stats', () => {
  it.each([
    { xs: [5], median: 5 },
    { xs: [3, 1, 2], median: 2 },
    { xs: [4, 1, 3, 2], median: 2.5 },
    { xs: [10, 10, 90, 10], median: 10 },
  ])('median of $xs is $median', ({ xs, median: m }) => {
    expect(median(xs)).toBe(m);
  });

  it.each([
    { xs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p: 50, value: 5 },
    { xs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p: 90, value: 9 },
    { xs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], p: 99, value: 10 },
    { xs: Array.from({ length: 200 }, (_, i) => i + 1), p: 99, value: 198 },
    { xs: [7, 3], p: 100, value: 7 },
  ])('nearest-rank p$p of $xs.length samples is $value', ({ xs, p, value }) => {
    expect(percentile(xs, p)).toBe(value);
  });

  it('refuses a percentile outside (0, 100]', () => {
    expect(() => percentile([1], 0)).toThrow(new RangeError('percentile must be in (0, 100], got 0'));
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('summarizes samples, NaN where there are none', () => {
    expect(summarize([30, 10, 20, 50, 40])).toEqual({ count: 5, median: 30, p99: 50, min: 10, max: 50 });
    const empty = summarize([]);
    expect(empty.count).toBe(0);
    for (const v of [empty.median, empty.p99, empty.min, empty.max]) expect(v).toBeNaN();
  });
});
