/**
 * CLI exit codes — the one mapping from error codes to process exit codes. Documented in README.md.
 */
import { FfkError, type ErrorCode } from './errors.js';

export const EXIT_OK = 0;

export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  INTERNAL: 1,
  VALIDATION: 2,
  NOT_FOUND: 3,
  CONFLICT: 4,
  UNAVAILABLE: 5,
  TIMEOUT: 6,
  CANCELLED: 7,
  ILLEGAL_STATE: 8,
  PERMISSION_DENIED: 9,
};

/** Exit code for anything thrown: FfkErrors by code, everything else INTERNAL. */
export function exitCodeFor(err: unknown): number {
  return err instanceof FfkError ? EXIT_CODES[err.code] : EXIT_CODES.INTERNAL;
}
