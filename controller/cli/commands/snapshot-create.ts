/**
 * `ffkeeper snapshot create --site S [--wait] [--lease-ms N]`. Without `--wait` it returns once the job
 * has started and says how to follow it; with `--wait` it shows live progress and ends with a summary
 * (snapshot id, size, added bytes, freeze window, duration), or exits with the job's error code.
 */
import type { JobEvent } from '../../../shared/jobs.js';
import type { SnapshotSummary } from '../../../shared/transport/convert-jobs.js';
import type { ControllerApi } from '../api.js';
import { toJson } from '../format.js';
import { checkOutcome, followJob } from '../job-outcome.js';
import { progressOn } from '../progress.js';
import type { JobCommandDeps } from '../terminal.js';
import { formatBytes, formatDuration } from '../units.js';
import { checkId } from '../validate.js';

export interface SnapshotCreateOptions {
  site: string;
  /** Follow the job to its end with a progress display. */
  wait: boolean;
  /** Freeze lease the agents arm (ms); the controller's default when absent. */
  leaseMs?: number;
  json: boolean;
}

/** `detached`: the command returned while the job runs on (the caller may end the process). */
export interface SnapshotCreateResult {
  jobId: string;
  detached: boolean;
}

type CreateRequest = Parameters<ControllerApi['createSnapshot']>[0];

/** Starts the job and resolves with its first event; the stream is left to run (and may be abandoned). */
function startJob(api: ControllerApi, req: CreateRequest): Promise<JobEvent> {
  return new Promise<JobEvent>((resolve, reject) => {
    const stream = api.createSnapshot(req, (e) => resolve(e));
    // A stream that ends (or fails) before any event settles the start; later failures are the job's own.
    stream.then(resolve, reject);
  });
}

async function createDetached(req: CreateRequest, opts: SnapshotCreateOptions, deps: JobCommandDeps): Promise<SnapshotCreateResult> {
  const first = await startJob(deps.api, req);
  if (first.outcome) checkOutcome('snapshot', first);
  if (opts.json) {
    deps.io.out(toJson({ jobId: first.jobId, site: first.site, phase: first.phase }));
  } else {
    deps.io.out(`snapshot job ${first.jobId} started for site '${first.site}'\nfollow it with: ffkeeper jobs logs ${first.jobId} --follow`);
  }
  return { jobId: first.jobId, detached: true };
}

function summaryLines(snap: SnapshotSummary, durationMs: number): string[] {
  return [
    `snapshot ${snap.id} of site '${snap.site}' sealed`,
    `  size:        ${formatBytes(snap.bytes)}`,
    `  added:       ${formatBytes(snap.dataAddedBytes)}`,
    `  freeze:      ${formatDuration(snap.freezeWindowMs)}`,
    `  duration:    ${formatDuration(durationMs)}`,
    `  components:  ${snap.components.join(', ')}`,
    `  job:         ${snap.jobId}`,
  ];
}

async function createAndWait(req: CreateRequest, opts: SnapshotCreateOptions, deps: JobCommandDeps): Promise<SnapshotCreateResult> {
  const display = progressOn(deps.term, opts.json);
  const { first, outcome } = await followJob(
    (onEvent) => deps.api.createSnapshot(req, onEvent),
    (e) => display?.onEvent(e),
    (id) => `follow it with: ffkeeper jobs logs ${id} --follow`,
  ).finally(() => display?.finish());
  checkOutcome('snapshot', outcome);
  const durationMs = outcome.time.getTime() - (first ?? outcome).time.getTime();
  // The outcome names the job, not the cut: the catalog entry the job sealed carries its job id.
  const snap = (await deps.api.listSnapshots(outcome.site)).find((s) => s.jobId === outcome.jobId);
  if (opts.json) {
    deps.io.out(toJson({ jobId: outcome.jobId, site: outcome.site, phase: 'Completed', durationMs, snapshot: snap ?? null }));
  } else if (snap) {
    deps.io.out(summaryLines(snap, durationMs).join('\n'));
  } else {
    deps.io.out(`snapshot job ${outcome.jobId} completed in ${formatDuration(durationMs)}`);
    deps.io.err(`warning: no snapshot of job ${outcome.jobId} is listed in the catalog of site '${outcome.site}'`);
  }
  return { jobId: outcome.jobId, detached: false };
}

/** Runs `snapshot create`. */
export async function runSnapshotCreate(opts: SnapshotCreateOptions, deps: JobCommandDeps): Promise<SnapshotCreateResult> {
  checkId(opts.site, '--site');
  const req: CreateRequest = { site: opts.site, ...(opts.leaseMs === undefined ? {} : { leaseMs: opts.leaseMs }), reason: 'manual' };
  return opts.wait ? createAndWait(req, opts, deps) : createDetached(req, opts, deps);
}
