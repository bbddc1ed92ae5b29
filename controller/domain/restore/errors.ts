/** The error a restore fails with once it has started acting: names the stage, component and host. */
import { FfkError, type ErrorCode } from '../../../shared/errors.js';
import type { RestoreStage } from './types.js';

/**
 * A restore that stopped. The code is the cause's (an agent that cannot be reached stays UNAVAILABLE),
 * or ILLEGAL_STATE when the integrity check found errors.
 */
export class RestoreFailedError extends FfkError {
  readonly stage: RestoreStage;
  readonly component: string | undefined;
  readonly host: string | undefined;

  constructor(options: { stage: RestoreStage; message: string; cause?: unknown; component?: string; host?: string; code?: ErrorCode }) {
    const code = options.code ?? (options.cause instanceof FfkError ? options.cause.code : 'INTERNAL');
    super(code, options.message, options.cause === undefined ? {} : { cause: options.cause });
    this.stage = options.stage;
    this.component = options.component;
    this.host = options.host;
  }
}

/** The message of anything thrown, for embedding in another message. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
