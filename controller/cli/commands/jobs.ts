/**
 * `ffkeeper jobs list [--site S] [--limit N]`, `jobs show JOB` and `jobs logs JOB [--follow]`. With
 * `--follow`, `logs` exits with the job's own error code when the job does not complete.
 */
import { isFinal, type JobEvent, type JobRecord } from '../../../shared/jobs.js';
import { renderTable, toJson } from '../format.js';
import { checkOutcome } from '../job-outcome.js';
import { describeProgress } from '../progress.js';
import type { JobCommandDeps } from '../terminal.js';
import { formatDuration, formatLocalTime, formatLocalTimeMs } from '../units.js';
import { checkId } from '../validate.js';

const ERROR_WIDTH = 60;

/** How long a job ran (to its last update once final, to now while it runs). */
function durationOf(j: JobRecord, now: Date): string {
  const end = isFinal(j.phase) ? j.updatedAt : now;
  const d = formatDuration(end.getTime() - j.createdAt.getTime());
  return isFinal(j.phase) ? d : `${d}+`;
}

function errorCell(j: JobRecord): string {
  if (!j.error) return '';
  const text = `${j.error.code}: ${j.error.message}`.replace(/\s+/g, ' ');
  return text.length > ERROR_WIDTH ? `${text.slice(0, ERROR_WIDTH - 1)}…` : text;
}

export interface JobsListOptions {
  site?: string;
  limit?: number;
  json: boolean;
}

/** Runs `jobs list`: ID, KIND, SITE, PHASE, STEP, CREATED, DURATION, ERROR; newest first. */
export async function runJobsList(opts: JobsListOptions, deps: JobCommandDeps): Promise<void> {
  if (opts.site !== undefined) checkId(opts.site, '--site');
  const filter = { ...(opts.site !== undefined ? { site: opts.site } : {}), ...(opts.limit !== undefined ? { limit: opts.limit } : {}) };
  const jobs = await deps.api.listJobs(filter);
  if (opts.json) {
    deps.io.out(toJson(jobs));
    return;
  }
  if (jobs.length === 0) {
    deps.io.out(opts.site !== undefined ? `no jobs for site '${opts.site}'` : 'no jobs');
    return;
  }
  const now = deps.io.now();
  const rows = jobs.map((j) => [j.id, j.kind, j.site, j.phase, j.step, formatLocalTime(j.createdAt), durationOf(j, now), errorCell(j)]);
  deps.io.out(renderTable(['ID', 'KIND', 'SITE', 'PHASE', 'STEP', 'CREATED', 'DURATION', 'ERROR'], rows));
}

export interface JobsShowOptions {
  id: string;
  json: boolean;
}

/** Runs `jobs show`: the record, then its kind-specific detail as indented JSON. */
export async function runJobsShow(opts: JobsShowOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.id, 'job id');
  const j = await deps.api.getJob(opts.id);
  if (opts.json) {
    deps.io.out(toJson(j));
    return;
  }
  const detail = Object.keys(j.detail).length === 0 ? ['detail:   none'] : ['detail:', ...toJson(j.detail).split('\n').map((l) => `  ${l}`)];
  deps.io.out(
    [
      `job ${j.id} (${j.kind}) of site '${j.site}'`,
      `phase:    ${j.phase}`,
      `step:     ${j.step}`,
      `created:  ${formatLocalTime(j.createdAt)}`,
      `updated:  ${formatLocalTime(j.updatedAt)}`,
      `duration: ${durationOf(j, deps.io.now())}`,
      ...(j.controller ? [`run by:   ${j.controller}`] : []),
      ...(j.error ? [`error:    ${j.error.code}: ${j.error.message}`] : []),
      ...detail,
    ].join('\n'),
  );
}

/** One event as a log line: time, step, then the message, progress or outcome. */
export function eventLine(e: JobEvent): string {
  let text: string;
  if (e.outcome) {
    const err = e.outcome.error;
    text = `outcome: ${e.outcome.phase}${err ? ` (${err.code}: ${err.message})` : ''}`;
  } else if (e.progress) {
    text = `${e.progress.component}  ${describeProgress(e.progress)}`;
  } else {
    text = e.message ?? '';
  }
  return `${formatLocalTimeMs(e.time)}  ${e.step || '-'}  ${text}`;
}

export interface JobsLogsOptions {
  id: string;
  /** Keep printing until the job's outcome. */
  follow: boolean;
  json: boolean;
}

/** Runs `jobs logs`: events as lines (`--json`: one JSON object per line). */
export async function runJobsLogs(opts: JobsLogsOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.id, 'job id');
  const last = await deps.api.watchJob(opts.id, opts.follow, (e) => deps.io.out(opts.json ? JSON.stringify(e) : eventLine(e)));
  if (!last) {
    deps.io.err(`job '${opts.id}' has no events yet`);
    return;
  }
  if (opts.follow && last.outcome) checkOutcome('job', last);
}
