/**
 * One lazily (re)opened iproto connection to a shard, plus the small helpers that turn the loosely
 * typed values Lua returns into checked TypeScript values (a shape mismatch is an InternalError naming
 * the shard and the field, never a silent `undefined`).
 */
import { InternalError } from '../../../shared/errors.js';
import { TarantoolClient, type RequestOptions } from '../../../shared/tarantool/iproto.js';
import type { Vclock } from '../../domain/drivers/tarantool/ports.js';

/** Where a shard listens and how to log in. */
export interface ShardEndpoint {
  host: string;
  port: number;
  user?: string;
  password?: string;
  /** Connect and default request timeout (ms). Default 10 s. */
  timeoutMs?: number;
}

/** A connection opened on first use and reopened after it was lost (e.g. the shard restarted). */
export class ShardConnection {
  readonly address: string;
  private client: TarantoolClient | undefined;
  private opening: Promise<TarantoolClient> | undefined;

  constructor(private readonly endpoint: ShardEndpoint) {
    this.address = `${endpoint.host}:${endpoint.port}`;
  }

  /** Opens a fresh connection that is not cached (the caller closes it). */
  open(timeoutMs?: number): Promise<TarantoolClient> {
    const { host, port, user, password } = this.endpoint;
    return TarantoolClient.connect({
      host,
      port,
      ...(user === undefined ? {} : { user }),
      ...(password === undefined ? {} : { password }),
      timeoutMs: timeoutMs ?? this.endpoint.timeoutMs ?? 10_000,
    });
  }

  async eval(expr: string, args: readonly unknown[] = [], options: RequestOptions = {}): Promise<unknown[]> {
    const client = await this.get();
    return client.eval(expr, args, options);
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }

  private async get(): Promise<TarantoolClient> {
    if (this.client?.connected) return this.client;
    this.client = undefined;
    if (!this.opening) {
      this.opening = this.open().finally(() => {
        this.opening = undefined;
      });
    }
    this.client = await this.opening;
    return this.client;
  }
}

type Obj = Record<string, unknown>;

/** Reads values out of a Lua reply, naming the shard and field when the shape is not the expected one. */
export class Reply {
  constructor(
    private readonly address: string,
    private readonly what: string,
  ) {}

  fail(field: string, value: unknown): never {
    throw new InternalError(`tarantool ${this.address}: ${this.what}: unexpected ${field} ${JSON.stringify(value)}`);
  }

  obj(value: unknown, field = 'reply'): Obj {
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)) return value as Obj;
    // Lua encodes an empty table as an empty array.
    if (Array.isArray(value) && value.length === 0) return {};
    return this.fail(field, value);
  }

  arr(value: unknown, field = 'reply'): unknown[] {
    if (Array.isArray(value)) return value;
    if (typeof value === 'object' && value !== null && Object.keys(value).length === 0) return [];
    return this.fail(field, value);
  }

  num(value: unknown, field: string): number {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    if (typeof value === 'bigint') return Number(value);
    return this.fail(field, value);
  }

  str(value: unknown, field: string): string {
    if (typeof value === 'string') return value;
    return this.fail(field, value);
  }

  bool(value: unknown, field: string): boolean {
    if (typeof value === 'boolean') return value;
    return this.fail(field, value);
  }

  vclock(value: unknown, field = 'vclock'): Vclock {
    const out: Vclock = {};
    for (const [k, v] of Object.entries(this.obj(value, field))) out[k] = this.num(v, `${field}[${k}]`);
    return out;
  }
}
