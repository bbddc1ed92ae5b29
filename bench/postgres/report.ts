/**
 * The PostgreSQL section of bench/RESULTS.md (case 2 and case 4 for PostgreSQL): the agent's snapshot
 * of the database against `pg_dump > file` and `pg_dump | restic backup --stdin`, and its restore by
 * FindFace's sequence against `createdb` + `psql -f` and `createdb` + `restic dump | psql`. Issue 7 sets
 * no bar for these: the ratios are reported.
 */
import { formatMachine, type MachineInfo } from '../lib/machine.js';
import { fmtBytes, fmtCount, fmtRatio, loadLine, resticOpenLine, seriesTable, stepsLine, timeSplitLine } from '../throughput/format.js';
import { speedup } from '../throughput/series.js';
import type { PostgresBenchResult } from './measure.js';

export interface PostgresVerdict {
  /** The bench ran every run and every restored database matched (no bar on the speed). */
  pass: boolean;
  /** ffkeeper's backup speed over `pg_dump > file`'s. */
  backupVsPgDump: number;
  backupVsResticStdin: number;
  restoreVsPsql: number;
  restoreVsResticDump: number;
  reasons: string[];
}

export function judge(r: PostgresBenchResult): PostgresVerdict {
  const reasons: string[] = [];
  if (r.problems.length > 0) reasons.push(`${r.problems.length} problem(s)`);
  if (r.aborted) reasons.push('stopped early');
  return {
    pass: reasons.length === 0,
    backupVsPgDump: speedup(r.backup.agent, r.backup.pgDump),
    backupVsResticStdin: speedup(r.backup.agent, r.backup.resticStdin),
    restoreVsPsql: speedup(r.restore.agent, r.restore.psql),
    restoreVsResticDump: speedup(r.restore.agent, r.restore.resticDump),
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
    `- ffkeeper agent vs pg_dump > file: **${fmtRatio(v.backupVsPgDump)}**; vs pg_dump | restic backup --stdin: **${fmtRatio(v.backupVsResticStdin)}** (issue 7 sets no bar; reported)`,
    timeSplitLine("Where the agent's snapshot goes", r.agentSplits),
    resticOpenLine(r.resticOpen),
    '',
    '### Restore (case 4, PostgreSQL)',
    '',
    ...seriesTable([s.agent, s.psql, s.resticDump], s.agent),
    '',
    `- ffkeeper agent vs createdb + psql -f: **${fmtRatio(v.restoreVsPsql)}**; vs createdb + restic dump | psql: **${fmtRatio(v.restoreVsResticDump)}** (the agent's time includes the whole documented sequence)`,
    stepsLine("The agent's last restore, step by step", r.agentRestoreSteps),
    loadLine(r.loadAverages, machine.cpus),
    `- Problems: ${r.problems.length === 0 ? 'none (every restored database had the rows of the backup)' : r.problems.join('; ')}`,
    '',
    `**Verdict: ${v.pass ? 'PASS (no bar; ratios reported)' : `FAIL (${v.reasons.join('; ')})`}**`,
  ].join('\n');
}
