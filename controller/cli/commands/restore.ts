/**
 * `ffkeeper restore --site S (--snapshot ID | --before TIME | --latest) [--component K…] [--to-site T]
 * [--no-safety-snapshot] [--yes]` and `ffkeeper restore --resume JOB`: prints the plan, asks, runs the
 * restore with progress and ends with the integrity report and the safety snapshot id (from the job's
 * detail, fetched at the end).
 */
import { z } from 'zod';
import { IllegalStateError, ValidationError, describeError } from '../../../shared/errors.js';
import type { JobEvent, JobRecord } from '../../../shared/jobs.js';
import type { OnJobEvent, RestorePlan } from '../api.js';
import { renderTable, toJson } from '../format.js';
import { checkOutcome, followJob } from '../job-outcome.js';
import { progressOn } from '../progress.js';
import { confirmAction, type JobCommandDeps } from '../terminal.js';
import { formatDowntime } from '../../../shared/duration.js';
import { formatBytes, formatDuration, formatLocalTime } from '../units.js';
import { checkResumeAlone, restoreArgsOf, type RestoreOptions } from './restore-args.js';

export { parseRestoreTime, restoreArgsOf, type RestoreOptions } from './restore-args.js';

/** The plan, for people. */
export function planLines(plan: RestorePlan): string[] {
  const s = plan.snapshot;
  const into = plan.targetSite === s.site ? `into its own site '${s.site}'` : `from site '${s.site}' into site '${plan.targetSite}'`;
  return [
    `restore plan: snapshot ${s.id} (taken ${formatLocalTime(s.createdAt)}, ${formatBytes(s.bytes)}) ${into}`,
    plan.safetySnapshot
      ? `safety snapshot: yes, the current state of '${plan.targetSite}' is snapshotted first`
      : `safety snapshot: NO (--no-safety-snapshot): the current state of '${plan.targetSite}' will be lost`,
    'steps:',
    renderTable(['HOST', 'COMPONENT', 'ACTION'], plan.steps.map((st) => [st.host, st.component, st.action])),
  ];
}

const reportSchema = z.object({
  host: z.string().optional(),
  configured: z.boolean().optional(),
  ok: z.boolean(),
  errors: z.number(),
  warnings: z.number().optional(),
  summary: z.string().optional(),
});
type IntegrityReport = z.infer<typeof reportSchema>;
const integritySchema = z.union([reportSchema, z.array(reportSchema)]);

function integrityLines(detail: Record<string, unknown>): string[] {
  if (detail.integrity === undefined) return ['integrity: not reported (the job recorded no integrity check)'];
  const parsed = integritySchema.safeParse(detail.integrity);
  if (!parsed.success) return [`integrity: unreadable report in the job detail: ${toJson(detail.integrity)}`];
  const reports: IntegrityReport[] = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
  return reports.flatMap((r) => {
    const where = r.host ? ` (${r.host})` : '';
    if (r.configured === false) return [`integrity${where}: no check configured`];
    const head = `integrity${where}: ${r.ok ? 'OK' : 'FAILED'}, ${r.errors} errors, ${r.warnings ?? 0} warnings`;
    return [head, ...(r.summary ? r.summary.trimEnd().split('\n').map((l) => `  ${l}`) : [])];
  });
}

/** `writers stopped for 4.2 s of a 3 min 10 s restore` (the site's downtime), or that they never were. */
function downtimeLine(detail: Record<string, unknown>, durationMs: number): string {
  const stopped = typeof detail.writersStoppedMs === 'number' ? detail.writersStoppedMs : undefined;
  if (stopped === undefined) return 'writers stopped: not reported';
  if (stopped === 0) return 'writers: never stopped';
  return formatDowntime(stopped, durationMs);
}

/** The end of a restore, for people: what was restored, the safety snapshot, the integrity report. */
export function reportLines(record: JobRecord, durationMs: number): string[] {
  const d = record.detail;
  const safety = typeof d.safetySnapshotId === 'string' && d.safetySnapshotId ? d.safetySnapshotId : undefined;
  const snapshot = typeof d.snapshotId === 'string' ? ` from snapshot ${d.snapshotId}` : '';
  return [
    `restore job ${record.id} of site '${record.site}' ${record.phase} in ${formatDuration(durationMs)}${snapshot}`,
    safety
      ? `safety snapshot: ${safety} (roll back with: ffkeeper restore --site ${record.site} --snapshot ${safety})`
      : 'safety snapshot: none',
    downtimeLine(d, durationMs),
    ...integrityLines(d),
  ];
}

/** Runs a restore job stream with a progress display; prints the report; throws if it did not complete. */
async function follow(
  start: (onEvent: OnJobEvent) => Promise<JobEvent>,
  deps: JobCommandDeps,
  opts: { json: boolean; plan?: RestorePlan },
): Promise<void> {
  const display = progressOn(deps.term, opts.json);
  const hint = (id: string): string => `follow it with: ffkeeper jobs logs ${id} --follow; continue it with: ffkeeper restore --resume ${id}`;
  const { first, outcome } = await followJob(start, (e) => display?.onEvent(e), hint).finally(() => display?.finish());
  const durationMs = outcome.time.getTime() - (first ?? outcome).time.getTime();
  let record: JobRecord | undefined;
  try {
    record = await deps.api.getJob(outcome.jobId);
  } catch (err) {
    deps.io.err(`warning: could not fetch job ${outcome.jobId} for its report: ${describeError(err)}`);
  }
  if (opts.json) deps.io.out(toJson({ plan: opts.plan ?? null, job: record ?? null, durationMs }));
  else if (record) deps.io.out(reportLines(record, durationMs).join('\n'));
  // Only a failure in the middle can be resumed; a refused plan or a failed integrity check cannot.
  const resumable = (outcome.outcome?.phase ?? outcome.phase) === 'Failed';
  const said = (outcome.outcome?.error?.message ?? '').includes(`--resume ${outcome.jobId}`);
  checkOutcome('restore', outcome, resumable && !said ? `continue it with: ffkeeper restore --resume ${outcome.jobId}` : undefined);
}

/** Where text for the person goes: stdout, or stderr when stdout carries JSON. */
function say(deps: JobCommandDeps, json: boolean): (text: string) => void {
  return json ? (text) => deps.io.err(text) : (text) => deps.io.out(text);
}

async function runResume(opts: RestoreOptions, deps: JobCommandDeps): Promise<void> {
  const jobId = checkResumeAlone(opts);
  const record = await deps.api.getJob(jobId);
  if (record.kind !== 'restore') {
    throw new ValidationError(`job '${jobId}' is a ${record.kind} job: only restore jobs can be resumed`, { field: 'resume' });
  }
  if (opts.site !== undefined && opts.site !== record.site) {
    throw new ValidationError(`job '${jobId}' restores site '${record.site}', not --site '${opts.site}'`, { field: 'site' });
  }
  if (record.phase === 'Completed') {
    throw new IllegalStateError(`restore job '${jobId}' of site '${record.site}' already completed: nothing to resume`);
  }
  const why = record.error ? ` (${record.error.code}: ${record.error.message})` : '';
  say(deps, opts.json)(`restore job ${jobId} of site '${record.site}' stopped at step '${record.step}', phase ${record.phase}${why}`);
  await confirmAction(deps.term, { yes: opts.yes, action: `resume restore job '${jobId}' of site '${record.site}'` });
  await follow((onEvent) => deps.api.resumeRestore(jobId, onEvent), deps, { json: opts.json });
}

/** Runs `restore` (a new restore, or `--resume JOB`). */
export async function runRestore(opts: RestoreOptions, deps: JobCommandDeps): Promise<void> {
  if (opts.resume !== undefined) {
    await runResume(opts, deps);
    return;
  }
  const args = restoreArgsOf(opts);
  const plan = await deps.api.planRestore(args);
  // With --json the plan goes to stderr for the person answering the question; stdout keeps one document.
  say(deps, opts.json)(planLines(plan).join('\n'));
  await confirmAction(deps.term, { yes: opts.yes, action: `restore snapshot '${plan.snapshot.id}' into site '${plan.targetSite}'` });
  await follow((onEvent) => deps.api.restore(args, onEvent), deps, { json: opts.json, plan });
}
