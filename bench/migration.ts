/**
 * Benchmark: a model migration (issue 17's bench case).
 *
 *   npx tsx bench/migration.ts [--quick] [--strict] [--results FILE] [--json FILE]
 *
 * Brings up one dev site (full: 3,000 dossiers + 2,500 events, ≥ 5,000 faces over 2 shards, images at
 * 0.2×; --quick: 20 + 60) with a controller and agents as real processes (the bins in dist/: build first),
 * snapshots and verifies it, runs `migrate plan`, measures the extraction-api alone on the site's images,
 * then follows the plan's runbook step by step (FindFace's procedure, the dev site's
 * findface-sf-api-migrate re-extracting) while reading from sf-api; prints a table and PASS/FAIL, and in
 * full mode writes the "Migration" section of bench/RESULTS.md. Exit code 0 even on FAIL unless --strict.
 */
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE } from './lib/args.js';
import { benchMain } from './lib/case.js';
import { isEntryPoint, runAsScript } from './lib/entry.js';
import { runMigrationBench, type MigrationBenchPlan } from './migration/measure.js';
import { formatReport, judge } from './migration/report.js';

const USAGE = ['usage: npx tsx bench/migration.ts [flags]', COMMON_USAGE].join('\n');

export function planFor(o: { quick: boolean }): MigrationBenchPlan {
  return o.quick ? { dossiers: 20, events: 60, imageScale: 0.2 } : { dossiers: 3000, events: 2500, imageScale: 0.2 };
}

export const main = benchMain({
  name: 'migration',
  section: { id: 'migration', title: 'Migration' },
  usage: USAGE,
  bins: [BIN.agent, BIN.controller, BIN.cli],
  plan: ({ common }) => planFor({ quick: common.quick }),
  run: runMigrationBench,
  format: formatReport,
  judge,
});

if (isEntryPoint(import.meta.url)) await runAsScript('migration', main, { step: 'migration' });
