/** Helpers every gRPC server of ffkeeper uses: error-mapped unary handlers, bind and graceful stop. */
import {
  Server,
  type ServerCredentials,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { UnavailableError } from '../errors.js';
import { toServiceError } from './grpc-errors.js';
import { authorizeAll, peerIdentityOf, serverCredentials, type Authorize, type GrpcSecurity } from './grpc-security.js';
import type { PeerIdentity } from '../security/identity.js';

/** What a handler knows of its call besides the request. */
export interface CallInfo {
  /** Milliseconds left until the caller's deadline (Infinity when it set none). */
  remainingMs(): number;
  /** Who calls, as its client certificate says (undefined without one). */
  identity(): PeerIdentity | undefined;
  /** The caller's address as gRPC reports it. */
  address(): string;
  /** Aborted when the caller cancels the call (or its deadline passes). */
  signal: AbortSignal;
}

function callInfo(call: { getDeadline(): Date | number; getPeer(): string; on(event: 'cancelled', listener: () => void): unknown } & Parameters<typeof peerIdentityOf>[0]): CallInfo {
  const cancelled = new AbortController();
  call.on('cancelled', () => cancelled.abort());
  return {
    signal: cancelled.signal,
    identity: () => peerIdentityOf(call),
    address: () => call.getPeer(),
    remainingMs() {
      const d = call.getDeadline();
      const at = d instanceof Date ? d.getTime() : d;
      return Number.isFinite(at) ? Math.max(0, at - Date.now()) : Infinity;
    },
  };
}

/** Wraps an async function as a unary handler; anything thrown is mapped by `toServiceError`. */
export function unary<Req, Res>(fn: (req: Req, call: CallInfo) => Promise<Res> | Res) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    Promise.resolve()
      .then(() => fn(call.request, callInfo(call)))
      .then((res) => callback(null, res))
      .catch((err: unknown) => callback(toServiceError(err), null));
  };
}

/**
 * Wraps an async function as a server-streaming handler: `emit` writes an event; the stream ends when
 * the function resolves, or carries the mapped error when it throws. A client cancel aborts `signal`.
 */
export function serverStream<Req, Ev>(fn: (req: Req, emit: (ev: Ev) => void, signal: AbortSignal) => Promise<void>) {
  return (call: ServerWritableStream<Req, Ev>): void => {
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort());
    fn(call.request, (ev) => call.write(ev), controller.signal)
      .then(() => call.end())
      .catch((err: unknown) => call.emit('error', toServiceError(err)));
  };
}

export interface RunningGrpcServer {
  port: number;
  stop(): Promise<void>;
}

export interface ServeOptions {
  security: GrpcSecurity;
  /** Judges the caller of every method from its certificate identity (mTLS only). */
  authorize?: Authorize;
  /** Wraps every method instead (the controller: roles and the audit trail, with or without TLS). */
  guard?: <I extends UntypedServiceImplementation>(definition: ServiceDefinition, implementation: I) => I;
  /** Credentials other than `security`'s (the enrolment service: server certificate only). */
  credentials?: ServerCredentials;
}

/** Binds `listen` ("host:port"; port 0 picks one) and serves one service. */
export async function startGrpcServer<I extends UntypedServiceImplementation>(
  listen: string,
  definition: ServiceDefinition,
  implementation: I,
  options: ServeOptions,
): Promise<RunningGrpcServer> {
  const server = new Server();
  const tls = !('insecure' in options.security);
  const guarded = options.guard ? options.guard(definition, implementation) : tls && options.authorize ? authorizeAll(definition, implementation, options.authorize) : implementation;
  server.addService(definition, guarded);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(listen, options.credentials ?? serverCredentials(options.security), (err, bound) => {
      if (err) reject(new UnavailableError(`cannot listen for gRPC on ${listen}: ${err.message}`, { cause: err }));
      else resolve(bound);
    });
  });
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
