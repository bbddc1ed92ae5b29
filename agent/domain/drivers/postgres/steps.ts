/**
 * Checked, reported restore steps: each runs timed, is logged and reported through `onProgress` as it
 * starts and ends, and lands in the `RestoreReport`. A failed step raises `StepFailure` (internal) so the
 * restore can decide what to undo; the caller then throws `RestoreStepFailedError`, which names the step
 * and carries the report.
 */
import { CancelledError, FfkError, InternalError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/logger.js';
import type { DriverProgress, RestoreReport, RestoreStepReport } from '../types.js';

/** A restore stopped at a failed step. `code` is the cause's code (a wrong password stays VALIDATION). */
export class RestoreStepFailedError extends FfkError {
  readonly component: string;
  /** The step that failed, as reported. */
  readonly step: string;
  /** Every step that ran, the failed one and any undo steps included. */
  readonly report: RestoreReport;
  /** True when something was destroyed or replaced before the failure (the database was dropped). */
  readonly siteChanged: boolean;

  constructor(options: { report: RestoreReport; step: string; siteChanged: boolean; outcome: string; cause: unknown }) {
    const cause = options.cause;
    const code = cause instanceof FfkError ? cause.code : 'INTERNAL';
    const why = cause instanceof Error ? cause.message : String(cause);
    super(code, `restore of ${options.report.component} stopped at step '${options.step}': ${why}; ${options.outcome}`, { cause });
    this.component = options.report.component;
    this.step = options.step;
    this.report = options.report;
    this.siteChanged = options.siteChanged;
  }
}

/** Internal: a step failed; carries the step name and the original error. */
export class StepFailure extends Error {
  constructor(
    readonly step: string,
    readonly error: unknown,
  ) {
    super(`step '${step}' failed`);
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs and records the steps of one restore. */
export class StepRunner {
  readonly steps: RestoreStepReport[] = [];

  constructor(
    private readonly options: {
      component: string;
      logger: Logger;
      onProgress?: (p: DriverProgress) => void;
      signal?: AbortSignal;
    },
  ) {}

  /** The report so far. */
  report(): RestoreReport {
    return { component: this.options.component, steps: [...this.steps] };
  }

  /**
   * Runs `fn` as step `step`; records it; throws `StepFailure` when it fails (or when the restore was
   * cancelled before it started). `detail` describes a successful result for the report.
   */
  async run<T>(step: string, fn: () => Promise<T>, detail?: (value: T) => string | undefined): Promise<T> {
    const { component, logger, onProgress, signal } = this.options;
    const started = Date.now();
    if (signal?.aborted) {
      const err = new CancelledError(`restore of ${component} was cancelled before step '${step}'`);
      this.record({ step, ok: false, durationMs: 0, detail: err.message });
      throw new StepFailure(step, err);
    }
    onProgress?.({ component, step, message: 'started' });
    try {
      const value = await fn();
      const text = detail?.(value);
      this.record({ step, ok: true, durationMs: Date.now() - started, ...(text === undefined ? {} : { detail: text }) });
      onProgress?.({ component, step, message: text === undefined ? 'done' : `done: ${text}` });
      logger.info({ component, step, durationMs: Date.now() - started }, 'restore step done');
      return value;
    } catch (err) {
      const error = err instanceof Error ? err : new InternalError(String(err));
      this.record({ step, ok: false, durationMs: Date.now() - started, detail: messageOf(error) });
      onProgress?.({ component, step, message: `failed: ${messageOf(error)}` });
      logger.error({ component, step, err: error }, 'restore step failed');
      throw new StepFailure(step, error);
    }
  }

  private record(report: RestoreStepReport): void {
    this.steps.push(report);
  }
}
