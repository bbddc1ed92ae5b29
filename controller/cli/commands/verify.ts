/**
 * `ffkeeper verify --site S [--snapshot ID] [--read-data]`: verifies a snapshot (repository check,
 * restore drill into sandboxes, integrity check on them) with live progress, prints the result per step,
 * and exits with the job's error code when the verification failed (8, illegal state, for a finding about
 * the snapshot; 5/6/7 when an agent or the repository could not be reached, or it was cancelled).
 * Also the formatting `snapshot list/show` use for a snapshot's latest verification.
 */
import { describeError } from '../../../shared/errors.js';
import type { JobRecord } from '../../../shared/jobs.js';
import type { Verification } from '../../../shared/verification.js';
import { renderTable, toJson } from '../format.js';
import { checkOutcome, followJob } from '../job-outcome.js';
import { progressOn } from '../progress.js';
import type { JobCommandDeps } from '../terminal.js';
import { formatDuration, formatLocalTime } from '../units.js';
import { checkId } from '../validate.js';
import { fromFlag } from './restore-args.js';

export interface VerifyOptions {
  site: string;
  /** Default: the site's newest sealed snapshot. */
  snapshot?: string;
  readData: boolean;
  /** `--from secondary`: verify the copy in the site's secondary repository. */
  from?: string;
  json: boolean;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** The VERIFIED column of `snapshot list`: `ok 11-21 20:14`, `FAILED 11-21 20:14`, or `-`. */
export function verifiedCell(v: Verification | undefined): string {
  if (!v) return '-';
  const t = v.time;
  return `${v.ok ? 'ok' : 'FAILED'} ${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

/** A verification for people: the verdict, then one row per step. */
export function verificationLines(v: Verification): string[] {
  const head = `verification of snapshot ${v.snapshotId} (site '${v.site}'): ${v.ok ? 'OK' : 'FAILED'} at ${formatLocalTime(v.time)}` +
    ` in ${formatDuration(v.durationMs)}, read data: ${v.readData ? 'yes' : 'no'}, job ${v.jobId}`;
  const rows = v.steps.map((s) => [s.name, s.host ?? '', s.ok ? 'ok' : 'FAILED', formatDuration(s.durationMs), s.detail.split('\n')[0] ?? '']);
  const lines = [head, renderTable(['STEP', 'HOST', 'RESULT', 'TIME', 'DETAIL'], rows)];
  if (v.integrity) lines.push(`integrity (${v.integrity.host}): ${v.integrity.errors} errors, ${v.integrity.warnings} warnings`);
  if (v.error) lines.push(`error: ${v.error}`);
  return lines;
}

/** The verification a verify job recorded in its detail (JSON: its time is a string there). */
export function verificationOf(record: JobRecord): Verification | undefined {
  const v = record.detail.verification as (Omit<Verification, 'time'> & { time: string | Date }) | undefined;
  if (!v || typeof v !== 'object' || !Array.isArray(v.steps)) return undefined;
  return { ...v, time: new Date(v.time) };
}

/** Runs `verify`. */
export async function runVerify(opts: VerifyOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  if (opts.snapshot !== undefined) checkId(opts.snapshot, '--snapshot');
  const req = { site: opts.site, readData: opts.readData, ...(opts.snapshot === undefined ? {} : { snapshotId: opts.snapshot }), ...fromFlag(opts.from) };
  const display = progressOn(deps.term, opts.json);
  const { outcome } = await followJob(
    (onEvent) => deps.api.verify(req, onEvent),
    (e) => display?.onEvent(e),
    (id) => `follow it with: ffkeeper jobs logs ${id} --follow`,
  ).finally(() => display?.finish());
  let record: JobRecord | undefined;
  try {
    record = await deps.api.getJob(outcome.jobId);
  } catch (err) {
    deps.io.err(`warning: could not fetch job ${outcome.jobId} for its report: ${describeError(err)}`);
  }
  const verification = record ? verificationOf(record) : undefined;
  if (opts.json) deps.io.out(toJson({ jobId: outcome.jobId, site: outcome.site, phase: outcome.outcome?.phase ?? outcome.phase, verification: verification ?? null }));
  else if (verification) deps.io.out(verificationLines(verification).join('\n'));
  checkOutcome('verify', outcome);
}
