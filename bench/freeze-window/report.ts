/**
 * The freeze-window verdict and its report: a markdown section (printed, and written to
 * bench/RESULTS.md) with data sizes, median / p99 / min / max per size, the ratio of medians and
 * PASS/FAIL against issue 5's bar (ratio ≤ 1.5) and issue 14's targets (median ≤ 50 ms, p99 ≤ 100 ms, at each size);
 * the runs with an extra CPU-bound process and the bare-PAUSE peer are reported beside them.
 */
import { formatMachine, type MachineInfo } from '../lib/machine.js';
import { median, summarize, type SampleSummary } from '../lib/stats.js';
import type { FreezeBenchResult, SizeResult } from './measure.js';
import type { DataSize } from './size.js';

/** The bars: issue 5 (median at the largest size within 1.5× of the smallest) and issue 14 (median and p99 at each size). */
export const BARS = { maxMedianRatio: 1.5, maxMedianMs: 50, maxP99Ms: 100 } as const;

export interface Verdict {
  pass: boolean;
  /** Median of the largest size over the median of the smallest (NaN without samples). */
  ratio: number;
  summaries: SampleSummary[];
  /** Why it failed; empty on PASS. */
  reasons: string[];
}

/** Judges a result against the bars; any failed snapshot or missing size fails it too. */
export function judge(r: FreezeBenchResult): Verdict {
  const summaries = r.sizes.map((s) => summarize(s.samples.map((x) => x.windowMs)));
  const judged = judgedSizes(r);
  const first = summaries[judged[0] ?? -1];
  const last = summaries[judged.at(-1) ?? -1];
  const ratio = first && last ? last.median / first.median : Number.NaN;
  const reasons: string[] = [];
  r.sizes.forEach((s, i) => {
    if (!judged.includes(i)) return;
    const sum = summaries[i] as SampleSummary;
    if (sum.count === 0) reasons.push(`${s.spec.label}: no sealed snapshot measured`);
    if (sum.median > BARS.maxMedianMs) reasons.push(`${s.spec.label}: median ${fmtMs(sum.median)} > ${BARS.maxMedianMs} ms`);
    if (sum.p99 > BARS.maxP99Ms) reasons.push(`${s.spec.label}: p99 ${fmtMs(sum.p99)} > ${BARS.maxP99Ms} ms`);
    if (s.failures.length > 0) reasons.push(`${s.spec.label}: ${s.failures.length} snapshot(s) failed`);
  });
  if (!(ratio <= BARS.maxMedianRatio)) reasons.push(`ratio of medians ${fmtRatio(ratio)} > ${BARS.maxMedianRatio}`);
  if (r.aborted) reasons.push('stopped early');
  return { pass: reasons.length === 0, ratio, summaries, reasons };
}

/** Indexes of the sizes the bars apply to: all but the runs with an extra CPU-bound process (reported only). */
function judgedSizes(r: FreezeBenchResult): number[] {
  return r.sizes.flatMap((s, i) => (s.spec.cpuBound ? [] : [i]));
}

function fmtMs(x: number): string {
  return Number.isNaN(x) ? '–' : `${Number.isInteger(x) ? x : x.toFixed(1)} ms`;
}

function fmtRatio(x: number): string {
  return Number.isNaN(x) ? '–' : x.toFixed(2);
}

function fmtCount(n: number): string {
  return n.toLocaleString('en-US');
}

function fmtBytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(0)} MiB`;
}

function sizeCells(d: DataSize): string[] {
  return [fmtCount(d.files), fmtBytes(d.bytes), fmtCount(d.rows), fmtCount(d.records)];
}

function row(s: SizeResult, sum: SampleSummary): string {
  const rate = median(s.samples.map((x) => x.writerRate).filter(Number.isFinite));
  const cells = [
    `${s.spec.label}`, `${fmtCount(s.spec.dossiers)} / ${fmtCount(s.spec.events)}`, ...sizeCells(s.before),
    String(sum.count), fmtMs(sum.median), fmtMs(sum.p99), fmtMs(sum.min), fmtMs(sum.max),
    Number.isNaN(rate) ? '–' : `${rate.toFixed(0)}/s`,
  ];
  return `| ${cells.join(' | ')} |`;
}

function agentLine(s: SizeResult): string {
  const hosts = [...new Set(s.samples.flatMap((x) => Object.keys(x.agentWindowsMs)))].sort();
  const parts = hosts.map((h) => `${h} ${fmtMs(median(s.samples.flatMap((x) => x.agentWindowsMs[h] ?? [])))}`);
  return `${s.spec.label}: ${parts.join(', ') || '–'}`;
}

function stepLine(s: SizeResult): string {
  const steps = [...new Set(s.samples.flatMap((x) => Object.keys(x.stepsMs ?? {})))];
  const parts = steps.map((k) => `${k} ${fmtMs(median(s.samples.flatMap((x) => x.stepsMs?.[k] ?? [])))}`);
  return `${s.spec.label}: ${parts.join(', ') || '–'}`;
}

function peerLine(s: SizeResult): string {
  const peers = s.samples.flatMap((x) => (x.peer ? [x.peer] : []));
  if (peers.length === 0) return `${s.spec.label} –`;
  const w = summarize(peers.map((p) => Math.round(p.windowMs)));
  return `${s.spec.label} median ${fmtMs(w.median)}, p99 ${fmtMs(w.p99)} (PAUSE alone: median ${fmtMs(Math.round(median(peers.map((p) => p.pauseMs))))})`;
}

/** ffkeeper's window over the peer's taken just before it, paired per snapshot. */
function overPeerLine(s: SizeResult): string {
  const over = s.samples.flatMap((x) => (x.peer ? [x.windowMs - Math.round(x.peer.windowMs)] : []));
  if (over.length === 0) return `${s.spec.label} –`;
  const m = median(over);
  return `${s.spec.label} median ${m >= 0 ? '+' : ''}${fmtMs(m)}`;
}

function writerLine(s: SizeResult): string {
  const rates = s.samples.map((x) => x.writerRate).filter(Number.isFinite);
  const range = rates.length > 0 ? `${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)} writes/s` : 'not measured';
  return `${s.spec.label} ${range}, ${fmtCount(s.samples.reduce((a, x) => a + x.writerErrors, 0))} errors`;
}

function loadLine(s: SizeResult): string {
  const l = s.loadAverages;
  return l.length === 0 ? `${s.spec.label} –` : `${s.spec.label} median ${median(l).toFixed(1)}, max ${Math.max(...l).toFixed(1)}`;
}

function afterLine(s: SizeResult): string {
  const a = s.after;
  const t = s.trimmed;
  const data = a ? `${sizeCells(a).join(' / ')} (files / bytes / rows / records)` : 'not measured';
  return `${s.spec.label}: ${data}; trimmed ${fmtCount(t.removed.events)} events, ${fmtCount(t.removed.dossiers)} dossiers, ${fmtCount(t.removed.faces)} faces; re-loaded ${fmtCount(t.added.dossiers)} dossiers, ${fmtCount(t.added.events)} events`;
}

/** The report's header lines: what ran, where, when. */
function preamble(r: FreezeBenchResult, machine: MachineInfo, mode: string): string[] {
  const p = r.plan;
  return [
    '## Freeze window',
    '',
    `- Date: ${r.startedAt.toISOString()} · mode: ${mode} · took ${(r.durationMs / 60_000).toFixed(1)} min${r.aborted ? ' · **stopped early**' : ''}`,
    `- Machine: ${formatMachine(machine)}`,
    `- Method: ${p.runs} snapshots per size, interleaved ${r.sizes.map((s) => s.spec.label).join('/')} in ABBA order, after ${p.warmup} warm-up snapshot(s) of every size (taken together, writer off, not counted); ` +
      `the writer runs at ${p.rate} writes/s on the site being measured (started before the snapshot, stopped once the controller reports the thaw); ` +
      'between runs the site is trimmed back to its starting counts. Window = first freeze call → last thaw answer, measured by the controller (manifest `freezeWindowMs`). ' +
      'p99 is nearest-rank: with fewer than 100 snapshots it is the maximum.',
    '',
  ];
}

/** The whole section, markdown. */
export function formatReport(r: FreezeBenchResult, machine: MachineInfo, mode: string): string {
  const v = judge(r);
  const first = r.sizes[0];
  const judged = judgedSizes(r);
  const judgedSummaries = judged.map((i) => v.summaries[i] as SampleSummary);
  const p99s = judged.map((i) => `${r.sizes[i]?.spec.label} ${fmtMs(v.summaries[i]?.p99 ?? Number.NaN)}`).join(', ');
  const ratioOk = v.ratio <= BARS.maxMedianRatio;
  const p99Ok = judgedSummaries.every((s) => s.p99 <= BARS.maxP99Ms);
  const medians = judged.map((i) => `${r.sizes[i]?.spec.label} ${fmtMs(v.summaries[i]?.median ?? Number.NaN)}`).join(', ');
  const medianOk = judgedSummaries.every((s) => s.median <= BARS.maxMedianMs);
  const lastJudged = r.sizes[judged.at(-1) ?? -1];
  const hogs = r.sizes.flatMap((s, i) => (s.spec.cpuBound ? [`${s.spec.label} median ${fmtMs(v.summaries[i]?.median ?? Number.NaN)}, p99 ${fmtMs(v.summaries[i]?.p99 ?? Number.NaN)}`] : []));
  const hogLine = hogs.length === 0
    ? '- Not measured in this run: the window with one extra CPU-bound process running.'
    : `- With one extra CPU-bound process running (a busy loop in another process, during the whole sample): ${hogs.join('; ')} (reported beside the bars, not judged)`;
  return [
    ...preamble(r, machine, mode),
    '| data | dossiers / events | files | bytes | rows | records | snapshots | median | p99 | min | max | writer |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.sizes.map((s, i) => row(s, v.summaries[i] as SampleSummary)),
    '',
    `- Ratio of medians ${lastJudged?.spec.label ?? '?'}/${first?.spec.label ?? '?'}: **${fmtRatio(v.ratio)}** (bar ≤ ${BARS.maxMedianRatio}): ${ratioOk ? 'PASS' : 'FAIL'}`,
    `- Median: ${medians} (target ≤ ${BARS.maxMedianMs} ms): ${medianOk ? 'PASS' : 'FAIL'}`,
    `- p99: ${p99s} (target ≤ ${BARS.maxP99Ms} ms): ${p99Ok ? 'PASS' : 'FAIL'}`,
    hogLine,
    `- Peer, a bare PAUSE → \`pg_export_snapshot()\` → RESUME on the same site under the same writer just before each snapshot (the floor of any cut that stops writes with PAUSE: it returns once the writer's transactions in flight have finished): ${r.sizes.map(peerLine).join('; ')}`,
    `- ffkeeper's window over that peer's, paired per snapshot: ${r.sizes.map(overPeerLine).join('; ')}`,
    `- Failed snapshots: ${r.sizes.map((s) => `${s.spec.label} ${s.failures.length}`).join(', ')}${r.sizes.flatMap((s) => s.failures).slice(0, 3).map((f) => ` — ${f}`).join('')}`,
    `- Warm-up windows (writer off, not counted): ${r.sizes.map((s) => `${s.spec.label} ${s.warmupWindowsMs.map((w) => fmtMs(w)).join(', ') || '–'}`).join('; ')}`,
    `- Writer pace before the freeze (table: median): ${r.sizes.map(writerLine).join('; ')}`,
    `- Machine load (1-min load average before each run, ${machine.cpus} cores; the bench's own site and writer count too): ${r.sizes.map(loadLine).join('; ')}`,
    `- Median of each agent's own window: ${r.sizes.map(agentLine).join('; ')}`,
    `- Median of each step of the window (the controller's fan-outs, in order): ${r.sizes.map(stepLine).join('; ')}`,
    `- Data at the end: ${r.sizes.map(afterLine).join('; ')}`,
    '',
    `**Verdict: ${v.pass ? 'PASS' : `FAIL (${v.reasons.join('; ')})`}**`,
  ].join('\n');
}
