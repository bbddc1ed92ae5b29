/**
 * Wires a `PostgresDriver` from the component's config: pgbouncer's console, PostgreSQL reached
 * directly, pg_dump and psql and findface-security found on the agent's PATH (`pathPrepend` first), and
 * the units controlled through `systemctl` (or the ServiceManager given).
 */
import { freeBytes } from '../free-space.js';
import type { ComponentConfig } from '../../../shared/config/agent.js';
import type { Logger } from '../../../shared/logger.js';
import { PostgresDriver } from '../../domain/drivers/postgres/driver.js';
import type { ServiceManager } from '../../domain/ports.js';
import { SystemctlServiceManager } from '../systemctl.js';
import type { PgEndpoint } from './connection.js';
import { FindfaceSecurityCommands } from './findface-security.js';
import { PgDumpTool } from './pg-dump.js';
import { PgbouncerConsole } from './pgbouncer-console.js';
import { PgDatabaseServer } from './postgres-server.js';
import { PsqlLoader } from './psql-loader.js';

/** The postgres member of the agent's component config union. */
export type PostgresComponentConfig = Extract<ComponentConfig, { kind: 'postgres' }>;

/** What the agent adds to the component's config. */
export interface PostgresDriverDeps {
  logger: Logger;
  /** The agent's `pathPrepend` (e.g. the dev site's shims). */
  pathPrepend?: readonly string[];
  /** Default: `SystemctlServiceManager` with the same `pathPrepend`. */
  services?: ServiceManager;
  /** Bound of PAUSE/RESUME (default 2 s). */
  pauseTimeoutMs?: number;
  /** What a restore reads before touching anything (default `open`: the first bytes). */
  restoreVerify?: 'open' | 'full';
  /** Database DROP/CREATE connect to (default `postgres`). */
  maintenanceDatabase?: string;
  /** Program names, when not the defaults (`pg_dump`, `psql`, `findface-security`). */
  programs?: { pgDump?: string; psql?: string; app?: string };
}

/** Builds the driver of one configured PostgreSQL component. */
export function createPostgresDriver(config: PostgresComponentConfig, deps: PostgresDriverDeps): PostgresDriver {
  const pathPrepend = deps.pathPrepend ?? [];
  const direct: PgEndpoint = { host: config.host, port: config.port, user: config.user, ...(config.password === undefined ? {} : { password: config.password }) };
  const console: PgEndpoint = {
    host: config.pgbouncer.host,
    port: config.pgbouncer.port,
    user: config.pgbouncer.adminUser,
    ...(config.pgbouncer.adminPassword === undefined ? {} : { password: config.pgbouncer.adminPassword }),
  };
  return new PostgresDriver({
    name: config.name,
    database: config.database,
    ...(config.pgbouncer.database === undefined ? {} : { poolerDatabase: config.pgbouncer.database }),
    owner: config.owner,
    endpoint: { host: config.host, port: config.port },
    units: { app: config.units.app, pgbouncer: config.units.pgbouncer },
    ...(deps.pauseTimeoutMs === undefined ? {} : { pauseTimeoutMs: deps.pauseTimeoutMs }),
    ...(deps.restoreVerify === undefined ? {} : { restoreVerify: deps.restoreVerify }),
    logger: deps.logger,
    ports: {
      pooler: new PgbouncerConsole(console),
      server: new PgDatabaseServer(direct, deps.maintenanceDatabase),
      dump: new PgDumpTool(direct, { pathPrepend, ...(deps.programs?.pgDump ? { program: deps.programs.pgDump } : {}) }),
      loader: new PsqlLoader(direct, { pathPrepend, ...(deps.programs?.psql ? { program: deps.programs.psql } : {}) }),
      app: new FindfaceSecurityCommands({ pathPrepend, ...(deps.programs?.app ? { program: deps.programs.app } : {}) }),
      services: deps.services ?? new SystemctlServiceManager({ pathPrepend }),
      // The staging space check reads the server's filesystem: only when the server runs on this host.
      ...(isLocalHost(config.host) ? { freeBytes } : {}),
    },
  });
}

/** True when `host` names this machine: loopback, or a Unix socket directory. */
function isLocalHost(host: string): boolean {
  return host.startsWith('/') || host === 'localhost' || host === '::1' || /^127\./.test(host);
}
