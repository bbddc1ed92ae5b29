/**
 * The record a verification keeps as it runs (its steps, in order) and the error it fails with, which
 * always names the snapshot and its site.
 */
import { FfkError, type ErrorCode } from '../../../shared/errors.js';
import type { VerificationStep } from '../../../shared/verification.js';

/** What failed a verification: `repository-check`, `drill`, `integrity-check`. */
export type VerifyStage = 'select' | 'repository-check' | 'drill' | 'integrity-check';

/**
 * A verification that found the snapshot unusable (ILLEGAL_STATE), or could not run (the cause's code
 * when it is UNAVAILABLE, TIMEOUT or CANCELLED: an agent or the repository out of reach is not a finding).
 */
export class VerifyFailedError extends FfkError {
  readonly stage: VerifyStage;

  constructor(options: { stage: VerifyStage; message: string; cause?: unknown }) {
    super(codeFor(options.cause), options.message, options.cause === undefined ? {} : { cause: options.cause });
    this.stage = options.stage;
  }
}

function codeFor(cause: unknown): ErrorCode {
  const infra: ErrorCode[] = ['UNAVAILABLE', 'TIMEOUT', 'CANCELLED'];
  return cause instanceof FfkError && infra.includes(cause.code) ? cause.code : 'ILLEGAL_STATE';
}

/** The message of anything thrown, for embedding in another message. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The steps of one verification, each timed. */
export class StepLog {
  readonly steps: VerificationStep[] = [];

  /** Runs `fn` as a step; records it ok with `detail(value)`, or failed with the error's message (and rethrows). */
  async run<T>(name: string, fn: () => Promise<T>, detail: (value: T) => string, host?: string): Promise<T> {
    const started = Date.now();
    try {
      const value = await fn();
      this.add({ name, ok: true, durationMs: Date.now() - started, detail: detail(value), ...(host ? { host } : {}) });
      return value;
    } catch (err) {
      this.add({ name, ok: false, durationMs: Date.now() - started, detail: messageOf(err), ...(host ? { host } : {}) });
      throw err;
    }
  }

  add(step: VerificationStep): void {
    this.steps.push(step);
  }
}
