/**
 * Benchmark: repository backends (issue 20) — the agent's upload-directory and PostgreSQL backups into a
 * REST repository (`rclone serve restic --append-only` over TLS on loopback: where agents write when the
 * repository is off the host), side by side with restic alone into the same server: `restic backup DIR`
 * and `pg_dump | restic backup --stdin`. Target: the agent ≥ 0.9× restic alone, for each.
 *
 *   npx tsx bench/backends.ts [--quick] [--runs N] [--strict] [--results FILE] [--no-results] [--json FILE]
 *
 * The same engines as the uploads and postgres cases (bench/uploads, bench/postgres), with their
 * repositories on the REST server instead of local directories. Full: 1,000 files of 200 kB (200 MB) and
 * a dev site grown to 20,000 dossiers / 200,000 events, 3 rounds each; --quick: 100 files, 500 / 5,000, 2 rounds.
 * SFTP and S3 are not measured: ffkeeper does not test those backends yet (README, "Known limits").
 */
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE } from './lib/args.js';
import { benchMain, quickWithRounds } from './lib/case.js';
import { isEntryPoint, runAsScript } from './lib/entry.js';
import { formatMachine, type MachineInfo } from './lib/machine.js';
import { runPostgresBench, type PostgresBenchResult, type PostgresPlan } from './postgres/measure.js';
import { formatReport as formatPostgres } from './postgres/report.js';
import { barLine } from './throughput/format.js';
import { speedup } from './throughput/series.js';
import { runUploadsBench, type UploadsBenchResult, type UploadsPlan } from './uploads/measure.js';
import { formatReport as formatUploads } from './uploads/report.js';
import type { BenchEnv } from './lib/case.js';

const BAR = 0.9;

interface BackendsPlan {
  uploads: UploadsPlan;
  postgres: PostgresPlan;
}

interface BackendsResult {
  uploads: UploadsBenchResult;
  postgres: PostgresBenchResult;
}

interface BackendsVerdict {
  pass: boolean;
  uploads: number;
  postgres: number;
  reasons: string[];
}

export function planFor(o: { quick: boolean; runs?: number | undefined }): BackendsPlan {
  const runs = o.runs ?? (o.quick ? 2 : 3);
  return {
    uploads: { files: o.quick ? 100 : 1000, fileBytes: 200_000, addFiles: o.quick ? 1 : 10, runs, backend: 'rest' },
    postgres: o.quick
      ? { site: { dossiers: 10, events: 20 }, grow: { dossiers: 500, events: 5_000 }, runs, backend: 'rest' }
      : { site: { dossiers: 50, events: 200 }, grow: { dossiers: 20_000, events: 200_000 }, runs, backend: 'rest' },
  };
}

async function run(plan: BackendsPlan, env: BenchEnv): Promise<BackendsResult> {
  const uploads = await runUploadsBench(plan.uploads, { ...env, log: (l) => env.log(`uploads: ${l}`) });
  const postgres = await runPostgresBench(plan.postgres, { ...env, log: (l) => env.log(`postgres: ${l}`) });
  return { uploads, postgres };
}

function judge(r: BackendsResult): BackendsVerdict {
  const uploads = speedup(r.uploads.backup.agent, r.uploads.backup.restic);
  const postgres = speedup(r.postgres.backup.agent, r.postgres.backup.resticStdin);
  const reasons: string[] = [];
  if (!(uploads >= BAR)) reasons.push(`uploads: agent at ${uploads.toFixed(2)}× restic alone (target ≥ ${BAR}×)`);
  if (!(postgres >= BAR)) reasons.push(`PostgreSQL: agent at ${postgres.toFixed(2)}× pg_dump | restic backup --stdin (target ≥ ${BAR}×)`);
  const problems = [...r.uploads.problems, ...r.postgres.problems];
  if (problems.length > 0) reasons.push(`${problems.length} problem(s): ${problems.join('; ')}`);
  if (r.uploads.aborted || r.postgres.aborted) reasons.push('stopped early');
  return { pass: reasons.length === 0, uploads, postgres, reasons };
}

/** The engines' own sections, one heading level down. */
const demote = (markdown: string): string => markdown.replace(/^## /gm, '### ');

function format(r: BackendsResult, machine: MachineInfo, mode: string): string {
  const v = judge(r);
  const up = barLine('uploads backup, agent vs restic backup (same REST server)', v.uploads, { op: '≥', target: BAR });
  const pg = barLine('PostgreSQL backup, agent vs pg_dump | restic backup --stdin (same REST server)', v.postgres, { op: '≥', target: BAR });
  return [
    '## Repository backends: REST (issue 20)',
    '',
    `- Date: ${r.uploads.startedAt.toISOString()} · mode: ${mode}`,
    `- Machine: ${formatMachine(machine)}`,
    `- Backend: ${r.uploads.backend ?? '?'}; the agent and restic alone write to the same server, each into a fresh repository per round.`,
    '- SFTP and S3: not measured (not tested by ffkeeper yet).',
    '',
    up.line,
    pg.line,
    '',
    `**${v.pass ? 'PASS' : 'FAIL'}**${v.reasons.length > 0 ? `: ${v.reasons.join('; ')}` : ''}`,
    '',
    demote(formatUploads(r.uploads, machine, mode)),
    '',
    demote(formatPostgres(r.postgres, machine, mode)),
  ].join('\n');
}

export const main = benchMain({
  name: 'backends',
  section: { id: 'backends', title: 'Repository backends: REST' },
  usage: ['usage: npx tsx bench/backends.ts [flags]', COMMON_USAGE].join('\n'),
  bins: [BIN.agent],
  plan: ({ common }) => planFor(common),
  run,
  format,
  judge,
  quickLabel: (p) => quickWithRounds(p.uploads),
});

if (isEntryPoint(import.meta.url)) await runAsScript('backends', main);
