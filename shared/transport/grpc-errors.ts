/**
 * The one mapping between ffkeeper error codes and gRPC status codes, both ways. Servers turn thrown
 * errors into a ServiceError carrying the ffkeeper code in metadata; clients turn a ServiceError back
 * into the matching FfkError subclass, so a caller branches the same way on either side of the wire.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  CancelledError,
  ConflictError,
  FfkError,
  IllegalStateError,
  InternalError,
  PermissionDeniedError,
  isErrorCode,
  NotFoundError,
  TimeoutError,
  UnavailableError,
  UnreachableError,
  ValidationError,
  type ErrorCode,
} from '../errors.js';

const TO_GRPC: Readonly<Record<ErrorCode, status>> = {
  VALIDATION: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  CONFLICT: status.ALREADY_EXISTS,
  UNAVAILABLE: status.UNAVAILABLE,
  TIMEOUT: status.DEADLINE_EXCEEDED,
  CANCELLED: status.CANCELLED,
  ILLEGAL_STATE: status.FAILED_PRECONDITION,
  INTERNAL: status.INTERNAL,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
};

const FROM_GRPC: Partial<Record<status, ErrorCode>> = {
  [status.INVALID_ARGUMENT]: 'VALIDATION',
  [status.NOT_FOUND]: 'NOT_FOUND',
  [status.ALREADY_EXISTS]: 'CONFLICT',
  [status.ABORTED]: 'CONFLICT',
  [status.UNAVAILABLE]: 'UNAVAILABLE',
  [status.DEADLINE_EXCEEDED]: 'TIMEOUT',
  [status.CANCELLED]: 'CANCELLED',
  [status.FAILED_PRECONDITION]: 'ILLEGAL_STATE',
  [status.PERMISSION_DENIED]: 'PERMISSION_DENIED',
  [status.UNAUTHENTICATED]: 'PERMISSION_DENIED',
};

const CODE_KEY = 'ffk-code';

/** Converts anything a handler threw into a ServiceError for the grpc-js callback/stream. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const code: ErrorCode = err instanceof FfkError ? err.code : 'INTERNAL';
  const metadata = new Metadata();
  metadata.set(CODE_KEY, code);
  const message = err instanceof Error ? err.message : String(err);
  return { code: TO_GRPC[code], details: message, message, metadata };
}

function make(code: ErrorCode, message: string, cause: unknown): FfkError {
  const options = { cause };
  switch (code) {
    case 'VALIDATION':
      return new ValidationError(message, options);
    case 'NOT_FOUND':
      return new NotFoundError(message, options);
    case 'CONFLICT':
      return new ConflictError(message, options);
    case 'UNAVAILABLE':
      return new UnavailableError(message, options);
    case 'TIMEOUT':
      return new TimeoutError(message, options);
    case 'CANCELLED':
      return new CancelledError(message, options);
    case 'ILLEGAL_STATE':
      return new IllegalStateError(message, options);
    case 'INTERNAL':
      return new InternalError(message, options);
    case 'PERMISSION_DENIED':
      return new PermissionDeniedError(message, options);
  }
}

function isServiceError(err: unknown): err is ServiceError {
  return err instanceof Error && typeof (err as Partial<ServiceError>).code === 'number';
}

/**
 * Converts a client-side gRPC error into an FfkError. `peer` names what was called
 * (e.g. "controller 127.0.0.1:7700") for errors the server did not produce itself.
 */
export function fromServiceError(err: unknown, peer: string): FfkError {
  if (err instanceof FfkError) return err;
  if (!isServiceError(err)) return new InternalError(`${peer}: ${String(err)}`, { cause: err });
  const carried = err.metadata?.get(CODE_KEY)[0];
  if (isErrorCode(carried)) return make(carried, err.details, err);
  const code = FROM_GRPC[err.code as status] ?? 'INTERNAL';
  if (code === 'UNAVAILABLE') return new UnreachableError(`${peer} unavailable: ${err.details}`, { cause: err });
  if (code === 'TIMEOUT') return new TimeoutError(`${peer} did not answer in time: ${err.details}`, { cause: err });
  return make(code, `${peer}: ${err.details}`, err);
}
