/**
 * Benchmark: repository backends (issue 20) — the agent's upload-directory and PostgreSQL backups into a
 * REST repository (`rclone serve restic --append-only` over TLS on loopback: where agents write when the
 * repository is off the host), an SFTP one (OpenSSH sshd, password login) and an S3 one (s3rver over TLS), side by side with restic
 * alone into the same server: `restic backup DIR` and `pg_dump | restic backup --stdin`. Target: the agent
 * ≥ 0.9× restic alone, for each.
 *
 *   npx tsx bench/backends.ts [--quick] [--runs N] [--strict] [--results FILE] [--no-results] [--json FILE]
 *
 * The same engines as the uploads and postgres cases (bench/uploads, bench/postgres), with their
 * repositories on the REST server instead of local directories. Full: 1,000 files of 200 kB (200 MB) and
 * a dev site grown to 20,000 dossiers / 200,000 events, 3 rounds each; --quick: 100 files, 500 / 5,000, 2 rounds.
 * S3 is s3rver over TLS (test/harness/s3-server.ts: no S3 server is packaged in Debian 12).
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
const BACKENDS = ['rest', 'sftp', 's3'] as const;
type Backend = (typeof BACKENDS)[number];
const NAMES: Record<Backend, string> = { rest: 'REST', sftp: 'SFTP', s3: 'S3' };

interface BackendsPlan {
  uploads: Omit<UploadsPlan, 'backend'>;
  postgres: Omit<PostgresPlan, 'backend'>;
}

type BackendsResult = Record<Backend, { uploads: UploadsBenchResult; postgres: PostgresBenchResult }>;

interface BackendsVerdict {
  pass: boolean;
  ratios: Record<Backend, { uploads: number; postgres: number }>;
  reasons: string[];
}

export function planFor(o: { quick: boolean; runs?: number | undefined }): BackendsPlan {
  const runs = o.runs ?? (o.quick ? 2 : 3);
  return {
    uploads: { files: o.quick ? 100 : 1000, fileBytes: 200_000, addFiles: o.quick ? 1 : 10, runs },
    postgres: o.quick
      ? { site: { dossiers: 10, events: 20 }, grow: { dossiers: 500, events: 5_000 }, runs }
      : { site: { dossiers: 50, events: 200 }, grow: { dossiers: 20_000, events: 200_000 }, runs },
  };
}

async function run(plan: BackendsPlan, env: BenchEnv): Promise<BackendsResult> {
  const result: Partial<BackendsResult> = {};
  for (const backend of BACKENDS) {
    const uploads = await runUploadsBench({ ...plan.uploads, backend }, { ...env, log: (l) => env.log(`${backend} uploads: ${l}`) });
    const postgres = await runPostgresBench({ ...plan.postgres, backend }, { ...env, log: (l) => env.log(`${backend} postgres: ${l}`) });
    result[backend] = { uploads, postgres };
  }
  return result as BackendsResult;
}

function judge(r: BackendsResult): BackendsVerdict {
  const reasons: string[] = [];
  const ratios = {} as BackendsVerdict['ratios'];
  for (const b of BACKENDS) {
    const uploads = speedup(r[b].uploads.backup.agent, r[b].uploads.backup.restic);
    const postgres = speedup(r[b].postgres.backup.agent, r[b].postgres.backup.resticStdin);
    ratios[b] = { uploads, postgres };
    if (!(uploads >= BAR)) reasons.push(`${NAMES[b]} uploads: agent at ${uploads.toFixed(2)}× restic alone (target ≥ ${BAR}×)`);
    if (!(postgres >= BAR)) reasons.push(`${NAMES[b]} PostgreSQL: agent at ${postgres.toFixed(2)}× pg_dump | restic backup --stdin (target ≥ ${BAR}×)`);
    const problems = [...r[b].uploads.problems, ...r[b].postgres.problems];
    if (problems.length > 0) reasons.push(`${NAMES[b]}: ${problems.length} problem(s): ${problems.join('; ')}`);
    if (r[b].uploads.aborted || r[b].postgres.aborted) reasons.push(`${NAMES[b]}: stopped early`);
  }
  return { pass: reasons.length === 0, ratios, reasons };
}

/** The engines' own sections, two heading levels down. */
const demote = (markdown: string): string => markdown.replace(/^## /gm, '#### ');

function format(r: BackendsResult, machine: MachineInfo, mode: string): string {
  const v = judge(r);
  const lines = [
    '## Repository backends: REST, SFTP and S3 (issue 20)',
    '',
    `- Date: ${r.rest.uploads.startedAt.toISOString()} · mode: ${mode}`,
    `- Machine: ${formatMachine(machine)}`,
    '- Each backend on loopback; the agent and restic alone write to the same server, each into a fresh repository per round; the agent is sent the parents the controller would send (none: fresh repositories).',
    `- Backends: ${BACKENDS.map((b) => r[b].uploads.backend ?? b).join('; ')}.`,
    '',
  ];
  for (const b of BACKENDS) {
    lines.push(barLine(`${NAMES[b]}: uploads backup, agent vs restic backup`, v.ratios[b].uploads, { op: '≥', target: BAR }).line);
    lines.push(barLine(`${NAMES[b]}: PostgreSQL backup, agent vs pg_dump | restic backup --stdin`, v.ratios[b].postgres, { op: '≥', target: BAR }).line);
  }
  lines.push('', `**${v.pass ? 'PASS' : 'FAIL'}**${v.reasons.length > 0 ? `: ${v.reasons.join('; ')}` : ''}`, '');
  for (const b of BACKENDS) {
    lines.push(`### ${NAMES[b]}`, '', demote(formatUploads(r[b].uploads, machine, mode)), '', demote(formatPostgres(r[b].postgres, machine, mode)), '');
  }
  return lines.join('\n');
}

export const main = benchMain({
  name: 'backends',
  section: { id: 'backends', title: 'Repository backends: REST, SFTP and S3' },
  usage: ['usage: npx tsx bench/backends.ts [flags]', COMMON_USAGE].join('\n'),
  bins: [BIN.agent],
  plan: ({ common }) => planFor(common),
  run,
  format,
  judge,
  quickLabel: (p) => quickWithRounds(p.uploads),
});

if (isEntryPoint(import.meta.url)) await runAsScript('backends', main);
