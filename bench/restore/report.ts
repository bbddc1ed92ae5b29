/**
 * The restore verdict and its report: a markdown section (printed, and written to bench/RESULTS.md) with
 * the site's size, each method's restore time and writers-stopped time, and PASS/FAIL against issue 13's
 * bar: the two-phase restore keeps the writers stopped for at most 10% of the restore and at most 15 s,
 * and both restores end with 0 integrity errors.
 */
import { formatBytes } from '../../shared/bytes.js';
import { formatDuration } from '../../shared/duration.js';
import { formatMachine, type MachineInfo } from '../lib/machine.js';
import type { RestoreBenchResult, RestoreRun } from './measure.js';

export const BARS = { maxStoppedShare: 0.1, maxStoppedMs: 15_000 } as const;

export interface Verdict {
  pass: boolean;
  /** The two-phase restore's writers-stopped time over its restore time. */
  share: number;
  reasons: string[];
}

export function judge(r: RestoreBenchResult): Verdict {
  const two = r.runs.find((x) => x.method === 'two-phase');
  const reasons: string[] = [];
  const share = two ? two.stoppedMs / two.totalMs : Number.NaN;
  if (!two) reasons.push('no two-phase restore measured');
  if (!(share <= BARS.maxStoppedShare)) reasons.push(`writers stopped for ${pct(share)} of the two-phase restore > ${pct(BARS.maxStoppedShare)}`);
  if (two && !(two.stoppedMs <= BARS.maxStoppedMs)) reasons.push(`writers stopped for ${formatDuration(two.stoppedMs)} > ${formatDuration(BARS.maxStoppedMs)}`);
  for (const run of r.runs) if (run.integrityErrors !== 0) reasons.push(`${run.method}: ${run.integrityErrors} integrity errors`);
  return { pass: reasons.length === 0, share, reasons };
}

function pct(x: number): string {
  return Number.isNaN(x) ? '–' : `${(x * 100).toFixed(1)}%`;
}

const two = (r: RestoreBenchResult): boolean => r.switchLog.length > 0;

function row(run: RestoreRun): string {
  return `| ${run.method} | ${formatDuration(run.totalMs)} | ${formatDuration(run.stoppedMs)} | ${pct(run.stoppedMs / run.totalMs)} | ${run.integrityErrors} |`;
}

export function formatReport(r: RestoreBenchResult, machine: MachineInfo, mode: string): string {
  const v = judge(r);
  const s = r.size;
  return [
    `Measured ${r.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${mode}, by \`npx tsx bench/restore.ts${mode === 'full' ? '' : ' --quick'}\` (${formatDuration(r.durationMs)}).`,
    formatMachine(machine),
    '',
    `Site: ${r.plan.dossiers.toLocaleString('en-US')} dossiers, ${r.plan.events.toLocaleString('en-US')} events, images at ${r.plan.imageScale}× — ` +
      `${formatBytes(s.bytes)} in ${s.files.toLocaleString('en-US')} files, ${s.rows.toLocaleString('en-US')} rows, ${s.records.toLocaleString('en-US')} gallery records. ` +
      `Snapshot ${r.snapshotId} taken in ${formatDuration(r.snapshotMs)} with the writer at ${r.plan.rate} writes/s; both restores of it run with the writer running.`,
    '',
    '| method | restore | writers stopped | share | integrity errors |',
    '|---|---|---|---|---|',
    ...r.runs.map(row),
    '',
    `Bar (issue 13): two-phase writers stopped ≤ ${pct(BARS.maxStoppedShare)} of the restore and ≤ ${formatDuration(BARS.maxStoppedMs)}, 0 integrity errors: ` +
      `**${v.pass ? 'PASS' : 'FAIL'}**${v.reasons.length > 0 ? ` (${v.reasons.join('; ')})` : ''}.`,
    'The old sequence (writers stopped, every component restored in one call, writers started) is driven over the same agent API for comparison.',
    'The dev site\'s units and its `systemctl` / `findface-security` stand-ins run compiled from dist/ (as in the test suite), so a unit start or `migrate` costs what the stand-in does (0.1–0.5 s); ' +
      'on a real site FindFace\'s own `migrate`, `create_groups` and `create_default_user` take seconds each and lengthen the switch by that much.',
    ...(two(r) ? ['', 'The two-phase switch, as its job logged it:', '', '```', ...r.switchLog, '```'] : []),
  ].join('\n');
}
