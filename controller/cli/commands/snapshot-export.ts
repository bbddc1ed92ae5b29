/**
 * `ffkeeper snapshot export ID --site S --to DIR`: writes a sealed snapshot in FindFace's own backup layout
 * (reference 000) into DIR on each of the site's agent hosts, with live progress, then lists what each host
 * wrote and the commands that bring it back with FindFace's tools alone; exits with the job's error code
 * when the export failed.
 */
import path from 'node:path';
import { describeError, ValidationError } from '../../../shared/errors.js';
import { renderTable, toJson } from '../format.js';
import { checkOutcome, followJob } from '../job-outcome.js';
import { progressOn } from '../progress.js';
import type { JobCommandDeps } from '../terminal.js';
import { formatBytes, formatDuration } from '../units.js';
import { checkId } from '../validate.js';

export interface SnapshotExportOptions {
  site: string;
  snapshot: string;
  to: string;
  json: boolean;
}

interface HostFiles {
  host: string;
  dir: string;
  files: { name: string; bytes: number; sha256: string; holds: string }[];
}

function hostsOf(detail: Record<string, unknown>): HostFiles[] {
  return Array.isArray(detail.hosts) ? (detail.hosts as HostFiles[]) : [];
}

export async function runSnapshotExport(opts: SnapshotExportOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  checkId(opts.snapshot, 'the snapshot id');
  if (!path.isAbsolute(opts.to)) throw new ValidationError(`--to '${opts.to}' must be an absolute path (a directory on each of the site's agent hosts)`, { field: 'to' });
  const display = progressOn(deps.term, opts.json);
  const { first, outcome } = await followJob(
    (onEvent) => deps.api.exportSnapshot({ site: opts.site, snapshotId: opts.snapshot, toDir: path.normalize(opts.to) }, onEvent),
    (e) => display?.onEvent(e),
    (id) => `follow it with: ffkeeper jobs logs ${id} --follow`,
  ).finally(() => display?.finish());
  checkOutcome('export', outcome);
  const durationMs = outcome.time.getTime() - (first ?? outcome).time.getTime();
  let hosts: HostFiles[] = [];
  try {
    hosts = hostsOf((await deps.api.getJob(outcome.jobId)).detail);
  } catch (err) {
    deps.io.err(`warning: could not fetch job ${outcome.jobId} for its report: ${describeError(err)}`);
  }
  if (opts.json) {
    deps.io.out(toJson({ jobId: outcome.jobId, site: outcome.site, snapshotId: opts.snapshot, phase: 'Completed', durationMs, hosts }));
    return;
  }
  const rows = hosts.flatMap((h) => h.files.map((f) => [h.host, f.name, formatBytes(f.bytes), f.holds]));
  const files = hosts.flatMap((h) => h.files.map((f) => f.name));
  const galleries = files.filter((f) => f.endsWith('.json') && f !== 'ffkeeper-manifest.json');
  const dumps = files.filter((f) => f.endsWith('_postgres_backup.sql'));
  const archives = files.filter((f) => f.endsWith('.tar.gz'));
  const dir = path.normalize(opts.to);
  deps.io.out(
    [
      `exported snapshot ${opts.snapshot} of site '${opts.site}' into ${dir} on ${hosts.length} host(s) in ${formatDuration(durationMs)}`,
      renderTable(['HOST', 'FILE', 'SIZE', 'HOLDS'], rows),
      "bring it back with FindFace's own tools (reference: Back Up and Recover Data Storages), on the host holding each file:",
      ...(galleries.length ? [`  findface-storage-api-restore -config /etc/findface-sf-api.ini ${dir}/*.json   (not ffkeeper-manifest.json)`] : []),
      ...dumps.map((d) => `  sudo -u postgres psql -d ${d.replace(/_postgres_backup\.sql$/, '')} -f ${dir}/${d}   (after DROP/CREATE DATABASE, as the reference says)`),
      ...archives.map((a) => `  cd / && sudo tar -xvf ${dir}/${a}`),
      `  job: ${outcome.jobId}`,
    ].join('\n'),
  );
}
