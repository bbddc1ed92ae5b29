/**
 * A small Tarantool iproto (binary protocol) client: greeting, chap-sha1 authentication, EVAL, CALL and
 * PING, with request ids so any number of requests can be in flight on one socket (pipelining), a
 * per-request timeout and a clean close. Used by the dev site and by the agent's Tarantool driver
 * (`box.snapshot()`, `box.backup.start()`, `box.info.vclock`).
 *
 * Protocol reference: https://www.tarantool.io/en/doc/latest/dev_guide/internals/box_protocol/
 * Failures are FfkErrors: `UnavailableError` when the server cannot be reached or the connection is
 * lost, `TimeoutError` when a request outlives its timeout, `TarantoolError` (carrying Tarantool's own
 * message and error code) when the server answers with an error.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { Decoder, Encoder } from '@msgpack/msgpack';
import { FfkError, TimeoutError, UnavailableError, type FfkErrorOptions } from '../errors.js';

/** iproto request type codes (IPROTO_REQUEST_TYPE values). */
const REQUEST = { AUTH: 0x07, EVAL: 0x08, CALL: 0x0a, PING: 0x40 } as const;
/** iproto map keys used here. */
const KEY = {
  REQUEST_TYPE: 0x00,
  SYNC: 0x01,
  FUNCTION_NAME: 0x22,
  USER_NAME: 0x23,
  TUPLE: 0x21,
  EXPR: 0x27,
  DATA: 0x30,
  ERROR_24: 0x31,
} as const;
const GREETING_SIZE = 128;
const ERROR_FLAG = 0x8000;
const DEFAULT_TIMEOUT_MS = 10_000;

/** The server answered a request with an error (a Lua `error()`, an access denial, a bad request...). */
export class TarantoolError extends FfkError {
  /** Tarantool's error code (ER_* number), e.g. 32 for ER_PROC_LUA, 47 for ER_CREDS_MISMATCH. */
  readonly errcode: number;
  /** The server's own message, without the address prefix this error's message carries. */
  readonly serverMessage: string;

  constructor(address: string, errcode: number, serverMessage: string, options: FfkErrorOptions = {}) {
    super('INTERNAL', `tarantool ${address}: ${serverMessage}`, options);
    this.errcode = errcode;
    this.serverMessage = serverMessage;
  }
}

export interface TarantoolConnectOptions {
  host?: string;
  port: number;
  /** When set (and not `guest`), the connection authenticates with chap-sha1. */
  user?: string;
  password?: string;
  /** Applies to connecting and, unless overridden per request, to every request. Default 10 s. */
  timeoutMs?: number;
  /** Decode 64-bit integers as bigint (ids above 2^53). Default false: numbers. */
  useBigInt64?: boolean;
  /** Decode msgpack strings as Uint8Array (for string fields that hold raw bytes). Default false. */
  rawStrings?: boolean;
}

export interface RequestOptions {
  timeoutMs?: number;
}

interface Pending {
  resolve: (body: Record<number, unknown>) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  what: string;
}

/** One iproto connection. Create with `TarantoolClient.connect()`, release with `close()`. */
export class TarantoolClient {
  /** `host:port`, used in every error message. */
  readonly address: string;
  /** The first greeting line, e.g. `Tarantool 2.6.0 (Binary) 7c5c...`. */
  readonly serverVersion: string;

  private readonly socket: net.Socket;
  private readonly timeoutMs: number;
  private readonly encoder = new Encoder({ useBigInt64: true });
  private readonly decoder: Decoder;
  private readonly pending = new Map<number, Pending>();
  private nextSync = 1;
  private buffer: Buffer = Buffer.alloc(0);
  private closedError: Error | undefined;

  private constructor(socket: net.Socket, greeting: Buffer, options: TarantoolConnectOptions) {
    this.socket = socket;
    this.address = `${options.host ?? '127.0.0.1'}:${options.port}`;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.decoder = new Decoder({ useBigInt64: options.useBigInt64 ?? false, rawStrings: options.rawStrings ?? false });
    this.serverVersion = greeting.subarray(0, 64).toString('latin1').trim();
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onData(chunk);
      } catch (err) {
        // A frame we cannot parse leaves the stream out of step: nothing after it can be trusted.
        this.fail(new UnavailableError(`tarantool ${this.address}: malformed response: ${(err as Error).message}`, { cause: err }));
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.fail(new UnavailableError(`tarantool ${this.address}: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new UnavailableError(`tarantool ${this.address}: connection closed`)));
    socket.resume();
  }

  /** Opens a connection, reads the greeting and authenticates when a user other than guest is given. */
  static async connect(options: TarantoolConnectOptions): Promise<TarantoolClient> {
    const host = options.host ?? '127.0.0.1';
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { socket, greeting, rest } = await openSocket(host, options.port, timeoutMs);
    const client = new TarantoolClient(socket, greeting, options);
    if (rest.length > 0) client.onData(rest);
    if (options.user !== undefined && options.user !== 'guest') {
      try {
        const salt = Buffer.from(greeting.subarray(64, 128).toString('latin1').trim(), 'base64');
        await client.auth(options.user, options.password ?? '', salt);
      } catch (err) {
        client.close();
        throw err;
      }
    }
    return client;
  }

  /** Evaluates a Lua chunk (`...` holds `args`); resolves to the array of values it returned. */
  async eval(expr: string, args: readonly unknown[] = [], options: RequestOptions = {}): Promise<unknown[]> {
    const body = await this.request(REQUEST.EVAL, [[KEY.EXPR, expr], [KEY.TUPLE, args]], `eval ${shorten(expr)}`, options);
    return dataOf(body);
  }

  /** Calls a global Lua function by name; resolves to the array of values it returned. */
  async call(fn: string, args: readonly unknown[] = [], options: RequestOptions = {}): Promise<unknown[]> {
    const body = await this.request(REQUEST.CALL, [[KEY.FUNCTION_NAME, fn], [KEY.TUPLE, args]], `call ${fn}`, options);
    return dataOf(body);
  }

  /** A round trip that does nothing on the server. */
  async ping(options: RequestOptions = {}): Promise<void> {
    await this.request(REQUEST.PING, [], 'ping', options);
  }

  /** True until the connection is closed or lost. */
  get connected(): boolean {
    return this.closedError === undefined;
  }

  /** Closes the socket; requests still in flight fail with UnavailableError. */
  close(): void {
    this.fail(new UnavailableError(`tarantool ${this.address}: connection closed by client`));
    this.socket.destroy();
  }

  private async auth(user: string, password: string, salt: Buffer): Promise<void> {
    // The scramble must travel as a msgpack *str* of raw bytes, which the encoder cannot produce from
    // a JS value: the tuple is written by hand.
    const scramble = chapSha1(password, salt);
    const tuple = Buffer.concat([Buffer.from([0x92, 0xa9]), Buffer.from('chap-sha1'), Buffer.from([0xd9, scramble.length]), scramble]);
    const body = this.encMap([
      [KEY.USER_NAME, user],
      [KEY.TUPLE, new RawMsgpack(tuple)],
    ]);
    await this.send(REQUEST.AUTH, body, `auth as '${user}'`, {});
  }

  /** `body` lists the map's entries: iproto keys are integers, which a JS object cannot hold. */
  private request(type: number, body: Array<[number, unknown]>, what: string, options: RequestOptions): Promise<Record<number, unknown>> {
    return this.send(type, this.encMap(body), what, options);
  }

  private send(type: number, body: Buffer, what: string, options: RequestOptions): Promise<Record<number, unknown>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const sync = this.nextSync++;
    const header = this.encMap([
      [KEY.REQUEST_TYPE, type],
      [KEY.SYNC, sync],
    ]);
    const size = Buffer.alloc(5);
    size[0] = 0xce;
    size.writeUInt32BE(header.length + body.length, 1);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(sync);
        reject(new TimeoutError(`tarantool ${this.address}: ${what} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(sync, { resolve, reject, timer, what });
      this.socket.write(Buffer.concat([size, header, body]));
    });
  }

  private enc(value: unknown): Buffer {
    const bytes = this.encoder.encode(value);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** A msgpack map with integer keys (the encoder writes object keys as strings). At most 15 entries. */
  private encMap(entries: Array<[number, unknown]>): Buffer {
    const parts: Buffer[] = [Buffer.from([0x80 | entries.length])];
    for (const [key, value] of entries) parts.push(this.enc(key), value instanceof RawMsgpack ? value.bytes : this.enc(value));
    return Buffer.concat(parts);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    let offset = 0;
    for (;;) {
      const frame = readLength(this.buffer, offset);
      if (frame === undefined || this.buffer.length < frame.start + frame.length) break;
      this.onFrame(this.buffer.subarray(frame.start, frame.start + frame.length));
      offset = frame.start + frame.length;
    }
    this.buffer = offset === this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(offset);
  }

  private onFrame(frame: Buffer): void {
    const [header, body] = [...this.decoder.decodeMulti(frame)] as [Record<number, unknown>, Record<number, unknown> | undefined];
    const sync = Number(header[KEY.SYNC]);
    const entry = this.pending.get(sync);
    if (!entry) return; // timed out already
    this.pending.delete(sync);
    clearTimeout(entry.timer);
    const code = Number(header[KEY.REQUEST_TYPE]);
    if (code & ERROR_FLAG) {
      const message = String(body?.[KEY.ERROR_24] ?? `error code ${code & ~ERROR_FLAG}`);
      entry.reject(new TarantoolError(this.address, code & ~ERROR_FLAG, message));
      return;
    }
    entry.resolve(body ?? {});
  }

  private fail(err: Error): void {
    if (this.closedError) return;
    this.closedError = err;
    for (const entry of this.pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new UnavailableError(`${err.message} (during ${entry.what})`, { cause: err }));
    }
    this.pending.clear();
  }
}

/** Bytes already in msgpack form, written into a request as they are. */
class RawMsgpack {
  constructor(readonly bytes: Buffer) {}
}

/** chap-sha1: sha1(password) XOR sha1(salt[0..20] + sha1(sha1(password))). */
function chapSha1(password: string, salt: Buffer): Buffer {
  const sha1 = (...parts: Buffer[]): Buffer => {
    const h = createHash('sha1');
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const hash1 = sha1(Buffer.from(password));
  const hash2 = sha1(hash1);
  const scramble = sha1(salt.subarray(0, 20), hash2);
  for (let i = 0; i < scramble.length; i++) scramble[i] = (scramble[i] as number) ^ (hash1[i] as number);
  return scramble;
}

/** Reads a msgpack unsigned integer (the frame length prefix) at `offset`. */
function readLength(buf: Buffer, offset: number): { start: number; length: number } | undefined {
  if (buf.length <= offset) return undefined;
  const head = buf[offset] as number;
  if (head < 0x80) return { start: offset + 1, length: head };
  const widths: Record<number, number> = { 0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8 };
  const width = widths[head];
  if (width === undefined) throw new UnavailableError(`tarantool: malformed iproto frame (length byte 0x${head.toString(16)})`);
  if (buf.length < offset + 1 + width) return undefined;
  const length = width === 8 ? Number(buf.readBigUInt64BE(offset + 1)) : buf.readUIntBE(offset + 1, width);
  return { start: offset + 1 + width, length };
}

function dataOf(body: Record<number, unknown>): unknown[] {
  const data = body[KEY.DATA];
  return Array.isArray(data) ? data : [];
}

function shorten(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 60 ? `${oneLine.slice(0, 57)}...` : oneLine;
}

/** Connects and reads the 128-byte greeting (plus whatever arrived with it). */
function openSocket(host: string, port: number, timeoutMs: number): Promise<{ socket: net.Socket; greeting: Buffer; rest: Buffer }> {
  const address = `${host}:${port}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    let received = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new UnavailableError(`tarantool ${address}: no greeting after ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= GREETING_SIZE) finish();
    };
    const onError = (err: Error): void => finish(new UnavailableError(`tarantool ${address}: cannot connect: ${err.message}`, { cause: err }));
    const onClose = (): void => finish(new UnavailableError(`tarantool ${address}: connection closed before the greeting`));
    function finish(err?: Error): void {
      clearTimeout(timer);
      socket.off('data', onData).off('error', onError).off('close', onClose);
      socket.pause(); // resumed by the client once its own listeners are attached
      if (err) {
        socket.destroy();
        reject(err);
        return;
      }
      const greeting = received.subarray(0, GREETING_SIZE);
      if (!greeting.toString('latin1').startsWith('Tarantool')) {
        socket.destroy();
        reject(new UnavailableError(`tarantool ${address}: not a Tarantool server (unexpected greeting)`));
        return;
      }
      resolve({ socket, greeting, rest: received.subarray(GREETING_SIZE) });
    }
    socket.on('data', onData).on('error', onError).on('close', onClose);
  });
}
