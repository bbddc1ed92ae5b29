/**
 * `ffkeeper snapshot copy --site S [--snapshot ID…]`: copies sealed snapshots to the site's secondary
 * repository (by default every one it does not hold yet) with live progress, then says what was copied
 * and what was there already; exits with the job's error code when the copy failed.
 */
import { describeError } from '../../../shared/errors.js';
import { toJson } from '../format.js';
import { checkOutcome, followJob } from '../job-outcome.js';
import { progressOn } from '../progress.js';
import type { JobCommandDeps } from '../terminal.js';
import { formatDuration } from '../units.js';
import { checkId } from '../validate.js';

export interface SnapshotCopyOptions {
  site: string;
  /** Empty: every sealed snapshot not copied yet. */
  snapshots: string[];
  json: boolean;
}

const ids = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

export async function runSnapshotCopy(opts: SnapshotCopyOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  for (const id of opts.snapshots) checkId(id, '--snapshot');
  const display = progressOn(deps.term, opts.json);
  const { first, outcome } = await followJob(
    (onEvent) => deps.api.copySnapshots({ site: opts.site, snapshotIds: opts.snapshots }, onEvent),
    (e) => display?.onEvent(e),
    (id) => `follow it with: ffkeeper jobs logs ${id} --follow`,
  ).finally(() => display?.finish());
  checkOutcome('copy', outcome);
  const durationMs = outcome.time.getTime() - (first ?? outcome).time.getTime();
  let detail: Record<string, unknown> = {};
  try {
    detail = (await deps.api.getJob(outcome.jobId)).detail;
  } catch (err) {
    deps.io.err(`warning: could not fetch job ${outcome.jobId} for its report: ${describeError(err)}`);
  }
  const copied = ids(detail.copied);
  const already = ids(detail.alreadyCopied);
  const where = typeof detail.secondary === 'string' ? detail.secondary : 'the secondary repository';
  if (opts.json) {
    deps.io.out(toJson({ jobId: outcome.jobId, site: outcome.site, phase: 'Completed', durationMs, secondary: where, copied, alreadyCopied: already }));
    return;
  }
  deps.io.out(
    [
      `copied ${copied.length} snapshot(s) of site '${opts.site}' to ${where} in ${formatDuration(durationMs)}${copied.length ? `: ${copied.join(', ')}` : ''}`,
      ...(already.length ? [`already there: ${already.join(', ')}`] : []),
      `  job: ${outcome.jobId}`,
    ].join('\n'),
  );
}
