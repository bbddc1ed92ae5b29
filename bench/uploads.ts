/**
 * Benchmark: upload directories — backup throughput (issue 7 case 1), the incremental snapshot after 1%
 * new files (case 3) and restore throughput (case 4, uploads), each against its peers side by side.
 *
 *   npx tsx bench/uploads.ts [--quick] [--runs N] [--strict] [--results FILE] [--no-results] [--json FILE]
 *
 * Full: 5,000 files of 200 kB (1 GB), 5 rounds (the 2 cores are shared: more rounds, steadier medians); --quick: 250 files (50 MB), 2 rounds. A real agent process
 * (the bin in dist/: build first) against `restic backup`/`restic restore` alone and `tar czf`/`tar xzf`.
 * Prints a table and PASS/FAIL; full mode writes the "Upload directories" section of bench/RESULTS.md.
 * Exit code 0 even on FAIL unless --strict. Ctrl-C stops after the current run and still cleans up.
 */
import { writeFileSync } from 'node:fs';
import { describeError } from '../shared/errors.js';
import { exitCodeFor } from '../shared/exit-codes.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/args.js';
import { isEntryPoint, runAsScript, type MainIo } from './lib/entry.js';
import { describeMachine } from './lib/machine.js';
import { RESULTS_FILE, writeSection } from './lib/results.js';
import { assertAgentBuilt } from './throughput/agent.js';
import { runUploadsBench, type UploadsPlan } from './uploads/measure.js';
import { formatReport, judge } from './uploads/report.js';

/** Section id in bench/RESULTS.md. */
export const SECTION_ID = 'uploads';

const USAGE = ['usage: npx tsx bench/uploads.ts [flags]', COMMON_USAGE].join('\n');

/** The plan for a mode: full (5,000 × 200 kB = 1 GB, 5 rounds) or quick (250 × 200 kB = 50 MB, 2 rounds); +1% files for the incremental. */
export function planFor(o: { quick: boolean; runs?: number | undefined }): UploadsPlan {
  const files = o.quick ? 250 : 5000;
  return { files, fileBytes: 200_000, addFiles: Math.ceil(files / 100), runs: o.runs ?? (o.quick ? 2 : 5) };
}

/** Runs the bench as the command line asks; returns the exit code. */
export async function main(argv: string[], io: MainIo): Promise<number> {
  try {
    const { common } = parseBenchArgs(argv);
    if (common.help) {
      io.out(USAGE);
      return 0;
    }
    const plan = planFor({ quick: common.quick, runs: common.runs });
    assertAgentBuilt('uploads');
    const machine = await describeMachine();
    const result = await runUploadsBench(plan, { log: (l) => io.err(`uploads: ${l}`), ...(io.signal ? { signal: io.signal } : {}) });
    const markdown = formatReport(result, machine, common.quick ? `quick (${plan.runs} round${plan.runs === 1 ? '' : 's'})` : 'full');
    io.out(markdown);
    const results = common.noResults ? undefined : (common.results ?? (common.quick ? undefined : RESULTS_FILE));
    if (results) {
      writeSection(results, { id: SECTION_ID, markdown });
      io.err(`uploads: wrote the "Upload directories" section of ${results}`);
    }
    const verdict = judge(result);
    if (common.json) writeFileSync(common.json, `${JSON.stringify({ ...result, verdict }, null, 2)}\n`);
    return common.strict && !verdict.pass ? 1 : 0;
  } catch (err) {
    io.err(`uploads: ${describeError(err)}${err instanceof Error && err.name === 'ValidationError' ? `\n${USAGE}` : ''}`);
    return exitCodeFor(err);
  }
}

if (isEntryPoint(import.meta.url)) await runAsScript('uploads', main);
