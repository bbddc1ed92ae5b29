import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { IllegalStateError, TimeoutError, UnavailableError } from '../errors.js';
import { callError } from './grpc-client.js';
import { toServiceError } from './grpc-errors.js';

function serviceError(code: status, details: string, metadata = new Metadata()): ServiceError {
  return Object.assign(new Error(`${code} ${details}`), { code, details, metadata });
}

const opts = { timeoutMs: 120_000, peer: 'agent 10.0.0.5:7701', operation: "start findface-security on host 'db'", deadlineSetting: 'agents.deadlines.unitControlMs' };

describe('callError', () => {
  it('names the operation, the peer, the deadline and its setting when the caller’s deadline fires', () => {
    const err = callError(serviceError(status.DEADLINE_EXCEEDED, 'Deadline exceeded after 120.002s'), opts);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.message).toBe(
      "start findface-security on host 'db' (agent 10.0.0.5:7701) did not finish within its deadline of 2m00s; the deadline is set by agents.deadlines.unitControlMs",
    );
  });

  it('names just the peer when the call says nothing of itself', () => {
    const err = callError(serviceError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), { timeoutMs: 5000, peer: 'controller 127.0.0.1:7700' });
    expect(err.message).toBe('controller 127.0.0.1:7700 did not finish within its deadline of 5.0s');
  });

  it.each([
    ['a timeout the callee reported itself', toServiceError(new TimeoutError('systemctl start x did not finish within 1m59s')), TimeoutError, 'systemctl start x did not finish within 1m59s'],
    ['another callee error', toServiceError(new IllegalStateError('unit x refused to stop')), IllegalStateError, 'unit x refused to stop'],
    ['an unreachable peer', serviceError(status.UNAVAILABLE, 'No connection established'), UnavailableError, 'agent 10.0.0.5:7701 unavailable: No connection established'],
  ])('keeps %s as it is', (_label, raw, type, message) => {
    const e = Object.assign(new Error(raw.message), raw);
    const err = callError(e, opts);
    expect(err).toBeInstanceOf(type);
    expect(err.message).toBe(message);
  });
});
