/**
 * `IprotoShardAdmin`: the driver's `ShardAdmin` port over Tarantool's binary protocol — checkpoints
 * (`box.snapshot()` in a fiber), `box.backup.start/stop` pins and `box.info`, through the Lua chunks
 * of `lua.ts`. Tarantool's own errors for a pin already held or a checkpoint that no longer exists
 * become `ConflictError` / `NotFoundError` naming the shard.
 */
import { CancelledError, ConflictError, NotFoundError, TimeoutError } from '../../../shared/errors.js';
import { TarantoolError } from '../../../shared/tarantool/iproto.js';
import type {
  CheckpointList,
  CheckpointOutcome,
  QuietOutcome,
  ShardAdmin,
  ShardInfo,
  StartedCheckpoint,
} from '../../domain/drivers/tarantool/ports.js';
import { Reply, ShardConnection, type ShardEndpoint } from './connection.js';
import { LUA_CHECKPOINT_OUTCOME, LUA_CHECKPOINTS, LUA_INFO, LUA_PIN, LUA_QUIET, LUA_START_CHECKPOINT, LUA_STOP_WATCH, LUA_UNPIN, LUA_WATCH_WRITES } from './lua.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class IprotoShardAdmin implements ShardAdmin {
  readonly address: string;
  private readonly conn: ShardConnection;

  constructor(endpoint: ShardEndpoint) {
    this.conn = new ShardConnection(endpoint);
    this.address = this.conn.address;
  }

  async info(): Promise<ShardInfo> {
    const [raw] = await this.conn.eval(LUA_INFO);
    return parseInfo(new Reply(this.address, 'box.info'), raw);
  }

  async quiet(settleMs: number, timeoutMs: number, checkpoint?: { token: string; waitBusyMs: number }): Promise<QuietOutcome> {
    const r = new Reply(this.address, 'quiet');
    const args = checkpoint ? [settleMs / 1000, timeoutMs / 1000, checkpoint.token, checkpoint.waitBusyMs / 1000] : [settleMs / 1000, timeoutMs / 1000];
    const [raw] = await this.busyAsConflict(() => this.conn.eval(LUA_QUIET, args, { timeoutMs: timeoutMs + (checkpoint?.waitBusyMs ?? 0) + 10_000 }));
    const o = r.obj(raw);
    const out: QuietOutcome = {
      settled: r.bool(o.settled, 'settled'),
      signature: r.num(o.signature, 'signature'),
      waitedMs: r.num(o.waited_ms, 'waited_ms'),
      watched: r.bool(o.watched, 'watched'),
      quietMs: r.num(o.quiet_ms, 'quiet_ms'),
    };
    if (o.checkpoint !== undefined && o.checkpoint !== null) out.checkpoint = this.started(r, o.checkpoint);
    return out;
  }

  async watchWrites(maxMs: number): Promise<void> {
    await this.conn.eval(LUA_WATCH_WRITES, [maxMs / 1000]);
  }

  async stopWatch(): Promise<void> {
    await this.conn.eval(LUA_STOP_WATCH);
  }

  async startCheckpoint(token: string, waitBusyMs: number): Promise<StartedCheckpoint> {
    const r = new Reply(this.address, 'start checkpoint');
    const [raw] = await this.busyAsConflict(() => this.conn.eval(LUA_START_CHECKPOINT, [token, waitBusyMs / 1000], { timeoutMs: waitBusyMs + 10_000 }));
    return this.started(r, raw);
  }

  private started(r: Reply, raw: unknown): StartedCheckpoint {
    const o = r.obj(raw);
    return { vclock: r.vclock(o.vclock), signature: r.num(o.signature, 'signature') };
  }

  /** A checkpoint still in progress after the wait for it is a conflict naming the shard. */
  private async busyAsConflict<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof TarantoolError && /already in progress/i.test(err.serverMessage)) {
        throw new ConflictError(`tarantool ${this.address}: ${err.serverMessage}`, { cause: err });
      }
      throw err;
    }
  }

  async checkpointOutcome(token: string, waitMs: number): Promise<CheckpointOutcome> {
    const r = new Reply(this.address, 'checkpoint outcome');
    const [raw] = await this.conn.eval(LUA_CHECKPOINT_OUTCOME, [token, waitMs / 1000], { timeoutMs: waitMs + 10_000 });
    const o = r.obj(raw);
    const state = r.str(o.state, 'state');
    switch (state) {
      case 'running':
      case 'unknown':
        return { state };
      case 'done':
        return { state, signature: r.num(o.signature, 'signature'), vclock: r.vclock(o.vclock) };
      case 'failed':
        return { state, message: r.str(o.message, 'message') };
      default:
        return r.fail('state', state);
    }
  }

  async checkpoints(): Promise<CheckpointList> {
    const r = new Reply(this.address, 'box.info.gc()');
    const [raw] = await this.conn.eval(LUA_CHECKPOINTS);
    const o = r.obj(raw);
    return {
      inProgress: r.bool(o.in_progress, 'in_progress'),
      checkpoints: r.arr(o.checkpoints, 'checkpoints').map((c, i) => {
        const e = r.obj(c, `checkpoints[${i}]`);
        return { signature: r.num(e.signature, 'signature'), vclock: r.vclock(e.vclock), pinned: r.bool(e.pinned, 'pinned') };
      }),
    };
  }

  async pin(indexFromNewest: number): Promise<string[]> {
    const r = new Reply(this.address, 'box.backup.start()');
    try {
      const [raw] = await this.conn.eval(LUA_PIN, [indexFromNewest]);
      return r.arr(raw).map((f, i) => r.str(f, `files[${i}]`));
    } catch (err) {
      if (err instanceof TarantoolError && /already in progress/i.test(err.serverMessage)) {
        throw new ConflictError(`tarantool ${this.address}: a checkpoint is already pinned by box.backup.start() (another backup, or a stale pin)`, { cause: err });
      }
      if (err instanceof TarantoolError && /can't find/i.test(err.serverMessage)) {
        throw new NotFoundError(`tarantool ${this.address}: no checkpoint ${indexFromNewest} steps back from the newest`, { cause: err });
      }
      throw err;
    }
  }

  async unpin(): Promise<void> {
    await this.conn.eval(LUA_UNPIN);
  }

  async waitRunning(timeoutMs: number, signal?: AbortSignal): Promise<ShardInfo> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
      if (signal?.aborted) throw new CancelledError(`waiting for tarantool ${this.address} to run was cancelled`);
      try {
        const info = await this.info();
        if (info.status === 'running') return info;
        last = `status '${info.status}'`;
      } catch (err) {
        this.conn.close();
        last = err instanceof Error ? err.message : String(err);
      }
      if (Date.now() >= deadline) throw new TimeoutError(`tarantool ${this.address} not running after ${timeoutMs} ms (last: ${last})`);
      await sleep(Math.min(200, Math.max(10, deadline - Date.now())));
    }
  }

  async answers(): Promise<boolean> {
    try {
      const client = await this.conn.open(1000);
      client.close();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.conn.close();
  }
}

function parseInfo(r: Reply, raw: unknown): ShardInfo {
  const o = r.obj(raw);
  return {
    status: r.str(o.status, 'status'),
    vclock: r.vclock(o.vclock),
    signature: r.num(o.signature, 'signature'),
    dirs: { memtx: r.str(o.memtx, 'memtx'), wal: r.str(o.wal, 'wal'), vinyl: r.str(o.vinyl, 'vinyl') },
  };
}
