/**
 * Jobs: every snapshot and restore is a job with a record (KV) and a stream of events (JetStream,
 * `ffk.events.<site>.<jobId>`). Phases follow velero's: New, InProgress, Completed, PartiallyFailed,
 * Failed, FailedValidation.
 */
import type { ErrorCode } from './errors.js';

export type JobKind = 'snapshot' | 'restore' | 'prune' | 'verify' | 'copy' | 'export' | 'import' | 'sync-check' | 'sync-link' | 'sync-apply' | 'migrate' | 'migrate-rollback' | 'migrate-finish';
export type JobPhase = 'New' | 'InProgress' | 'Completed' | 'PartiallyFailed' | 'Failed' | 'FailedValidation';

export const FINAL_PHASES: readonly JobPhase[] = ['Completed', 'PartiallyFailed', 'Failed', 'FailedValidation'];

export function isFinal(phase: JobPhase): boolean {
  return FINAL_PHASES.includes(phase);
}

export interface JobError {
  code: ErrorCode;
  message: string;
}

export interface JobRecord {
  id: string;
  kind: JobKind;
  site: string;
  phase: JobPhase;
  createdAt: Date;
  updatedAt: Date;
  /** The step running now, or the last one. */
  step: string;
  error?: JobError;
  /** Kind-specific state: the snapshot id, a restore's plan and progress (what --resume needs). */
  detail: Record<string, unknown>;
  /** The controller running the job, and which run of that controller process (a restart is another instance). */
  controller?: string;
  instance?: string;
}

export interface JobProgress {
  component: string;
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  etaSeconds: number;
}

/** One event of a job. Exactly one of progress / message / outcome is set. */
export interface JobEvent {
  jobId: string;
  site: string;
  time: Date;
  phase: JobPhase;
  step: string;
  progress?: JobProgress;
  message?: string;
  outcome?: { phase: JobPhase; error?: JobError };
}
