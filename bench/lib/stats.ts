/**
 * Order statistics for benchmark samples: median, nearest-rank percentiles, min/max. Pure functions,
 * shared by every bench case so they all summarise the same way.
 */

/** How a set of samples is summarised in a results table. */
export interface SampleSummary {
  count: number;
  median: number;
  p99: number;
  min: number;
  max: number;
}

function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Median (mean of the two middle values for an even count); NaN for no samples. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = sorted(xs);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Nearest-rank percentile `p` (0 < p ≤ 100): the smallest sample with at least p% of samples at or
 * below it. With fewer than 100 samples, p99 is the maximum. NaN for no samples.
 */
export function percentile(xs: readonly number[], p: number): number {
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile must be in (0, 100], got ${p}`);
  if (xs.length === 0) return Number.NaN;
  const s = sorted(xs);
  return s[Math.ceil((p / 100) * s.length) - 1] as number;
}

/** Count, median, p99, min and max of the samples (NaN where there are none). */
export function summarize(xs: readonly number[]): SampleSummary {
  return {
    count: xs.length,
    median: median(xs),
    p99: percentile(xs, 99),
    min: xs.length === 0 ? Number.NaN : Math.min(...xs),
    max: xs.length === 0 ? Number.NaN : Math.max(...xs),
  };
}
