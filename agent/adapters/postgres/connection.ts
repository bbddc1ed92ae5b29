/**
 * Connection plumbing shared by the PostgreSQL adapters: node-postgres client settings, connecting with
 * a failure that names the server and database, the libpq environment for pg_dump/psql (the password
 * travels only there, never in argv or a log line), and finding programs on the agent's PATH.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { UnavailableError } from '../../../shared/errors.js';
import { prependedPath } from '../path-env.js';

/** Where a PostgreSQL-protocol server (PostgreSQL itself, or pgbouncer's console) is and who we are on it. */
export interface PgEndpoint {
  host: string;
  port: number;
  user: string;
  password?: string;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** `user@host:port`, for messages. */
export function endpointLabel(endpoint: PgEndpoint): string {
  return `${endpoint.user}@${endpoint.host}:${endpoint.port}`;
}

/** node-postgres client settings for `database` on `endpoint`. */
export function clientConfig(endpoint: PgEndpoint, database: string, applicationName: string): pg.ClientConfig {
  return {
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    database,
    ...(endpoint.password === undefined ? {} : { password: endpoint.password }),
    application_name: applicationName,
    connectionTimeoutMillis: DEFAULT_CONNECT_TIMEOUT_MS,
  };
}

/**
 * Connects a client; a failure is an UnavailableError naming `what` (e.g. "PostgreSQL", "pgbouncer")
 * and the database. A connection error after connecting is swallowed here: it surfaces on the next query.
 */
export async function connectClient(config: pg.ClientConfig, what: string): Promise<pg.Client> {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    const why = err instanceof Error ? err.message : String(err);
    throw new UnavailableError(`${what} ${config.user}@${config.host}:${config.port}/${config.database} is unreachable: ${why}`, { cause: err });
  }
  return client;
}

/** Runs `fn` on a fresh connection that is always closed afterwards. */
export async function withClient<T>(config: pg.ClientConfig, what: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectClient(config, what);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The parent's environment with `pathPrepend` put first on PATH, plus `extra`. */
export function toolEnv(pathPrepend: readonly string[], extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !key.startsWith('PG')) env[key] = value;
  env.PATH = prependedPath(pathPrepend);
  return { ...env, ...extra };
}

/** libpq environment for `database` on `endpoint` (PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD). */
export function libpqEnv(endpoint: PgEndpoint, database: string, applicationName: string): Record<string, string> {
  return {
    PGHOST: endpoint.host,
    PGPORT: String(endpoint.port),
    PGUSER: endpoint.user,
    PGDATABASE: database,
    PGAPPNAME: applicationName,
    PGCONNECT_TIMEOUT: String(Math.ceil(DEFAULT_CONNECT_TIMEOUT_MS / 1000)),
    ...(endpoint.password === undefined ? {} : { PGPASSWORD: endpoint.password }),
  };
}

/** The absolute path of `program` on `env.PATH` (or `program` itself when it has a slash), if executable. */
export async function findProgram(program: string, env: Record<string, string>): Promise<string | undefined> {
  const candidates = program.includes('/') ? [program] : (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, program));
  for (const candidate of candidates) {
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The last `lines` non-empty lines of a process's output, for error messages. */
export function tail(text: unknown, lines = 5): string {
  const s = typeof text === 'string' ? text : text instanceof Uint8Array ? Buffer.from(text).toString('utf8') : '';
  return s.trim().split('\n').filter((l) => l.trim().length > 0).slice(-lines).join(' | ');
}
