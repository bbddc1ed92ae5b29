/**
 * Typed errors shared by agent, controller and CLI.
 *
 * Every failure a caller may branch on is an `FfkError` (or a subclass) with a `code`; the mapping of
 * codes to gRPC status codes lives in `shared/transport/grpc-errors.ts` and to CLI exit codes in
 * `shared/exit-codes.ts` — nowhere else. Messages name the thing that is wrong.
 */

export const ERROR_CODES = [
  'VALIDATION',
  'NOT_FOUND',
  'CONFLICT',
  'UNAVAILABLE',
  'TIMEOUT',
  'CANCELLED',
  'ILLEGAL_STATE',
  'INTERNAL',
  'PERMISSION_DENIED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

export interface FfkErrorOptions {
  cause?: unknown;
}

/** Base class of every error ffkeeper raises on purpose. */
export class FfkError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: FfkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** Bad input: a config field, a CLI argument, a request field. `field` names it when known. */
export class ValidationError extends FfkError {
  readonly field: string | undefined;

  constructor(message: string, options: FfkErrorOptions & { field?: string } = {}) {
    super('VALIDATION', message, options);
    this.field = options.field;
  }
}

/** A configuration file (or environment override) that does not satisfy its schema. */
export class ConfigError extends ValidationError {
  readonly source: string;
  readonly issues: readonly string[];

  constructor(source: string, issues: readonly string[], options: FfkErrorOptions = {}) {
    super(`invalid configuration in ${source}: ${issues.join('; ')}`, options);
    this.source = source;
    this.issues = issues;
  }
}

export class NotFoundError extends FfkError {
  constructor(message: string, options: FfkErrorOptions = {}) {
    super('NOT_FOUND', message, options);
  }
}

export class ConflictError extends FfkError {
  constructor(message: string, options: FfkErrorOptions = {}) {
    super('CONFLICT', message, options);
  }
}

/** A peer (controller, agent, NATS, a database, a repository) that cannot be reached. */
export class UnavailableError extends FfkError {
  constructor(message: string, options: FfkErrorOptions = {}) {
    super('UNAVAILABLE', message, options);
  }
}

/**
 * The called process itself did not answer: nothing listens at its address, the connection dropped, or it
 * is known to be offline. Unlike an UnavailableError it returned (a database or repository *it* could not
 * reach), waiting for it to come back can help.
 */
export class UnreachableError extends UnavailableError {}

export class TimeoutError extends FfkError {
  constructor(message: string, options: FfkErrorOptions = {}) {
    super('TIMEOUT', message, options);
  }
}

export class CancelledError extends FfkError {
  constructor(message: string, options: FfkErrorOptions = {}) {
    super('CANCELLED', message, options);
  }
}

export class IllegalStateError extends FfkError {
  constructor(message: string, options: FfkErrorOptions = {}) {
    super('ILLEGAL_STATE', message, options);
  }
}

export class InternalError extends FfkError {
  constructor(message: string, options: FfkErrorOptions = {}) {
    super('INTERNAL', message, options);
  }
}

/** Wraps anything thrown into an FfkError, keeping the original as `cause`. */
export function toFfkError(err: unknown, context?: string): FfkError {
  if (err instanceof FfkError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new InternalError(context ? `${context}: ${detail}` : detail, { cause: err });
}

/** A one-line description of an error for people (CLI) — the message, without a stack. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The caller is not allowed to do this: no or a wrong certificate identity for the call (DESIGN.md §12). */
export class PermissionDeniedError extends FfkError {
  constructor(message: string, options: FfkErrorOptions = {}) {
    super('PERMISSION_DENIED', message, options);
  }
}
