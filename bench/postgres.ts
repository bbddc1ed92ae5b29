/**
 * Benchmark: PostgreSQL — the agent's backup of a dev site's database (issue 7 case 2) against
 * `pg_dump > file`, and its restore by FindFace's sequence (case 4, PostgreSQL) against `psql -f`.
 *
 *   npx tsx bench/postgres.ts [--quick] [--runs N] [--strict] [--results FILE] [--no-results] [--json FILE]
 *
 * Full: a dev site grown to 100,000 dossiers and 1,000,000 events (a plain dump of a few hundred MB),
 * 5 rounds; --quick: 2,000 dossiers and 20,000 events, 2 rounds. The site's `db` agent runs as a real
 * process (the bin in dist/: build first). Prints a table; full mode writes the "PostgreSQL" section of
 * bench/RESULTS.md. Exit code 0 unless a run fails or, with --strict, a restored database does not match.
 * Ctrl-C stops after the current run and still cleans up.
 */
import { writeFileSync } from 'node:fs';
import { describeError } from '../shared/errors.js';
import { exitCodeFor } from '../shared/exit-codes.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/args.js';
import { isEntryPoint, runAsScript, type MainIo } from './lib/entry.js';
import { describeMachine } from './lib/machine.js';
import { RESULTS_FILE, writeSection } from './lib/results.js';
import { runPostgresBench, type PostgresPlan } from './postgres/measure.js';
import { formatReport, judge } from './postgres/report.js';
import { assertAgentBuilt } from './throughput/agent.js';

/** Section id in bench/RESULTS.md. */
export const SECTION_ID = 'postgres';

const USAGE = ['usage: npx tsx bench/postgres.ts [flags]', COMMON_USAGE].join('\n');

/** The plan for a mode (see the module comment). */
export function planFor(o: { quick: boolean; runs?: number | undefined }): PostgresPlan {
  return o.quick
    ? { site: { dossiers: 10, events: 20 }, grow: { dossiers: 2_000, events: 20_000 }, runs: o.runs ?? 2 }
    : { site: { dossiers: 50, events: 200 }, grow: { dossiers: 100_000, events: 1_000_000 }, runs: o.runs ?? 5 };
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
    assertAgentBuilt('postgres');
    const machine = await describeMachine();
    const result = await runPostgresBench(plan, { log: (l) => io.err(`postgres: ${l}`), ...(io.signal ? { signal: io.signal } : {}) });
    const markdown = formatReport(result, machine, common.quick ? `quick (${plan.runs} round${plan.runs === 1 ? '' : 's'})` : 'full');
    io.out(markdown);
    const results = common.noResults ? undefined : (common.results ?? (common.quick ? undefined : RESULTS_FILE));
    if (results) {
      writeSection(results, { id: SECTION_ID, markdown });
      io.err(`postgres: wrote the "PostgreSQL" section of ${results}`);
    }
    const verdict = judge(result);
    if (common.json) writeFileSync(common.json, `${JSON.stringify({ ...result, verdict }, null, 2)}\n`);
    return common.strict && !verdict.pass ? 1 : 0;
  } catch (err) {
    io.err(`postgres: ${describeError(err)}${err instanceof Error && err.name === 'ValidationError' ? `\n${USAGE}` : ''}`);
    return exitCodeFor(err);
  }
}

if (isEntryPoint(import.meta.url)) await runAsScript('postgres', main);
