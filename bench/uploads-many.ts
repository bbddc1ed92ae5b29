/**
 * Benchmark (issue 14): upload directories with a million small files — full snapshot, +0.1% incrementals,
 * `restic snapshots` after 10 snapshots, each snapshot record's size, restore and the agent's memory,
 * side by side with `restic` alone on the same tree.
 *
 *   npx tsx bench/uploads-many.ts [--quick] [--events N] [--runs N] [--strict] [--results FILE] [--no-results] [--json FILE]
 *
 * Full: 500,000 events (1,000,000 files, about 4.6 GB), 9 incrementals of +0.1%; --quick: 5,000 events
 * (10,000 files), 2 incrementals. The agent is the bin in dist/ (build first). Exit code 0 even on FAIL
 * unless --strict.
 */
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE, positiveInt } from './lib/args.js';
import { benchMain } from './lib/case.js';
import { isEntryPoint, runAsScript } from './lib/entry.js';
import { runManyBench, type ManyPlan } from './uploads-many/measure.js';
import { formatReport, judge } from './uploads-many/report.js';

/** The plan for a mode: full (500,000 events, 9 incrementals) or quick (5,000, 2); `events` overrides the count. */
export function planFor(o: { quick: boolean; events?: number | undefined; runs?: number | undefined }): ManyPlan {
  const base = o.quick ? { events: 5000, addPerMille: 1, incrementals: 2 } : { events: 500_000, addPerMille: 1, incrementals: 9 };
  return { ...base, ...(o.events ? { events: o.events } : {}), ...(o.runs ? { incrementals: o.runs } : {}) };
}

export const main = benchMain({
  name: 'uploads-many',
  section: { id: 'uploads-many', title: 'Upload directories with a million small files' },
  usage: [
    'usage: npx tsx bench/uploads-many.ts [flags]',
    COMMON_USAGE,
    '  --events N       events written before the first snapshot, two files each (default 500,000, quick 5,000)',
    '  (--runs N: incremental snapshots after the full one; default 9, quick 2)',
  ].join('\n'),
  flags: ['events'],
  bins: [BIN.agent, BIN.controller, BIN.cli],
  plan: ({ common, extra }) => planFor({ ...common, events: positiveInt(extra.events, 'events') }),
  run: runManyBench,
  format: formatReport,
  judge,
  quickLabel: (p) => `quick (${(p.events * 2).toLocaleString('en-US')} files)`,
});

if (isEntryPoint(import.meta.url)) await runAsScript('uploads-many', main);
