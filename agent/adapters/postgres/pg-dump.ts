/**
 * `DumpTool` over the `pg_dump` binary (first on the agent's PATH): plain SQL from an exported snapshot,
 * stdout handed over raw and unbuffered, connection settings and password in the libpq environment.
 */
import { execa, type ResultPromise } from 'execa';
import type { Readable } from 'node:stream';
import { InternalError, UnavailableError } from '../../../shared/errors.js';
import type { DumpProcess, DumpTool } from '../../domain/drivers/postgres/ports.js';
import { endpointLabel, libpqEnv, tail, toolEnv, type PgEndpoint } from './connection.js';

/** Application name pg_dump's session shows in `pg_stat_activity`. */
export const PG_DUMP_APP_NAME = 'ffkeeper-pg_dump';

/** pg_dump against PostgreSQL at `endpoint`. */
export class PgDumpTool implements DumpTool {
  private readonly env: Record<string, string>;
  private readonly program: string;

  constructor(
    private readonly endpoint: PgEndpoint,
    options: { pathPrepend?: readonly string[]; program?: string } = {},
  ) {
    this.env = toolEnv(options.pathPrepend ?? []);
    this.program = options.program ?? 'pg_dump';
  }

  async check(): Promise<{ version: string; major: number }> {
    const r = await execa(this.program, ['--version'], { env: this.env, extendEnv: false, reject: false, timeout: 10_000 });
    const match = /(\d+)(?:\.(\d+))?/.exec(typeof r.stdout === 'string' ? r.stdout : '');
    if (r.exitCode !== 0 || !match?.[1]) {
      throw new UnavailableError(`${this.program} is not usable on this host (PATH=${this.env.PATH}): ${r.shortMessage ?? tail(r.stderr)}`);
    }
    return { version: match[0], major: Number(match[1]) };
  }

  start(request: { database: string; snapshotName: string }): DumpProcess {
    const env = { ...this.env, ...libpqEnv(this.endpoint, request.database, PG_DUMP_APP_NAME) };
    const subprocess = execa(this.program, ['--format=plain', `--snapshot=${request.snapshotName}`, '--no-password'], {
      env,
      extendEnv: false,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      encoding: 'buffer',
      buffer: { stdout: false, stderr: true },
      reject: false,
      maxBuffer: 16 * 1024 * 1024,
    });
    const what = `pg_dump of database '${request.database}' on ${endpointLabel(this.endpoint)}`;
    return new PgDumpProcess(subprocess, what);
  }
}

class PgDumpProcess implements DumpProcess {
  readonly stdout: Readable;
  readonly done: Promise<void>;
  private exited = false;

  constructor(
    private readonly subprocess: ResultPromise,
    what: string,
  ) {
    if (subprocess.stdout === null) throw new InternalError(`${what}: started without a stdout pipe`);
    this.stdout = subprocess.stdout;
    this.done = subprocess.then((r) => {
      this.exited = true;
      if (r.exitCode === 0) return;
      const why = tail(r.stderr) || r.shortMessage;
      const code = r.exitCode === undefined ? (r.signal ?? 'no exit code') : `exit ${r.exitCode}`;
      throw new InternalError(`${what} failed (${code}): ${why}`);
    });
    this.done.catch(() => undefined);
  }

  kill(): void {
    if (!this.exited) this.subprocess.kill('SIGTERM');
  }
}
