/**
 * Typed failures of the uploads driver: an entry of a snapshot that a restore refuses to place, and a
 * restore that stopped at a named step (with the report of the steps run so far).
 */
import { FfkError, ValidationError, type FfkErrorOptions } from '../../../../shared/errors.js';
import type { RestoreReport } from '../types.js';

/** A snapshot entry that would land (or point) outside the restore's target, or is not a plain entry. */
export class UnsafeEntryError extends ValidationError {
  /** The entry's path where it would have been placed. */
  readonly entry: string;
  readonly reason: string;

  constructor(options: FfkErrorOptions & { entry: string; reason: string; snapshotId: string }) {
    super(`snapshot '${options.snapshotId}' entry '${options.entry}' ${options.reason}; restore refused`, options);
    this.entry = options.entry;
    this.reason = options.reason;
  }
}

/**
 * A restore stopped at `step`; `report` holds every step run (the failed one last). The code is the
 * cause's when it is an FfkError, so callers branch on the real reason (VALIDATION, UNAVAILABLE, ...).
 */
export class RestoreStepFailedError extends FfkError {
  readonly component: string;
  readonly step: string;
  readonly report: RestoreReport;

  constructor(options: { component: string; step: string; report: RestoreReport; cause: unknown }) {
    const why = options.cause instanceof Error ? options.cause.message : String(options.cause);
    const code = options.cause instanceof FfkError ? options.cause.code : 'INTERNAL';
    super(code, `restore of ${options.component} stopped at step '${options.step}': ${why}`, { cause: options.cause });
    this.component = options.component;
    this.step = options.step;
    this.report = options.report;
  }
}
