/**
 * `ffkeeper snapshot import --site S --from DIR`: brings an export in FindFace's backup layout (DIR on each
 * of the site's agent hosts, as `snapshot export` or FindFace's own tools write it) into the site's
 * repository as a new sealed snapshot, with live progress, then prints its id, what each host stored and how
 * to restore it; exits with the job's error code when the import failed (no snapshot appears then).
 */
import path from 'node:path';
import { describeError, ValidationError } from '../../../shared/errors.js';
import { renderTable, toJson } from '../format.js';
import { checkOutcome, followJob } from '../job-outcome.js';
import { progressOn } from '../progress.js';
import type { JobCommandDeps } from '../terminal.js';
import { formatBytes, formatDuration } from '../units.js';
import { checkId } from '../validate.js';

export interface SnapshotImportOptions {
  site: string;
  from: string;
  reason: string;
  json: boolean;
}

interface ImportedComponent {
  host: string;
  component: string;
  bytes: number;
  files: number;
}

export async function runSnapshotImport(opts: SnapshotImportOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  if (!path.isAbsolute(opts.from)) throw new ValidationError(`--from '${opts.from}' must be an absolute path (a directory on each of the site's agent hosts)`, { field: 'from' });
  const fromDir = path.normalize(opts.from);
  const display = progressOn(deps.term, opts.json);
  const { first, outcome } = await followJob(
    (onEvent) => deps.api.importSnapshot({ site: opts.site, fromDir, reason: opts.reason }, onEvent),
    (e) => display?.onEvent(e),
    (id) => `follow it with: ffkeeper jobs logs ${id} --follow`,
  ).finally(() => display?.finish());
  checkOutcome('import', outcome);
  const durationMs = outcome.time.getTime() - (first ?? outcome).time.getTime();
  let snapshotId = '';
  let components: ImportedComponent[] = [];
  try {
    const detail = (await deps.api.getJob(outcome.jobId)).detail;
    snapshotId = typeof detail.snapshotId === 'string' ? detail.snapshotId : '';
    components = Array.isArray(detail.components) ? (detail.components as ImportedComponent[]) : [];
  } catch (err) {
    deps.io.err(`warning: could not fetch job ${outcome.jobId} for its report: ${describeError(err)}`);
  }
  if (opts.json) {
    deps.io.out(toJson({ jobId: outcome.jobId, site: outcome.site, snapshotId, fromDir, phase: 'Completed', durationMs, components }));
    return;
  }
  deps.io.out(
    [
      `imported ${fromDir} into site '${opts.site}' as snapshot ${snapshotId || '(see the job)'} in ${formatDuration(durationMs)}`,
      renderTable(
        ['HOST', 'COMPONENT', 'SIZE', 'FILES'],
        components.map((c) => [c.host, c.component, formatBytes(c.bytes), String(c.files)]),
      ),
      ...(snapshotId ? [`restore it with: ffkeeper restore --site ${opts.site} --snapshot ${snapshotId}`] : []),
      `  job: ${outcome.jobId}`,
    ].join('\n'),
  );
}
