/**
 * Benchmark: upload directories — backup throughput (issue 7 case 1), the incremental snapshot after 1%
 * new files (case 3) and restore throughput (case 4, uploads), each against its peers side by side.
 *
 *   npx tsx bench/uploads.ts [--quick] [--runs N] [--strict] [--results FILE] [--no-results] [--json FILE]
 *
 * Full: 5,000 files of 200 kB (1 GB), 5 rounds (the 2 cores are shared: more rounds, steadier medians); --quick: 100 files (20 MB), 2 rounds. A real agent process
 * (the bin in dist/: build first) against `restic backup`/`restic restore` alone and `tar czf`/`tar xzf`.
 * Prints a table and PASS/FAIL; full mode writes the "Upload directories" section of bench/RESULTS.md.
 * Exit code 0 even on FAIL unless --strict. Ctrl-C stops after the current run and still cleans up.
 */
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE } from './lib/args.js';
import { benchMain, quickWithRounds } from './lib/case.js';
import { isEntryPoint, runAsScript } from './lib/entry.js';
import { runUploadsBench, type UploadsPlan } from './uploads/measure.js';
import { formatReport, judge } from './uploads/report.js';

/** The plan for a mode: full (5,000 × 200 kB = 1 GB, 5 rounds) or quick (100 × 200 kB = 20 MB, 2 rounds); +1% files for the incremental. */
export function planFor(o: { quick: boolean; runs?: number | undefined }): UploadsPlan {
  const files = o.quick ? 100 : 5000;
  return { files, fileBytes: 200_000, addFiles: Math.ceil(files / 100), runs: o.runs ?? (o.quick ? 2 : 5) };
}

/** Runs the bench as the command line asks; returns the exit code. */
export const main = benchMain({
  name: 'uploads',
  section: { id: 'uploads', title: 'Upload directories' },
  usage: ['usage: npx tsx bench/uploads.ts [flags]', COMMON_USAGE].join('\n'),
  bins: [BIN.agent],
  plan: ({ common }) => planFor(common),
  run: runUploadsBench,
  format: formatReport,
  judge,
  quickLabel: quickWithRounds,
});

if (isEntryPoint(import.meta.url)) await runAsScript('uploads', main);
