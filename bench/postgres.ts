/**
 * Benchmark: PostgreSQL — the agent's backup of a dev site's database (issue 7 case 2) against
 * `pg_dump > file`, and its restore by FindFace's sequence (case 4, PostgreSQL) against `psql -f`.
 *
 *   npx tsx bench/postgres.ts [--quick] [--runs N] [--strict] [--results FILE] [--no-results] [--json FILE]
 *
 * Full: a dev site grown to 100,000 dossiers and 1,000,000 events (a plain dump of a few hundred MB),
 * 5 rounds; --quick: 500 dossiers and 5,000 events, 2 rounds. The site's `db` agent runs as a real
 * process (the bin in dist/: build first). Prints a table; full mode writes the "PostgreSQL" section of
 * bench/RESULTS.md. Exit code 0 unless a run fails or, with --strict, a restored database does not match.
 * Ctrl-C stops after the current run and still cleans up.
 */
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE } from './lib/args.js';
import { benchMain, quickWithRounds } from './lib/case.js';
import { isEntryPoint, runAsScript } from './lib/entry.js';
import { runPostgresBench, type PostgresPlan } from './postgres/measure.js';
import { formatReport, judge } from './postgres/report.js';

/** The plan for a mode (see the module comment). */
export function planFor(o: { quick: boolean; runs?: number | undefined }): PostgresPlan {
  return o.quick
    ? { site: { dossiers: 10, events: 20 }, grow: { dossiers: 500, events: 5_000 }, runs: o.runs ?? 2 }
    : { site: { dossiers: 50, events: 200 }, grow: { dossiers: 100_000, events: 1_000_000 }, runs: o.runs ?? 5 };
}

/** Runs the bench as the command line asks; returns the exit code. */
export const main = benchMain({
  name: 'postgres',
  section: { id: 'postgres', title: 'PostgreSQL' },
  usage: ['usage: npx tsx bench/postgres.ts [flags]', COMMON_USAGE].join('\n'),
  bins: [BIN.agent],
  plan: ({ common }) => planFor(common),
  run: runPostgresBench,
  format: formatReport,
  judge,
  quickLabel: quickWithRounds,
});

if (isEntryPoint(import.meta.url)) await runAsScript('postgres', main);
