/**
 * Benchmark: the freeze window at 1× and 10× data (issue 5's bar, issue 7's case 5).
 *
 *   npx tsx bench/freeze-window.ts [--quick] [--runs N] [--warmup N] [--rate W] [--strict] [--results FILE] [--json FILE]
 *
 * Brings up two dev sites (full: 200 dossiers + 1,000 events and 2,000 + 10,000; --quick: 20 + 100 and
 * 200 + 1,000) with a controller and agents as real processes (the bins in dist/: build first), takes N
 * snapshots of each (default 15, quick 5), interleaved, with the writer at 200 writes/s on the site being
 * measured — and, in full mode, the 1× site once more per run with one extra CPU-bound process — each right after
 * a bare PAUSE → export → RESUME on the same site (the peer: the floor of a PAUSE-based cut), prints a
 * table and PASS/FAIL, and in full mode writes the "Freeze window" section of
 * bench/RESULTS.md. Exit code 0 even on FAIL unless --strict. Ctrl-C stops after the current snapshot
 * and still cleans up.
 */
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE, positiveInt } from './lib/args.js';
import { benchMain } from './lib/case.js';
import { isEntryPoint, runAsScript } from './lib/entry.js';
import { runFreezeWindowBench, type BenchPlan } from './freeze-window/measure.js';
import { formatReport, judge } from './freeze-window/report.js';

const USAGE = [
  'usage: npx tsx bench/freeze-window.ts [flags]',
  COMMON_USAGE,
  '  --warmup N       snapshots per size taken first (all sizes at once, writer off) and not counted (default 1)',
  '  --rate W         writer pace on the measured site, writes/s (default 200)',
].join('\n');

/**
 * The plan for a mode: full (200/1,000 and 2,000/10,000, 15 runs) or quick (20/100 and 200/1,000, 5 runs); 1 warm-up.
 * In full mode the 1× site is measured a second time per run with one extra CPU-bound process (reported,
 * not judged); the quick mode leaves it out (inside `npm test` a busy loop would slow every other test).
 */
export function planFor(o: { quick: boolean; runs?: number | undefined; warmup?: number | undefined; rate?: number | undefined }): BenchPlan {
  const unit = o.quick ? { dossiers: 20, events: 100 } : { dossiers: 200, events: 1000 };
  return {
    sizes: [
      { label: '1×', tag: 'fw1x', ...unit },
      { label: '10×', tag: 'fw10x', dossiers: unit.dossiers * 10, events: unit.events * 10 },
      ...(o.quick ? [] : [{ label: '1× + CPU-bound process', tag: 'fw1x', ...unit, cpuBound: true }]),
    ],
    runs: o.runs ?? (o.quick ? 5 : 15),
    warmup: o.warmup ?? 1,
    rate: o.rate ?? 200,
  };
}

/** Runs the bench as the command line asks; returns the exit code. */
export const main = benchMain({
  name: 'freeze-window',
  section: { id: 'freeze-window', title: 'Freeze window' },
  usage: USAGE,
  flags: ['warmup', 'rate'],
  bins: [BIN.agent, BIN.controller],
  plan: ({ common, extra }) => planFor({ quick: common.quick, runs: common.runs, warmup: positiveInt(extra.warmup, 'warmup', 0), rate: positiveInt(extra.rate, 'rate') }),
  run: runFreezeWindowBench,
  format: formatReport,
  judge,
});

if (isEntryPoint(import.meta.url)) await runAsScript('freeze-window', main, { step: 'snapshot' });
