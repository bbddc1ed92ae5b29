/**
 * Helpers for the Tarantool driver tests: a real shard run as a "unit" behind a `systemctl` shim (so
 * the driver's real SystemctlServiceManager starts and stops it, and a stop or start can be made to
 * fail), FindFace-like galleries loaded from the dev site's Lua, seeding and changing records, and an
 * independent per-gallery content hash computed in Lua (not the driver's own digest).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GALLERIES_LUA } from '../../deploy/dev-site/galleries-lua.js';
import { GALLERIES } from '../../deploy/dev-site/state.js';
import { SystemctlServiceManager } from '../../agent/adapters/systemctl.js';
import type { TarantoolComponentConfig } from '../../agent/adapters/tarantool/factory.js';
import { freePort } from '../../shared/net.js';
import { TarantoolClient } from '../../shared/tarantool/iproto.js';

export const DIM = 8;
export const MODELS: Record<string, string> = Object.fromEntries(GALLERIES.map((g) => [g, g.includes('face') ? 'face-v1' : g.includes('body') ? 'body-v1' : g.includes('car') ? 'car-v1' : 'person-v1']));

/** Lua that loads the galleries and creates them (optionally with a small vinyl space too). */
export function galleriesSetupLua(options: { vinyl?: boolean } = {}): string {
  const defs = GALLERIES.map((g) => `{'${g}', '${MODELS[g] ?? ''}', ${DIM}}`).join(', ');
  return [
    GALLERIES_LUA,
    `ffk_setup({${defs}})`,
    options.vinyl
      ? "box.schema.space.create('ffk_test_vinyl', {engine = 'vinyl', if_not_exists = true}):create_index('pk', {if_not_exists = true})"
      : '',
  ].join('\n');
}

const SHIM = String.raw`#!/bin/bash
# systemctl shim for one test shard: start|stop|is-active <unit>; marker files make a stop or start fail.
DIR="$(cd "$(dirname "$0")/.." && pwd)"
UNIT="$(cat "$DIR/unit")"
verb="$1"; unit="$2"
if [ "$verb" = "is-active" ] && [ "$unit" = "--quiet" ]; then unit="$3"; fi
if [ "$unit" != "$UNIT" ]; then echo "Unit $unit not found." >&2; exit 5; fi
PIDF="$DIR/shard/tarantool.pid"
alive() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }
case "$verb" in
  start)
    if [ -f "$DIR/refuse-start" ]; then rm -f "$DIR/refuse-start"; echo "Job for $UNIT failed (refused by test)." >&2; exit 1; fi
    alive && exit 0
    rm -f "$DIR/shard/ready"
    cd "$DIR/shard" && tarantool "$DIR/shard/init.lua" >>"$DIR/shard/start.log" 2>&1 || { echo "tarantool failed to start" >&2; exit 1; }
    # like Type=notify: started once the instance file ran to its end (it writes 'ready')
    for _ in $(seq 1 600); do [ -f "$DIR/shard/ready" ] && exit 0; sleep 0.05; done
    echo "tarantool did not become ready" >&2; exit 1 ;;
  stop)
    if [ -f "$DIR/refuse-stop" ]; then echo "Failed to stop $UNIT: refused by test." >&2; exit 1; fi
    if alive; then
      pid="$(cat "$PIDF")"; kill -TERM "$pid"
      for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    exit 0 ;;
  is-active) alive && exit 0 || exit 3 ;;
  *) echo "unsupported: $verb" >&2; exit 2 ;;
esac
`;

/** A shard run as a unit through a systemctl shim, in its own temp directory. */
export interface ShardUnit {
  root: string;
  unit: string;
  port: number;
  config: TarantoolComponentConfig;
  services: SystemctlServiceManager;
  connect(): Promise<TarantoolClient>;
  /** Makes the next `systemctl stop` (every one, until cleared) or the next `start` fail. */
  refuseStop(on: boolean): void;
  refuseNextStart(): void;
  /** Entries of the shard directory's parent and data dirs, to prove nothing was left behind. */
  listing(): string[];
  /** Stops the shard (ignoring refusals) and removes everything. */
  destroy(): Promise<void>;
}

/** Starts a shard with the FindFace galleries (checkpoint_count 2, no automatic checkpoints). */
export async function startShardUnit(options: { name?: string; vinyl?: boolean } = {}): Promise<ShardUnit> {
  const name = options.name ?? 'shard-001';
  const unit = `tarantool@${name}`;
  const root = mkdtempSync(path.join(os.tmpdir(), 'ffk-tnt-unit-'));
  const shard = path.join(root, 'shard');
  const dirs = { memtx: path.join(shard, 'snapshots'), wal: path.join(shard, 'xlogs'), vinyl: path.join(shard, 'index') };
  for (const d of [path.join(root, 'bin'), ...Object.values(dirs)]) mkdirSync(d, { recursive: true });
  const port = await freePort();
  writeFileSync(path.join(root, 'unit'), unit);
  writeFileSync(
    path.join(shard, 'init.lua'),
    [
      `box.cfg{ listen = '127.0.0.1:${port}', work_dir = '${shard}', memtx_dir = '${dirs.memtx}', wal_dir = '${dirs.wal}',`,
      `  vinyl_dir = '${dirs.vinyl}', background = true, pid_file = '${shard}/tarantool.pid', log = '${shard}/tarantool.log',`,
      `  checkpoint_interval = 0, checkpoint_count = 2, log_level = 4 }`,
      `box.schema.user.grant('guest', 'super', nil, nil, { if_not_exists = true })`,
      galleriesSetupLua({ vinyl: options.vinyl ?? false }),
      `local f = io.open('${shard}/ready', 'w') f:write('ok') f:close()`,
    ].join('\n'),
  );
  const shim = path.join(root, 'bin', 'systemctl');
  writeFileSync(shim, SHIM);
  chmodSync(shim, 0o755);
  const services = new SystemctlServiceManager({ pathPrepend: [path.join(root, 'bin')], timeoutMs: 30_000 });
  await services.start(unit);
  const config: TarantoolComponentConfig = { kind: 'tarantool', name, host: '127.0.0.1', port, memtxDir: dirs.memtx, walDir: dirs.wal, vinylDir: dirs.vinyl, unit };
  return {
    root,
    unit,
    port,
    config,
    services,
    connect: () => TarantoolClient.connect({ host: '127.0.0.1', port }),
    refuseStop: (on) => (on ? writeFileSync(path.join(root, 'refuse-stop'), '') : rmSync(path.join(root, 'refuse-stop'), { force: true })),
    refuseNextStart: () => writeFileSync(path.join(root, 'refuse-start'), ''),
    listing: () => [shard, ...Object.values(dirs)].flatMap((d) => readdirSync(d).map((e) => path.join(path.relative(root, d), e))).sort(),
    async destroy() {
      rmSync(path.join(root, 'refuse-stop'), { force: true });
      rmSync(path.join(root, 'refuse-start'), { force: true });
      await services.stop(unit).catch(() => undefined);
      const pidFile = path.join(shard, 'tarantool.pid');
      if (existsSync(pidFile)) killQuietly(Number(readFileSync(pidFile, 'utf8').trim()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function killQuietly(pid: number): void {
  try {
    if (pid > 0) process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** A float32 vector of `DIM` components derived from `seed`. */
export function vector(seed: number): Buffer {
  const buf = Buffer.alloc(DIM * 4);
  for (let i = 0; i < DIM; i++) buf.writeFloatLE(Math.sin(seed * 7.1 + i) * 3.3, i * 4);
  return buf;
}

export type Meta = Record<string, string | number | boolean>;

/** Meta with a long float, an integer and a string (exercises exact number round trips). */
export function meta(id: number | bigint): Meta {
  const n = Number(BigInt(id) % 1000n);
  return { camera: `cam-${n % 7}`, confidence: n / 997 + 0.000123456789, frame: n * 31, matched: n % 2 === 0 };
}

/** Inserts records `ids` into a gallery through the dev site's `ffk_insert` (model checked), in batches. */
export async function seed(client: TarantoolClient, gallery: string, ids: Array<number | bigint>): Promise<void> {
  for (let i = 0; i < ids.length; i += 500) {
    const records = ids.slice(i, i + 500).map((id) => [id, vector(Number(BigInt(id) % 100000n)), `norm-${String(id)}`, meta(id)]);
    await client.call('ffk_insert', [gallery, MODELS[gallery], records]);
  }
}

/** Replaces one record with new content (an update), keeping the model. */
export async function update(client: TarantoolClient, gallery: string, id: number): Promise<void> {
  await client.eval('local g, t = ... box.space[g]:replace(t)', [gallery, [id, vector(id + 1), `norm-updated-${id}`, { camera: 'changed' }]]);
}

export async function remove(client: TarantoolClient, gallery: string, ids: number[]): Promise<void> {
  await client.call('ffk_delete', [gallery, ids]);
}

/**
 * Per space (galleries and the test vinyl space): record count and a sha256 over the records in key
 * order, meta keys sorted — written independently of the driver's digest.
 */
export async function contentHash(client: TarantoolClient): Promise<Record<string, string>> {
  const [out] = await client.eval(String.raw`
    local msgpack, crypto = require('msgpack'), require('crypto')
    local out = {}
    local names = {}
    for _, g in box.space.ffk_galleries:pairs() do names[#names + 1] = g[1] end
    if box.space.ffk_test_vinyl then names[#names + 1] = 'ffk_test_vinyl' end
    for _, name in ipairs(names) do
      local h, n = crypto.digest.sha256:new(), 0
      for _, t in box.space[name]:pairs() do
        n = n + 1
        local row = t:totable()
        local m = row[4]
        if type(m) == 'table' then
          local keys = {}
          for k in pairs(m) do keys[#keys + 1] = k end
          table.sort(keys)
          local parts = {}
          for _, k in ipairs(keys) do parts[#parts + 1] = msgpack.encode(k) .. msgpack.encode(m[k]) end
          row[4] = table.concat(parts)
        end
        h:update(msgpack.encode(row))
      end
      out[name] = n .. ':' .. require('digest').base64_encode(h:result())
    end
    return out`);
  return out as Record<string, string>;
}

/** Calls `fn` with a fresh connection, closing it afterwards. */
export async function withClient<T>(port: number, fn: (c: TarantoolClient) => Promise<T>): Promise<T> {
  const c = await TarantoolClient.connect({ host: '127.0.0.1', port });
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** Pids of processes whose working directory lies below `root` (none should survive a test). */
export function processesUnder(root: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === root || cwd.startsWith(`${root}/`)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}
