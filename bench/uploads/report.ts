/**
 * The upload-directory section of bench/RESULTS.md (cases 1, 3 and 4 for uploads): backup throughput
 * against `restic backup` alone and `tar czf`, the incremental snapshot against the full one, restore
 * throughput against `restic restore` and `tar xzf`, and PASS/FAIL against issue 7's targets.
 */
import { formatMachine, type MachineInfo } from '../lib/machine.js';
import { median } from '../lib/stats.js';
import { barLine, fmtBytes, fmtCount, fmtRatio, fmtSeconds, loadLine, resticOpenLine, seriesTable, stepsLine, timeSplitLine } from '../throughput/format.js';
import { speedup, timeRatio, type Series } from '../throughput/series.js';
import type { UploadsBenchResult } from './measure.js';

/**
 * Targets for the uploads cases: issue 7's (agent vs restic alone and vs tar) and issue 14's for the +1%
 * incremental (at most 1.2× restic alone's incremental; issue 7's share of the full time is reported).
 */
export const BARS = { vsRestic: 0.9, vsTar: 3, incrementalVsRestic: 1.2 } as const;

export interface UploadsVerdict {
  pass: boolean;
  vsRestic: number;
  vsTar: number;
  /** Median incremental time over median full time (agent), reported. */
  incrementalShare: number;
  /** Median agent incremental time over median restic incremental time, judged. */
  incrementalVsRestic: number;
  reasons: string[];
}

export function judge(r: UploadsBenchResult): UploadsVerdict {
  const vsRestic = speedup(r.backup.agent, r.backup.restic);
  const vsTar = speedup(r.backup.agent, r.backup.tar);
  const incrementalShare = timeRatio(r.incremental.agent, r.backup.agent);
  const incrementalVsRestic = timeRatio(r.incremental.agent, r.incremental.restic);
  const reasons: string[] = [];
  if (!(vsRestic >= BARS.vsRestic)) reasons.push(`agent at ${fmtRatio(vsRestic)} restic alone (target ≥ ${BARS.vsRestic}×)`);
  if (!(vsTar >= BARS.vsTar)) reasons.push(`agent at ${fmtRatio(vsTar)} tar czf (target ≥ ${BARS.vsTar}×)`);
  if (!(incrementalVsRestic <= BARS.incrementalVsRestic)) reasons.push(`incremental at ${fmtRatio(incrementalVsRestic)} restic alone's (target ≤ ${BARS.incrementalVsRestic}×)`);
  if (r.problems.length > 0) reasons.push(`${r.problems.length} problem(s)`);
  if (r.aborted) reasons.push('stopped early');
  return { pass: reasons.length === 0, vsRestic, vsTar, incrementalShare, incrementalVsRestic, reasons };
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : '–';
}

function incrementalRow(label: string, full: Series, incr: Series, addedNote: string): string {
  const ms = incr.ms;
  const range = ms.length > 0 ? `${fmtSeconds(Math.min(...ms))}–${fmtSeconds(Math.max(...ms))}` : '–';
  return `| ${label} | ${ms.length} | ${fmtSeconds(median(full.ms))} | ${fmtSeconds(median(ms))} | ${range} | ${pct(timeRatio(incr, full))} | ${addedNote} |`;
}

function preamble(r: UploadsBenchResult, machine: MachineInfo, mode: string): string[] {
  const p = r.plan;
  return [
    '## Upload directories: backup, incremental, restore (cases 1, 3, 4)',
    '',
    `- Date: ${r.startedAt.toISOString()} · mode: ${mode} · took ${(r.durationMs / 60_000).toFixed(1)} min${r.aborted ? ' · **stopped early**' : ''}`,
    `- Machine: ${formatMachine(machine)}`,
    `- Data: ${fmtCount(r.data.files)} files of ${fmtBytes(p.fileBytes)} random bytes (incompressible), ${fmtBytes(r.data.bytes)} in directories of 100; generated once (${fmtSeconds(r.generateMs)}) and used by every case; the page cache holds it for every variant alike.`,
    `- Method: ${p.runs} rounds; each round runs every variant once, in an order rotated per round (ffkeeper and its peers interleaved, so load from other work on the 2 shared cores falls on all). ` +
      'ffkeeper = a real agent process (`dist/bin/ffkeeper-agent.mjs`, uploads component on the tree) driven over gRPC as the controller drives it: Prepare → Freeze → Cut → Thaw → Upload (with the parent the controller sends from its catalog: none for a fresh repository, the full snapshot for the +1% one), timed from Prepare to the Upload result, into a fresh restic repository (format v2, created before the clock starts). ' +
      '`restic backup DIR` = restic alone into its own fresh repository (same format, compression auto, own cache dir). `tar czf` = FindFace\'s documented method (`tar -cvzf`, listing left out). ' +
      "The peers exclude the agent's `.ffk-*` working directory (its deletion shield of hard links) so all read the same files. MB/s = 10^6 bytes of data per second.",
    '',
  ];
}

function backupPart(r: UploadsBenchResult, v: UploadsVerdict): string[] {
  const b = r.backup;
  return [
    '### Backup throughput (case 1)',
    '',
    ...seriesTable([b.agent, b.restic, b.tar], b.agent),
    '',
    barLine('ffkeeper agent vs restic alone', v.vsRestic, { op: '≥', target: BARS.vsRestic }).line,
    barLine('ffkeeper agent vs tar czf', v.vsTar, { op: '≥', target: BARS.vsTar }).line,
    `- The agent's Upload call alone: median ${fmtSeconds(median(r.agentUploadOnly.ms))} (the rest of the agent's time is the cut protocol: prepare starts the agent's \`restic backup\`, which opens the repository there and waits for the upload — that opening is prepare's repository check —, then freeze, cut, thaw; so the agent's \`restic backup\` below spans the cut protocol).`,
    timeSplitLine("Where the agent's full snapshot goes", r.agentSplits.full),
    '',
  ];
}

function incrementalPart(r: UploadsBenchResult, v: UploadsVerdict): string[] {
  const { agent, restic } = r.incremental;
  const addedData = `${fmtCount(r.plan.addFiles)} new files, ${fmtBytes(r.plan.addFiles * r.plan.fileBytes)}`;
  return [
    '### Incremental: second snapshot after 1% new files (case 3)',
    '',
    `After each full snapshot, ${addedData} are added in a new directory and a second snapshot is taken into the same repository (the agent finds its parent snapshot; restic alone finds it by path); the files are removed again afterwards.`,
    '',
    '| what | runs | full (median) | +1% (median) | +1% (min–max) | +1% / full | repository data added (median) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    incrementalRow('ffkeeper agent', r.backup.agent, agent, fmtBytes(median(agent.bytes))),
    incrementalRow('restic backup', r.backup.restic, restic, '–'),
    '',
    barLine("ffkeeper incremental time / restic alone's", v.incrementalVsRestic, { op: '≤', target: BARS.incrementalVsRestic }).line,
    `- ffkeeper incremental time / its full time: ${pct(v.incrementalShare)} (issue 7 asked ≤ 10%; restic alone's own share is in the table)`,
    timeSplitLine("Where the agent's +1% snapshot goes", r.agentSplits.incremental),
    resticOpenLine(r.resticOpen),
    '',
  ];
}

function restorePart(r: UploadsBenchResult): string[] {
  const s = r.restore;
  return [
    '### Restore throughput (case 4, uploads)',
    '',
    "The last round's snapshots restored into an empty directory, each run into a new one (removed afterwards): the agent's Restore call with a target directory (it restores into a staging directory, checks every entry, then moves it into place), `restic restore latest` of restic's full snapshot, `tar xzf` of the last tarball. Every restored tree is counted (files and bytes) against the data set.",
    '',
    ...seriesTable([s.agent, s.restic, s.tar], s.agent),
    '',
    stepsLine("The agent's last restore, step by step", r.agentRestoreSteps),
  ];
}

/** The whole section, markdown. */
export function formatReport(r: UploadsBenchResult, machine: MachineInfo, mode: string): string {
  const v = judge(r);
  return [
    ...preamble(r, machine, mode),
    ...backupPart(r, v),
    ...incrementalPart(r, v),
    ...restorePart(r),
    loadLine(r.loadAverages, machine.cpus),
    `- Problems: ${r.problems.length === 0 ? 'none (every artifact and restored tree matched the data set)' : r.problems.join('; ')}`,
    '',
    `**Verdict: ${v.pass ? 'PASS' : `FAIL (${v.reasons.join('; ')})`}**`,
  ].join('\n');
}
