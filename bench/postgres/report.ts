/**
 * The PostgreSQL section of bench/RESULTS.md (case 2 and case 4 for PostgreSQL): the agent's snapshot
 * of the database against `pg_dump > file` and `pg_dump | restic backup --stdin`, and its restore by
 * FindFace's sequence against `createdb` + `psql -f` and `createdb` + `restic dump | psql`. Issue 14's
 * bars: the backup ≥ 0.9× `pg_dump | restic backup --stdin`, the restore's load step ≥ 0.9× `restic dump |
 * psql` (the sequence's other steps reported apart); the other ratios are reported.
 */
import { formatMachine, type MachineInfo } from '../lib/machine.js';
import { fmtBytes, fmtCount, fmtRatio, loadLine, resticOpenLine, seriesTable, stepsLine, timeSplitLine } from '../throughput/format.js';
import { median } from '../lib/stats.js';
import { speedup } from '../throughput/series.js';
import type { PostgresBenchResult } from './measure.js';

/** Issue 14's bars. */
export const BARS = { backupVsResticStdin: 0.9, loadVsResticDump: 0.9 } as const;

export interface PostgresVerdict {
  pass: boolean;
  /** ffkeeper's backup speed over `pg_dump > file`'s. */
  backupVsPgDump: number;
  backupVsResticStdin: number;
  restoreVsPsql: number;
  restoreVsResticDump: number;
  /** The agent's load step (last restore) against `restic dump | psql`: median time of the peer over the step's. */
  loadVsResticDump: number;
  reasons: string[];
}

/** The load step of the agent's last restore, ms (NaN when it was not reported). */
function loadStepMs(r: PostgresBenchResult): number {
  return r.agentRestoreSteps.find((x) => x.step.startsWith('load '))?.ms ?? Number.NaN;
}

export function judge(r: PostgresBenchResult): PostgresVerdict {
  const reasons: string[] = [];
  const backupVsResticStdin = speedup(r.backup.agent, r.backup.resticStdin);
  const loadVsResticDump = median(r.restore.resticDump.ms) / loadStepMs(r);
  if (!(backupVsResticStdin >= BARS.backupVsResticStdin)) reasons.push(`backup at ${fmtRatio(backupVsResticStdin)} pg_dump | restic backup --stdin (target ≥ ${BARS.backupVsResticStdin}×)`);
  if (!(loadVsResticDump >= BARS.loadVsResticDump)) reasons.push(`restore's load step at ${fmtRatio(loadVsResticDump)} restic dump | psql (target ≥ ${BARS.loadVsResticDump}×)`);
  if (r.problems.length > 0) reasons.push(`${r.problems.length} problem(s)`);
  if (r.aborted) reasons.push('stopped early');
  return {
    pass: reasons.length === 0,
    backupVsPgDump: speedup(r.backup.agent, r.backup.pgDump),
    backupVsResticStdin,
    restoreVsPsql: speedup(r.restore.agent, r.restore.psql),
    restoreVsResticDump: speedup(r.restore.agent, r.restore.resticDump),
    loadVsResticDump,
    reasons,
  };
}

function preamble(r: PostgresBenchResult, machine: MachineInfo, mode: string): string[] {
  const p = r.plan;
  const rows = r.rows;
  return [
    '## PostgreSQL: backup and restore (cases 2, 4)',
    '',
    `- Date: ${r.startedAt.toISOString()} · mode: ${mode} · took ${(r.durationMs / 60_000).toFixed(1)} min${r.aborted ? ' · **stopped early**' : ''}`,
    `- Machine: ${formatMachine(machine)}`,
    `- Data: a dev site's database (FindFace-like schema, ${fmtCount(p.site.dossiers)} dossiers and ${fmtCount(p.site.events)} events loaded by the dev site, grown in SQL by ${fmtCount(p.grow.dossiers)} dossiers and ${fmtCount(p.grow.events)} events of the same shape): ` +
      `${fmtCount(rows.dossiers)} dossiers, ${fmtCount(rows.faces)} faces, ${fmtCount(rows.events)} events; ${fmtBytes(r.databaseBytes)} on disk, plain dump ${fmtBytes(r.dumpBytes)}. MB/s = dump MB per second.`,
    `- Method: ${p.runs} rounds, each running every variant once in an order rotated per round (ffkeeper and its peers interleaved). ` +
      "ffkeeper = the site's `db` agent as a real process (`dist/bin/ffkeeper-agent.mjs`) driven over gRPC: Prepare → Freeze (pgbouncer PAUSE) → Cut (exported snapshot) → Thaw → Upload (`pg_dump --format=plain --snapshot` streamed into a fresh restic repository; no parent sent, as the controller sends none for a repository's first snapshot), timed from Prepare to the Upload result. " +
      'Peers: `pg_dump > file` (FindFace\'s documented backup, same plain format), and `pg_dump | restic backup --stdin` into a fresh repository. ' +
      "Restore: the agent's Restore of the last round's snapshot, in place — FindFace's documented sequence through the site's systemctl/findface-security shims (stop app and pgbouncer, DROP, CREATE … TEMPLATE template0, start pgbouncer, `psql --single-transaction` fed from the repository, migrate/create_groups/create_default_user, start app — this last start is held by a wrapper: the dev site's app is its writer, which would change the rows before they are counted), timed as the Restore call; " +
      'against `CREATE DATABASE` + `psql -X -v ON_ERROR_STOP=1 --single-transaction -f dump.sql` and `CREATE DATABASE` + `restic dump | psql …` into a scratch database (the load alone: no units stopped or started). Every restored database is counted against the rows at the backup.',
    '',
  ];
}

/** The whole section, markdown. */
export function formatReport(r: PostgresBenchResult, machine: MachineInfo, mode: string): string {
  const v = judge(r);
  const b = r.backup;
  const s = r.restore;
  return [
    ...preamble(r, machine, mode),
    '### Backup (case 2)',
    '',
    ...seriesTable([b.agent, b.pgDump, b.resticStdin], b.agent),
    '',
    `- ffkeeper agent vs pg_dump | restic backup --stdin: **${fmtRatio(v.backupVsResticStdin)}** (target ≥ ${fmtRatio(BARS.backupVsResticStdin)}): ${v.backupVsResticStdin >= BARS.backupVsResticStdin ? 'PASS' : 'FAIL'}; vs pg_dump > file: ${fmtRatio(v.backupVsPgDump)} (reported)`,
    timeSplitLine(
      "Where the agent's snapshot goes",
      r.agentSplits,
      ' (the agent starts its `restic backup --stdin` at Prepare, where restic opens the repository beside the database checks; the dump reaches it after the Thaw: its time spans the cut protocol)',
    ),
    resticOpenLine(r.resticOpen),
    '',
    '### Restore (case 4, PostgreSQL)',
    '',
    ...seriesTable([s.agent, s.psql, s.resticDump], s.agent),
    '',
    `- The agent's load step vs createdb + restic dump | psql: **${fmtRatio(v.loadVsResticDump)}** (target ≥ ${fmtRatio(BARS.loadVsResticDump)}): ${v.loadVsResticDump >= BARS.loadVsResticDump ? 'PASS' : 'FAIL'}`,
    `- The agent's whole restore vs createdb + psql -f: ${fmtRatio(v.restoreVsPsql)}; vs createdb + restic dump | psql: ${fmtRatio(v.restoreVsResticDump)} (the agent's time includes the whole documented sequence, step by step below)`,
    stepsLine("The agent's last restore, step by step", r.agentRestoreSteps),
    loadLine(r.loadAverages, machine.cpus),
    `- Problems: ${r.problems.length === 0 ? 'none (every restored database had the rows of the backup)' : r.problems.join('; ')}`,
    '',
    `**Verdict: ${v.pass ? 'PASS' : `FAIL (${v.reasons.join('; ')})`}**`,
  ].join('\n');
}
