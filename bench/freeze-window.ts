/**
 * Benchmark: the freeze window at 1× and 10× data (issue 5's bar, issue 7's case 5).
 *
 *   npx tsx bench/freeze-window.ts [--quick] [--runs N] [--warmup N] [--rate W] [--strict] [--results FILE] [--json FILE]
 *
 * Brings up two dev sites (full: 200 dossiers + 1,000 events and 2,000 + 10,000; --quick: 20 + 100 and
 * 200 + 1,000) with a controller and agents as real processes (the bins in dist/: build first), takes N
 * snapshots of each (default 15, quick 5), interleaved, with the writer at 200 writes/s on the site being
 * measured, prints a table and PASS/FAIL, and in full mode writes the "Freeze window" section of
 * bench/RESULTS.md. Exit code 0 even on FAIL unless --strict. Ctrl-C stops after the current snapshot
 * and still cleans up.
 */
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeError, NotFoundError } from '../shared/errors.js';
import { exitCodeFor } from '../shared/exit-codes.js';
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE, parseBenchArgs, positiveInt } from './lib/args.js';
import { describeMachine } from './lib/machine.js';
import { RESULTS_FILE, writeSection } from './lib/results.js';
import { runFreezeWindowBench, type BenchPlan, type FreezeBenchResult } from './freeze-window/measure.js';
import { formatReport, judge } from './freeze-window/report.js';

/** Section id in bench/RESULTS.md. */
export const SECTION_ID = 'freeze-window';

const USAGE = [
  'usage: npx tsx bench/freeze-window.ts [flags]',
  COMMON_USAGE,
  '  --warmup N       snapshots per size taken first (all sizes at once, writer off) and not counted (default 1)',
  '  --rate W         writer pace on the measured site, writes/s (default 200)',
].join('\n');

/** The plan for a mode: full (200/1,000 and 2,000/10,000, 15 runs) or quick (20/100 and 200/1,000, 5 runs); 1 warm-up. */
export function planFor(o: { quick: boolean; runs?: number | undefined; warmup?: number | undefined; rate?: number | undefined }): BenchPlan {
  const unit = o.quick ? { dossiers: 20, events: 100 } : { dossiers: 200, events: 1000 };
  return {
    sizes: [
      { label: '1×', tag: 'fw1x', ...unit },
      { label: '10×', tag: 'fw10x', dossiers: unit.dossiers * 10, events: unit.events * 10 },
    ],
    runs: o.runs ?? (o.quick ? 5 : 15),
    warmup: o.warmup ?? 1,
    rate: o.rate ?? 200,
  };
}

export interface MainIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Stops the bench after the current snapshot (it still cleans up). */
  signal?: AbortSignal;
}

function assertBuilt(): void {
  for (const bin of [BIN.agent, BIN.controller]) {
    if (!existsSync(bin)) throw new NotFoundError(`freeze-window bench: ${bin} not found; build first (npm run build, or npm run bench which builds)`);
  }
}

function report(result: FreezeBenchResult, markdown: string, o: { results: string | undefined; json: string | undefined }, io: MainIo): void {
  if (o.results) {
    writeSection(o.results, { id: SECTION_ID, markdown });
    io.err(`freeze-window: wrote the "Freeze window" section of ${o.results}`);
  }
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ ...result, verdict: judge(result) }, null, 2)}\n`);
}

/** Runs the bench as the command line asks; returns the exit code. */
export async function main(argv: string[], io: MainIo): Promise<number> {
  try {
    const { common, extra } = parseBenchArgs(argv, ['warmup', 'rate']);
    if (common.help) {
      io.out(USAGE);
      return 0;
    }
    const plan = planFor({ quick: common.quick, runs: common.runs, warmup: positiveInt(extra.warmup, 'warmup', 0), rate: positiveInt(extra.rate, 'rate') });
    assertBuilt();
    const machine = await describeMachine();
    const result = await runFreezeWindowBench(plan, { log: (l) => io.err(`freeze-window: ${l}`), ...(io.signal ? { signal: io.signal } : {}) });
    const markdown = formatReport(result, machine, common.quick ? 'quick' : 'full');
    io.out(markdown);
    const results = common.noResults ? undefined : (common.results ?? (common.quick ? undefined : RESULTS_FILE));
    report(result, markdown, { results, json: common.json }, io);
    return common.strict && !judge(result).pass ? 1 : 0;
  } catch (err) {
    io.err(`freeze-window: ${describeError(err)}${err instanceof Error && err.name === 'ValidationError' ? `\n${USAGE}` : ''}`);
    return exitCodeFor(err);
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stop.signal.aborted) return;
      process.stderr.write(`freeze-window: ${sig}: stopping after the current snapshot, then cleaning up\n`);
      stop.abort();
    });
  }
  const io: MainIo = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`), signal: stop.signal };
  process.exitCode = await main(process.argv.slice(2), io);
}
