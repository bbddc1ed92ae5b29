/**
 * Timed series of the throughput cases: one per variant (ffkeeper, each peer), each run timed with the
 * bytes it moved, so a table can show median / min / max time and MB/s. Variants run interleaved —
 * round i runs every variant once, in an order rotated by i — so machine load (2 shared cores) falls
 * on all of them alike.
 */
import { performance } from 'node:perf_hooks';
import { median, summarize, type SampleSummary } from '../lib/stats.js';

/** One variant's runs. */
export interface Series {
  id: string;
  /** What ran, for people: `ffkeeper agent`, `restic backup`, `tar czf`. */
  label: string;
  /** Wall time of each run, ms. */
  ms: number[];
  /** Bytes each run moved (the data set, or what it added). */
  bytes: number[];
}

export function newSeries(id: string, label: string): Series {
  return { id, label, ms: [], bytes: [] };
}

/** Times `fn` and records it in `series` with `bytes`; returns what `fn` returned. */
export async function timeInto<T>(series: Series, bytes: number, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const value = await fn();
  record(series, performance.now() - t0, bytes);
  return value;
}

/** Records a run timed elsewhere (e.g. by the agent client). */
export function record(series: Series, ms: number, bytes: number): void {
  series.ms.push(ms);
  series.bytes.push(bytes);
}

/** Round `round`'s order of `items`: rotated left by `round`, so each goes first in turn. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = items.length === 0 ? 0 : round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

/** MB/s (10^6 bytes) of each run. */
export function rates(s: Series): number[] {
  return s.ms.map((ms, i) => (s.bytes[i] ?? 0) / 1e6 / (ms / 1000));
}

/** Time (ms) and MB/s summaries of a series. */
export function summarizeSeries(s: Series): { time: SampleSummary; rate: SampleSummary } {
  return { time: summarize(s.ms), rate: summarize(rates(s)) };
}

/** How many times faster `a` is than `b`: median MB/s of a over median MB/s of b (NaN without runs). */
export function speedup(a: Series, b: Series): number {
  return median(rates(a)) / median(rates(b));
}

/** Median time of `a` over median time of `b` (NaN without runs). */
export function timeRatio(a: Series, b: Series): number {
  return median(a.ms) / median(b.ms);
}
