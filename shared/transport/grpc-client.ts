/** Helpers every gRPC client of ffkeeper uses: unary and server-streaming calls with deadlines, errors mapped to FfkError. */
import { Metadata, status, type CallOptions, type ClientReadableStream, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { CancelledError, TimeoutError, type FfkError } from '../errors.js';
import { formatDuration } from '../duration.js';
import { fromServiceError } from './grpc-errors.js';

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

type StreamMethod<Req, Ev> = (request: Req, metadata?: Metadata, options?: Partial<CallOptions>) => ClientReadableStream<Ev>;

export interface CallOptionsLite {
  timeoutMs: number;
  /** Names the callee in errors, e.g. "controller 127.0.0.1:7700". */
  peer: string;
  /** What the call does, named when its deadline fires (e.g. "start findface-security on host 'db'"). */
  operation?: string;
  /** The setting that sets `timeoutMs`, named when the deadline fires (e.g. "agents.deadlines.unitControlMs"). */
  deadlineSetting?: string;
}

/**
 * The caller's deadline fired (not a timeout the callee reported itself): says what did not finish, on which
 * peer, within what deadline and which setting sets it. Other errors map as everywhere (fromServiceError).
 */
export function callError(err: unknown, options: CallOptionsLite): FfkError {
  const own = err instanceof Error && (err as Partial<ServiceError>).code === status.DEADLINE_EXCEEDED && !(err as ServiceError).metadata?.get('ffk-code').length;
  if (!own) return fromServiceError(err, options.peer);
  const what = options.operation ? `${options.operation} (${options.peer})` : options.peer;
  const setting = options.deadlineSetting ? `; the deadline is set by ${options.deadlineSetting}` : '';
  return new TimeoutError(`${what} did not finish within its deadline of ${formatDuration(options.timeoutMs)}${setting}`, { cause: err });
}

/** Calls a unary method (bound to its client) with a deadline; rejects with an FfkError. */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: CallOptionsLite & { signal?: AbortSignal }): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    const onAbort = (): void => call.cancel();
    const call = method(request, new Metadata(), { deadline: Date.now() + options.timeoutMs }, (err, value) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(options.signal?.aborted ? new CancelledError(`${options.peer}: call cancelled`, { cause: err }) : callError(err, options));
      else resolve(value);
    });
    if (options.signal?.aborted) call.cancel();
    else options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Calls a server-streaming method, handing every event to `onEvent`; resolves when the stream ends,
 * rejects with an FfkError on a failure status. `signal` cancels the call.
 */
export function callStream<Req, Ev>(
  method: StreamMethod<Req, Ev>,
  request: Req,
  options: CallOptionsLite & { onEvent: (ev: Ev) => void; signal?: AbortSignal },
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const call = method(request, new Metadata(), { deadline: Date.now() + options.timeoutMs });
    const onAbort = (): void => call.cancel();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    let failed = false;
    call.on('data', (ev: Ev) => {
      try {
        options.onEvent(ev);
      } catch (err) {
        failed = true;
        call.cancel();
        reject(err);
      }
    });
    call.on('error', (err: ServiceError) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (failed) return;
      failed = true;
      reject(options.signal?.aborted ? new CancelledError(`${options.peer}: call cancelled`, { cause: err }) : callError(err, options));
    });
    call.on('end', () => {
      options.signal?.removeEventListener('abort', onAbort);
      if (!failed) resolve();
    });
  });
}
