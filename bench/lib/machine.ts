/**
 * The machine a benchmark ran on, for the results file: CPU, memory, and the versions of every tool
 * the figures depend on (node, tarantool, pgbouncer, the PostgreSQL server, restic, nats-server).
 * A tool that cannot be asked reports 'unavailable' rather than failing the bench.
 */
import os from 'node:os';
import { execa } from 'execa';
import pg from 'pg';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  /** Tool name → version string. */
  versions: Record<string, string>;
}

const UNAVAILABLE = 'unavailable';

/** First match of `pattern` in the output of `command args`, or 'unavailable'. */
async function toolVersion(command: string, args: string[], pattern: RegExp): Promise<string> {
  const r = await execa(command, args, { reject: false, timeout: 10_000, all: true });
  return (typeof r.all === 'string' ? pattern.exec(r.all)?.[1] : undefined) ?? UNAVAILABLE;
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    return (await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? UNAVAILABLE;
  } catch {
    return UNAVAILABLE;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Describes this machine and the tool versions. */
export async function describeMachine(): Promise<MachineInfo> {
  const [tarantool, pgbouncer, restic, nats, postgres] = await Promise.all([
    toolVersion('tarantool', ['--version'], /Tarantool (\S+)/),
    toolVersion(process.env.FFK_PGBOUNCER_BIN ?? '/usr/sbin/pgbouncer', ['--version'], /PgBouncer (\S+)/i),
    toolVersion('restic', ['version'], /restic (\S+)/),
    toolVersion('nats-server', ['--version'], /v(\d\S*)/),
    postgresVersion(),
  ]);
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    versions: { node: process.version, tarantool, pgbouncer, postgresql: postgres, restic, 'nats-server': nats },
  };
}

/** One line for people: `2 cores (AMD EPYC), 23.5 GiB memory, Linux 6.1 · node v20 · ...`. */
export function formatMachine(m: MachineInfo): string {
  const gib = (m.memoryBytes / 2 ** 30).toFixed(1);
  const tools = Object.entries(m.versions).map(([name, v]) => `${name} ${v}`);
  return [`${m.cpus} cores (${m.cpuModel}), ${gib} GiB memory, ${m.kernel}`, ...tools].join(' · ');
}
