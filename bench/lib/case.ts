/**
 * The `main(argv, io)` every bench case shares: parse the flags (bench/lib/args.ts), --help, make the
 * plan, check the bins are built, describe the machine, run, print the markdown report, write the case's
 * section of the results file (bench/RESULTS.md in full mode; nowhere with --quick or --no-results unless
 * --results names a file), --json, and the exit code (1 on FAIL with --strict; a failure's own code).
 * A case declares only what differs: its flags, plan, run, report and verdict.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../test/harness/processes.js';
import { describeError, NotFoundError } from '../../shared/errors.js';
import { exitCodeFor } from '../../shared/exit-codes.js';
import { parseBenchArgs, type BenchArgs } from './args.js';
import type { MainIo } from './entry.js';
import { describeMachine, type MachineInfo } from './machine.js';
import { RESULTS_FILE, writeSection } from './results.js';

/** What a case's run gets (its `measure.ts`): progress lines and the signal to stop after the current run. */
export interface BenchEnv {
  /** Progress lines for people (stderr in the CLI, prefixed with the case's name). */
  log: (line: string) => void;
  signal?: AbortSignal;
}

/** One bench case as `benchMain` runs it. */
export interface BenchCase<Plan, Result, Verdict extends { pass: boolean }> {
  /** Prefix of its lines on stderr (`postgres: …`) and of its errors. */
  name: string;
  /** Its section of the results file: the markers' id and the title the "wrote" line names. */
  section: { id: string; title: string };
  /** The --help text, also printed after a flag error. */
  usage: string;
  /** The case's own string flags, besides the common ones. */
  flags?: readonly string[];
  /** The built files the case runs (dist/ bins); a missing one is a NotFoundError before anything starts. */
  bins: readonly string[];
  /** The plan from the parsed flags; a bad value is a ValidationError. */
  plan: (args: BenchArgs) => Plan;
  run: (plan: Plan, env: BenchEnv) => Promise<Result>;
  /** The markdown report; `mode` is 'full' or the quick label. */
  format: (result: Result, machine: MachineInfo, mode: string) => string;
  judge: (result: Result) => Verdict;
  /** How the report names a --quick run (default 'quick'). */
  quickLabel?: (plan: Plan) => string;
}

/**
 * Dev sites started by a case run their own processes (writer, sf-api stand-in, the systemctl and
 * findface-security shims) from dist/ like the agents, as the test suite does (test/global-setup.ts):
 * through tsx every shim call costs 0.3–0.5 s of compiling, which a restore's switch would count as
 * FindFace's downtime. They run bundled (scripts/bundle.mjs), as shipped. An FFK_DEVSITE_CLI already set wins.
 */
function useCompiledDevSite(): void {
  const cli = path.join(REPO_ROOT, 'dist/bin/ffkeeper-devsite.mjs');
  if (!process.env.FFK_DEVSITE_CLI && existsSync(cli)) process.env.FFK_DEVSITE_CLI = cli;
}

/** A quick label that counts the rounds: `quick (2 rounds)`. */
export function quickWithRounds(plan: { runs: number }): string {
  return `quick (${plan.runs} round${plan.runs === 1 ? '' : 's'})`;
}

/** The case's `main`: runs the bench as the command line asks and returns the exit code. */
export function benchMain<Plan, Result, Verdict extends { pass: boolean }>(c: BenchCase<Plan, Result, Verdict>): (argv: string[], io: MainIo) => Promise<number> {
  return async (argv, io) => {
    try {
      const args = parseBenchArgs(argv, c.flags);
      const { common } = args;
      if (common.help) {
        io.out(c.usage);
        return 0;
      }
      const plan = c.plan(args);
      for (const bin of c.bins) {
        if (!existsSync(bin)) throw new NotFoundError(`${c.name} bench: ${bin} not found; build first (npm run build, or npm run bench which builds)`);
      }
      useCompiledDevSite();
      const machine = await describeMachine();
      const result = await c.run(plan, { log: (l) => io.err(`${c.name}: ${l}`), ...(io.signal ? { signal: io.signal } : {}) });
      const markdown = c.format(result, machine, common.quick ? (c.quickLabel?.(plan) ?? 'quick') : 'full');
      io.out(markdown);
      const results = common.noResults ? undefined : (common.results ?? (common.quick ? undefined : RESULTS_FILE));
      if (results) {
        writeSection(results, { id: c.section.id, markdown });
        io.err(`${c.name}: wrote the "${c.section.title}" section of ${results}`);
      }
      const verdict = c.judge(result);
      if (common.json) writeFileSync(common.json, `${JSON.stringify({ ...result, verdict }, null, 2)}\n`);
      return common.strict && !verdict.pass ? 1 : 0;
    } catch (err) {
      io.err(`${c.name}: ${describeError(err)}${err instanceof Error && err.name === 'ValidationError' ? `\n${c.usage}` : ''}`);
      return exitCodeFor(err);
    }
  };
}
