/**
 * A disposable Tarantool 2.x instance: own temp work/memtx/wal/vinyl dirs, iproto on a free port, guest
 * allowed everything (tests only). `extraLua` runs after box.cfg (create spaces, functions).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../../shared/net.js';
import { stopChild } from './processes.js';

export interface TestTarantool {
  host: string;
  port: number;
  dir: string;
  memtxDir: string;
  walDir: string;
  vinylDir: string;
  logs(): string;
  stop(): Promise<void>;
}

async function waitForFile(file: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`tarantool did not get ready (${file}) within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startTarantool(options: { extraLua?: string } = {}): Promise<TestTarantool> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-tnt-'));
  const memtxDir = path.join(dir, 'snapshots');
  const walDir = path.join(dir, 'xlogs');
  const vinylDir = path.join(dir, 'index');
  for (const d of [memtxDir, walDir, vinylDir]) mkdirSync(d);
  const port = await freePort();
  const init = path.join(dir, 'init.lua');
  writeFileSync(
    init,
    [
      `box.cfg{ listen = '127.0.0.1:${port}', work_dir = '${dir}', memtx_dir = '${memtxDir}',`,
      `  wal_dir = '${walDir}', vinyl_dir = '${vinylDir}', log_level = 4 }`,
      `box.schema.user.grant('guest', 'super', nil, nil, { if_not_exists = true })`,
      options.extraLua ?? '',
      // Written last: the port listens as soon as box.cfg runs, before the grant and extraLua.
      `local f = io.open('${path.join(dir, 'ready')}', 'w') f:write('ok') f:close()`,
    ].join('\n'),
  );
  let logs = '';
  const child: ChildProcess = spawn('tarantool', [init], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForFile(path.join(dir, 'ready')).then(() => waitForPort(port, undefined, 60_000)),
      exited.then(() => Promise.reject(new Error(`tarantool exited at start: ${logs}`))),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host: '127.0.0.1',
    port,
    dir,
    memtxDir,
    walDir,
    vinylDir,
    logs: () => logs,
    async stop() {
      await stopChild(child, exited, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
