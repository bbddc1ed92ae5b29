/**
 * Benchmark: a restore's downtime (issue 13's bar).
 *
 *   npx tsx bench/restore.ts [--quick] [--rate W] [--strict] [--results FILE] [--json FILE]
 *
 * Brings up one dev site (full: 2,400 dossiers + 9,000 events with images at FindFace's sizes, ≥ 2.5 GB;
 * --quick: 20 + 60 at 0.2×) with a controller and agents as real processes (the bins in dist/: build
 * first), takes a snapshot with the writer running, restores it by the two-phase restore and by the old
 * sequence (writers stopped throughout), prints a table and PASS/FAIL, and in full mode writes the
 * "Restore" section of bench/RESULTS.md. Exit code 0 even on FAIL unless --strict.
 */
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE, positiveInt } from './lib/args.js';
import { benchMain } from './lib/case.js';
import { isEntryPoint, runAsScript } from './lib/entry.js';
import { runRestoreBench, type RestoreBenchPlan } from './restore/measure.js';
import { formatReport, judge } from './restore/report.js';

const USAGE = [
  'usage: npx tsx bench/restore.ts [flags]',
  COMMON_USAGE,
  '  --rate W         writer pace during the snapshot and the restores, writes/s (default 50)',
].join('\n');

export function planFor(o: { quick: boolean; rate?: number | undefined }): RestoreBenchPlan {
  const size = o.quick ? { dossiers: 20, events: 60, imageScale: 0.2 } : { dossiers: 2400, events: 9000, imageScale: 1 };
  return { ...size, rate: o.rate ?? 50 };
}

export const main = benchMain({
  name: 'restore',
  section: { id: 'restore', title: 'Restore' },
  usage: USAGE,
  flags: ['rate'],
  bins: [BIN.agent, BIN.controller],
  plan: ({ common, extra }) => planFor({ quick: common.quick, rate: positiveInt(extra.rate, 'rate') }),
  run: runRestoreBench,
  format: formatReport,
  judge,
});

if (isEntryPoint(import.meta.url)) await runAsScript('restore', main, { step: 'restore' });
