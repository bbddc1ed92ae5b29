/** Helpers every gRPC client of ffkeeper uses: a unary call with a deadline, errors mapped to FfkError. */
import { Metadata, type CallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { fromServiceError } from './grpc-errors.js';

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

export interface CallOptionsLite {
  timeoutMs: number;
  /** Names the callee in errors, e.g. "controller 127.0.0.1:7700". */
  peer: string;
}

/** Calls a unary method (bound to its client) with a deadline; rejects with an FfkError. */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, options: CallOptionsLite): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    method(request, new Metadata(), { deadline: Date.now() + options.timeoutMs }, (err, value) => {
      if (err) reject(fromServiceError(err, options.peer));
      else resolve(value);
    });
  });
}
