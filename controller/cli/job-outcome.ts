/**
 * Turns a job's outcome into the CLI's result: nothing for Completed, a `JobFailedError` carrying the
 * job's own error code otherwise, so `main` maps it to the documented exit code (shared/exit-codes.ts).
 */
import { FfkError, toFfkError, type ErrorCode } from '../../shared/errors.js';
import type { JobEvent, JobKind, JobPhase } from '../../shared/jobs.js';

/** A job that ended in another phase than Completed; `code` is the job's error code. */
export class JobFailedError extends FfkError {
  readonly jobId: string;
  readonly phase: JobPhase;

  constructor(opts: { code: ErrorCode; message: string; jobId: string; phase: JobPhase }) {
    super(opts.code, opts.message);
    this.jobId = opts.jobId;
    this.phase = opts.phase;
  }
}

/** The code a failed phase gets when the job recorded no error of its own. */
function defaultCode(phase: JobPhase): ErrorCode {
  return phase === 'FailedValidation' ? 'VALIDATION' : 'INTERNAL';
}

/**
 * Throws `JobFailedError` unless the outcome event says Completed. `hint` is appended to the message
 * (e.g. how to resume a restore).
 */
export function checkOutcome(kind: JobKind | 'job', outcome: JobEvent, hint?: string): void {
  const phase = outcome.outcome?.phase ?? outcome.phase;
  if (phase === 'Completed') return;
  const error = outcome.outcome?.error;
  const reason = error ? error.message : 'no reason recorded';
  const suffix = hint ? `; ${hint}` : '';
  throw new JobFailedError({
    code: error?.code ?? defaultCode(phase),
    message: `${kind === 'job' ? 'job' : `${kind} job`} '${outcome.jobId}' for site '${outcome.site}' ended ${phase}: ${reason}${suffix}`,
    jobId: outcome.jobId,
    phase,
  });
}

/**
 * The error to show when a job's event stream breaks after the job started (controller gone, network):
 * same code, and the message says the job id and how to look at it (`hint`, e.g. how to resume).
 */
export function streamBroken(err: unknown, jobId: string, hint: string): FfkError {
  const e = toFfkError(err);
  return new FfkError(e.code, `${e.message}; lost the events of job '${jobId}', which may still run: ${hint}`, { cause: err });
}

/** Runs a job stream, turning a break after the first event into `streamBroken` (the job id is known then). */
export async function followJob(
  start: (onEvent: (e: JobEvent) => void) => Promise<JobEvent>,
  onEvent: (e: JobEvent) => void,
  hint: (jobId: string) => string,
): Promise<{ first: JobEvent | undefined; outcome: JobEvent }> {
  let first: JobEvent | undefined;
  try {
    const outcome = await start((e) => {
      first ??= e;
      onEvent(e);
    });
    return { first, outcome };
  } catch (err) {
    if (first === undefined) throw err;
    throw streamBroken(err, first.jobId, hint(first.jobId));
  }
}
