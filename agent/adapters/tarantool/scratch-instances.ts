/**
 * `SpawnedScratchInstances`: a verify drill's scratch Tarantool instances, started detached (so they do
 * not die with a restarting agent's process group) from an init file in the sandbox directory:
 * `box.cfg` on the placed checkpoint files, read-only, WAL off, iproto on a free loopback port, then the
 * component's `sandboxInitLua`. The pid goes to `<dir>/scratch.pid`, and the process's working directory
 * is `<dir>`: a stop signals the pid only when that process's cwd is still `<dir>`, so a recycled pid is
 * never touched.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { UnavailableError } from '../../../shared/errors.js';
import { freePort } from '../../../shared/net.js';
import { TarantoolClient } from '../../../shared/tarantool/iproto.js';
import type { ScratchInstances, ScratchStartRequest } from '../../domain/drivers/tarantool/sandbox.js';
import type { ShardAdmin } from '../../domain/drivers/tarantool/ports.js';
import { IprotoShardAdmin } from './iproto-shard-admin.js';

const PID_FILE = 'scratch.pid';
const MIN_MEMTX_BYTES = 256 * 2 ** 20;

export interface ScratchInstancesOptions {
  /** The `tarantool` executable (default `$FFK_TARANTOOL_BIN` or `tarantool` on PATH). */
  bin?: string;
  /** Credentials the admin connection logs in with (the shard's; its users come with the checkpoint). */
  user?: string;
  password?: string;
  /** How long a starting instance may take to load the checkpoint and run the init Lua (default 10 min). */
  readyTimeoutMs?: number;
  /** Environment of the instance (the agent's PATH with `pathPrepend`). */
  env?: NodeJS.ProcessEnv;
}

function luaString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}

/** memtx_memory for a checkpoint: three times its .snap files (they are not compressed), at least 256 MiB. */
async function memtxBytesFor(memtxDir: string): Promise<number> {
  let snapBytes = 0;
  for (const name of await readdir(memtxDir).catch(() => [] as string[])) {
    if (name.endsWith('.snap')) snapBytes += (await stat(path.join(memtxDir, name))).size;
  }
  return Math.max(MIN_MEMTX_BYTES, Math.ceil((snapBytes * 3) / 2 ** 20) * 2 ** 20);
}

function tail(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** True when `pid` runs with `dir` as its working directory (it is the sandbox's instance). */
function ownedBy(pid: number, dir: string): boolean {
  try {
    return readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dir) && alive(pid);
  } catch {
    return false;
  }
}

export class SpawnedScratchInstances implements ScratchInstances {
  constructor(private readonly options: ScratchInstancesOptions = {}) {}

  async start(request: ScratchStartRequest): Promise<{ host: string; port: number; admin: ShardAdmin }> {
    const { dir, dirs } = request;
    for (const d of [dirs.memtx, dirs.vinyl, dirs.wal]) await mkdir(d, { recursive: true });
    const host = '127.0.0.1';
    const port = await freePort(host);
    const init = path.join(dir, 'init.lua');
    const log = path.join(dir, 'tarantool.log');
    writeFileSync(
      init,
      [
        '-- scratch instance of an ffkeeper verify drill or snapshot import (generated; removed with it)',
        'box.cfg{',
        `  listen = ${luaString(`${host}:${port}`)},`,
        `  work_dir = ${luaString(dir)},`,
        `  memtx_dir = ${luaString(dirs.memtx)},`,
        `  vinyl_dir = ${luaString(dirs.vinyl)},`,
        `  wal_dir = ${luaString(dirs.wal)},`,
        `  memtx_memory = ${Math.max(await memtxBytesFor(dirs.memtx), request.memtxBytes ?? 0)},`,
        // Read-only without a WAL for a drill; a writable one logs its writes so that box.snapshot() writes a new checkpoint.
        request.writable ? "  wal_mode = 'write'," : "  wal_mode = 'none',",
        request.writable ? '  read_only = false,' : '  read_only = true,',
        `  log = ${luaString(log)},`,
        '}',
        request.initLua ? `dofile(${luaString(request.initLua)})` : '',
        "rawset(_G, 'ffk_sandbox_ready', true)",
        '',
      ].join('\n'),
    );
    const pid = this.spawn(dir, init);
    try {
      await this.waitReady(host, port, pid, this.options.readyTimeoutMs ?? 10 * 60_000);
    } catch (err) {
      await this.stop(dir);
      const why = err instanceof Error ? err.message : String(err);
      throw new UnavailableError(`scratch tarantool in ${dir} did not start on ${host}:${port}: ${why}\n${tail(path.join(dir, 'tarantool.out'))}\n${tail(log)}`, { cause: err });
    }
    const { user, password } = this.options;
    const admin = new IprotoShardAdmin({ host, port, ...(user === undefined ? {} : { user }), ...(password === undefined ? {} : { password }) });
    return { host, port, admin };
  }

  async stop(dir: string): Promise<boolean> {
    const file = path.join(dir, PID_FILE);
    if (!existsSync(file)) return false;
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !ownedBy(pid, dir)) return false;
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (alive(pid)) {
      process.kill(pid, 'SIGKILL');
      while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  private spawn(dir: string, init: string): number {
    const out = openSync(path.join(dir, 'tarantool.out'), 'a');
    try {
      const child = spawn(this.options.bin ?? process.env.FFK_TARANTOOL_BIN ?? 'tarantool', [init], {
        cwd: dir,
        env: this.options.env ?? process.env,
        detached: true,
        stdio: ['ignore', out, out],
      });
      if (child.pid === undefined) throw new UnavailableError(`cannot start a scratch tarantool in ${dir}: the executable did not start`);
      child.on('error', () => undefined);
      child.unref();
      writeFileSync(path.join(dir, PID_FILE), `${child.pid}\n`);
      return child.pid;
    } finally {
      closeSync(out);
    }
  }

  /** Until the init file has run (the ready flag is set); fails at once when the process exits. */
  private async waitReady(host: string, port: number, pid: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const { user, password } = this.options;
    for (;;) {
      if (!alive(pid)) throw new UnavailableError('the process exited');
      const client = await TarantoolClient.connect({ host, port, timeoutMs: 2000, ...(user === undefined ? {} : { user }), ...(password === undefined ? {} : { password }) }).catch(() => undefined);
      const ready = client ? await client.eval("return rawget(_G, 'ffk_sandbox_ready') == true").catch(() => [false]) : [false];
      client?.close();
      if (ready[0] === true) return;
      if (Date.now() > deadline) throw new UnavailableError(`not ready after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
