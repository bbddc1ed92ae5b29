import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  CancelledError,
  ConflictError,
  FfkError,
  IllegalStateError,
  InternalError,
  NotFoundError,
  TimeoutError,
  UnavailableError,
  ValidationError,
} from '../errors.js';
import { fromServiceError, toServiceError } from './grpc-errors.js';

function asServiceError(partial: Partial<ServiceError>): ServiceError {
  return Object.assign(new Error(partial.details ?? ''), partial) as ServiceError;
}

describe('gRPC error mapping', () => {
  it.each([
    { err: new ValidationError('bad field'), code: status.INVALID_ARGUMENT, cls: ValidationError },
    { err: new NotFoundError("snapshot 'x' not found"), code: status.NOT_FOUND, cls: NotFoundError },
    { err: new ConflictError('busy'), code: status.ALREADY_EXISTS, cls: ConflictError },
    { err: new UnavailableError('down'), code: status.UNAVAILABLE, cls: UnavailableError },
    { err: new TimeoutError('slow'), code: status.DEADLINE_EXCEEDED, cls: TimeoutError },
    { err: new CancelledError('stop'), code: status.CANCELLED, cls: CancelledError },
    { err: new IllegalStateError('frozen'), code: status.FAILED_PRECONDITION, cls: IllegalStateError },
    { err: new InternalError('bug'), code: status.INTERNAL, cls: InternalError },
    { err: new Error('plain'), code: status.INTERNAL, cls: InternalError },
  ])('$err.message round-trips as $cls.name', ({ err, code, cls }) => {
    const wire = toServiceError(err);
    expect(wire.code).toBe(code);
    const back = fromServiceError(asServiceError(wire), 'controller x');
    expect(back).toBeInstanceOf(cls);
    expect(back.message).toBe(err.message);
  });

  it('names the peer for transport failures the server did not produce', () => {
    const e = fromServiceError(asServiceError({ code: status.UNAVAILABLE, details: 'No connection established', metadata: new Metadata() }), 'controller 127.0.0.1:1');
    expect(e).toBeInstanceOf(UnavailableError);
    expect(e.message).toBe('controller 127.0.0.1:1 unavailable: No connection established');
    const t = fromServiceError(asServiceError({ code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded', metadata: new Metadata() }), 'agent a:1');
    expect(t).toBeInstanceOf(TimeoutError);
  });

  it('keeps FfkErrors and wraps non-gRPC errors', () => {
    const original = new NotFoundError('x');
    expect(fromServiceError(original, 'p')).toBe(original);
    expect(fromServiceError('weird', 'p')).toBeInstanceOf(FfkError);
  });
});
