/**
 * A unary call a caller cancels (a job cancelled while an agent exports or imports): `callUnary` with an
 * aborted signal rejects with CancelledError at once, and the handler `unary` wraps sees its `signal` abort,
 * so it can stop its work. Over a real grpc-js server on loopback.
 */
import { Server, ServerCredentials, credentials, makeGenericClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../errors.js';
import { callUnary } from './grpc-client.js';
import { unary } from './grpc-server.js';

const json = { serialize: (v: unknown) => Buffer.from(JSON.stringify(v)), deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown };
const service: ServiceDefinition = {
  wait: { path: '/ffk.test.Slow/Wait', requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize },
};

describe('cancelling a unary call', () => {
  const server = new Server();
  let handlerSaw: Promise<string> = Promise.resolve('');
  afterAll(() => server.forceShutdown());

  it("rejects the caller with CancelledError and aborts the handler's signal", async () => {
    let seen: (what: string) => void = () => undefined;
    handlerSaw = new Promise((resolve) => (seen = resolve));
    server.addService(service, {
      wait: unary<unknown, unknown>(
        (_req, call) =>
          new Promise((resolve) => {
            call.signal.addEventListener('abort', () => {
              seen('aborted');
              resolve({});
            });
          }),
      ),
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    const Client = makeGenericClientConstructor(service, 'Slow');
    const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as { wait: Parameters<typeof callUnary>[0] };
    const abort = new AbortController();
    const call = callUnary(client.wait.bind(client), {}, { timeoutMs: 60_000, peer: 'test server', signal: abort.signal });
    setTimeout(() => abort.abort(), 200);
    await expect(call).rejects.toBeInstanceOf(CancelledError);
    expect(await handlerSaw).toBe('aborted');
  });
});
