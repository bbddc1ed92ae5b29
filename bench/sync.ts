/**
 * Benchmark: watch-list sync (issue 15's targets).
 *
 *   npx tsx bench/sync.ts [--quick] [--dossiers N] [--seconds S] [--strict] [--results FILE] [--json FILE]
 *
 * Brings up a master dev site (full: 10,000 dossiers with faces and photos at FindFace's sizes, every one
 * in watch list 1; --quick: 60 at 0.2×) and a small slave site with a controller, agents and nats-server
 * as real processes (the bins in dist/: build first); times the floor (`pg_dump -t … | psql` + `cp -r` of
 * the face photos), then `ffkeeper sync link --no-safety-snapshot` until the slave's list 2 holds the
 * whole list, runs `ffkeeper sync check` once, and measures propagation latency at 10 and 100 changes/s.
 * Prints a table and PASS/FAIL, and in full mode writes the "Sync" section of bench/RESULTS.md.
 * Exit code 0 even on FAIL unless --strict.
 */
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE, positiveInt } from './lib/args.js';
import { benchMain } from './lib/case.js';
import { isEntryPoint, runAsScript } from './lib/entry.js';
import { runSyncBench, type SyncBenchPlan } from './sync/measure.js';
import { formatReport, judge } from './sync/report.js';

const USAGE = [
  'usage: npx tsx bench/sync.ts [flags]',
  COMMON_USAGE,
  '  --dossiers N     dossiers of the master, all in its list 1 (default 10000; --quick 60)',
  '  --seconds S      how long the driver commits changes at each rate (default 20; --quick 3)',
].join('\n');

export function planFor(o: { quick: boolean; dossiers?: number | undefined; seconds?: number | undefined }): SyncBenchPlan {
  const size = o.quick ? { dossiers: 60, slaveDossiers: 20, events: 20, imageScale: 0.2, seconds: 3, floorRuns: 1 } : { dossiers: 10_000, slaveDossiers: 100, events: 100, imageScale: 1, seconds: 20, floorRuns: 3 };
  return { ...size, dossiers: o.dossiers ?? size.dossiers, seconds: o.seconds ?? size.seconds, rates: [10, 100], timeoutMs: 30 * 60_000, stallMs: (o.quick ? 1 : 3) * 60_000 };
}

export const main = benchMain({
  name: 'sync',
  section: { id: 'sync', title: 'Sync' },
  usage: USAGE,
  flags: ['dossiers', 'seconds'],
  bins: [BIN.agent, BIN.controller, BIN.cli],
  plan: ({ common, extra }) => planFor({ quick: common.quick, dossiers: positiveInt(extra.dossiers, 'dossiers'), seconds: positiveInt(extra.seconds, 'seconds') }),
  run: runSyncBench,
  format: formatReport,
  judge,
});

if (isEntryPoint(import.meta.url)) await runAsScript('sync', main, { step: 'phase' });
