/**
 * Markdown pieces of the throughput sections: a table of series (runs, median / min / max time, MB/s,
 * ffkeeper's speed against each peer) and bar lines (PASS/FAIL against issue 7's targets).
 */
import { median } from '../lib/stats.js';
import type { ResticRun } from './agent.js';
import { summarizeSeries, speedup, type Series } from './series.js';

export function fmtSeconds(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
}

export function fmtRate(mbps: number): string {
  if (!Number.isFinite(mbps)) return '–';
  return mbps < 10 ? `${mbps.toFixed(2)} MB/s` : `${mbps.toFixed(0)} MB/s`;
}

export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '–';
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export function fmtCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Text for a table cell: a `|` (a shell pipe in a label) would end the cell. */
export function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

/**
 * A table of `series`; the last column is how many times faster `reference` (ffkeeper) is than each
 * row (median MB/s over median MB/s; `—` on the reference's own row).
 */
export function seriesTable(series: readonly Series[], reference: Series): string[] {
  const rows = series.map((s) => {
    const { time, rate } = summarizeSeries(s);
    const vs = s === reference ? '—' : fmtRatio(speedup(reference, s));
    return `| ${cell(s.label)} | ${time.count} | ${fmtSeconds(time.median)} | ${fmtSeconds(time.min)} | ${fmtSeconds(time.max)} | ${fmtRate(rate.median)} | ${fmtRate(rate.min)}–${fmtRate(rate.max)} | ${vs} |`;
  });
  return [
    `| what | runs | median | min | max | MB/s (median) | MB/s (min–max) | ${cell(reference.label)} speed vs this |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ];
}

/** `name: **value** (target op bar): PASS|FAIL`. */
export function barLine(name: string, value: number, bar: { op: '≥' | '≤'; target: number }, fmt: (x: number) => string = fmtRatio): { line: string; pass: boolean } {
  const pass = bar.op === '≥' ? value >= bar.target : value <= bar.target;
  return { line: `- ${name}: **${fmt(value)}** (target ${bar.op} ${fmt(bar.target)}): ${pass ? 'PASS' : 'FAIL'}`, pass };
}

/** `median 3.1, max 7.4 (2 cores)` of the 1-minute load averages taken before each round. */
export function loadLine(loads: readonly number[], cpus: number): string {
  const xs = loads.filter(Number.isFinite);
  if (xs.length === 0) return '- Machine load: not measured';
  return `- Machine load (1-minute load average before each round, ${cpus} cores; other work on the machine counts too): median ${median(xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}`;
}

/** `- <title>: step 1.2 s, step 0.3 s, …` (a restore's steps as the agent reported them). */
export function stepsLine(title: string, steps: ReadonlyArray<{ step: string; ms: number }>): string {
  return `- ${title}: ${steps.map((s) => `${s.step} ${fmtSeconds(s.ms)}`).join(', ') || '–'}`;
}

/** The fixed cost of one restic run, measured beside the cases. */
export function resticOpenLine(s: Series): string {
  const ms = s.ms;
  const range = ms.length > 0 ? ` (${fmtSeconds(Math.min(...ms))}–${fmtSeconds(Math.max(...ms))}, ${ms.length} runs)` : '';
  return `- A restic process opening the repository (\`restic cat config\`, mostly its scrypt key derivation): median ${fmtSeconds(median(ms))}${range} — paid once by each peer's restic run and once by each restic run the agent makes.`;
}

/** One agent snapshot's wall time and the restic runs in it. */
export interface TimeSplit {
  totalMs: number;
  restic: ResticRun[];
}

function describeRuns(runs: readonly ResticRun[]): string {
  const counts = new Map<string, number>();
  for (const r of runs) counts.set(r.operation, (counts.get(r.operation) ?? 0) + 1);
  return [...counts].map(([op, n]) => (n > 1 ? `${op} ×${n}` : op)).join(', ');
}

/**
 * Where an agent snapshot's time goes (medians over `snaps`): its `restic backup` run(s), its other
 * restic runs (each paying the repository open), and everything else (cut protocol, gRPC, the agent's own work: walk, hashing).
 */
export function timeSplitLine(title: string, snaps: readonly TimeSplit[], note = ''): string {
  if (snaps.length === 0) return `- ${title}: not measured`;
  const sum = (runs: readonly ResticRun[]): number => runs.reduce((a, r) => a + r.ms, 0);
  const backup = snaps.map((s) => sum(s.restic.filter((r) => r.operation === 'backup')));
  const others = snaps.map((s) => sum(s.restic.filter((r) => r.operation !== 'backup')));
  const rest = snaps.map((s) => s.totalMs - sum(s.restic));
  const sample = snaps[0]?.restic.filter((r) => r.operation !== 'backup') ?? [];
  return (
    `- ${title} (medians of ${snaps.length}): \`restic backup\` ${fmtSeconds(median(backup))} · ` +
    `${sample.length} other restic run(s) (${describeRuns(sample) || 'none'}) ${fmtSeconds(median(others))} · ` +
    `everything else (cut protocol, gRPC, the agent's own work) ${fmtSeconds(median(rest))}` +
    note
  );
}
