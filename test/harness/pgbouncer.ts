/**
 * A disposable pgbouncer in transaction pooling mode in front of one database on the machine's
 * PostgreSQL, with its admin console open to `postgres` (for PAUSE/RESUME). pgbouncer refuses to run
 * as root, so when we are root it runs as the `postgres` user (spawned with its uid/gid) from a directory that user owns.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { userInfo } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../../shared/net.js';
import { stopChild } from './processes.js';
import { PG_HOST, PG_PORT } from './postgres.js';

export interface TestPgbouncer {
  host: string;
  port: number;
  /** Name pgbouncer serves the database under (what PAUSE names). */
  database: string;
  logs(): string;
  stop(): Promise<void>;
}

function postgresIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  return { uid, gid };
}

export async function startPgbouncer(options: { database: string; alias?: string }): Promise<TestPgbouncer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-pgb-'));
  const port = await freePort();
  const alias = options.alias ?? options.database;
  const ini = path.join(dir, 'pgbouncer.ini');
  writeFileSync(path.join(dir, 'userlist.txt'), '"postgres" ""\n');
  writeFileSync(
    ini,
    [
      '[databases]',
      `${alias} = host=${PG_HOST} port=${PG_PORT} dbname=${options.database}`,
      '[pgbouncer]',
      `listen_addr = 127.0.0.1`,
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      'admin_users = postgres',
      'pool_mode = transaction',
      'max_client_conn = 200',
      'default_pool_size = 20',
      // The setting README recommends with ffkeeper (a PAUSE racing a server login stalls writes this long).
      'server_login_retry = 1',
      `logfile = ${path.join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  const ids = userInfo().uid === 0 ? postgresIds() : undefined;
  if (ids) for (const f of [dir, ini, path.join(dir, 'userlist.txt')]) chownSync(f, ids.uid, ids.gid);
  let logs = '';
  const child: ChildProcess = spawn('pgbouncer', [ini], { stdio: ['ignore', 'pipe', 'pipe'], ...(ids ?? {}) });
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([waitForPort(port, undefined, 60_000), exited.then(() => Promise.reject(new Error(`pgbouncer exited at start: ${logs}`)))]);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    host: '127.0.0.1',
    port,
    database: alias,
    logs: () => logs,
    async stop() {
      await stopChild(child, exited, 'SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
