/**
 * The one error a failed shard restore raises: it names the step that failed, keeps the step report
 * (including the rollback steps) and says whether the shard was put back as it was.
 */
import { FfkError } from '../../../../shared/errors.js';
import type { RestoreReport } from '../types.js';

export class ShardRestoreError extends FfkError {
  /** `tarantool:<shard>` */
  readonly component: string;
  /** The restore step that failed (`stop-unit`, `place`, `confirm-vclock`, ...). */
  readonly step: string;
  readonly report: RestoreReport;
  /** True when the previous files and unit state were restored after the failure. */
  readonly rolledBack: boolean;
  /** What the rollback did, as the message ends. */
  readonly rollback: string;

  constructor(options: { component: string; step: string; cause: unknown; report: RestoreReport; rollback: string }) {
    const detail = options.cause instanceof Error ? options.cause.message : String(options.cause);
    const code = options.cause instanceof FfkError ? options.cause.code : 'INTERNAL';
    super(code, `restore of ${options.component} failed at step '${options.step}': ${detail}; ${options.rollback}`, { cause: options.cause });
    this.component = options.component;
    this.step = options.step;
    this.report = options.report;
    this.rollback = options.rollback;
    this.rolledBack = options.report.steps.every((s) => !s.step.startsWith('rollback:') || s.ok);
  }

  /** The same failure with `earlier` steps (a stage's) before its own in the report. */
  after(earlier: RestoreReport): ShardRestoreError {
    const report = { component: this.component, steps: [...earlier.steps, ...this.report.steps] };
    return new ShardRestoreError({ component: this.component, step: this.step, cause: this.cause, report, rollback: this.rollback });
  }
}
