/**
 * `DatabaseServer` over node-postgres, connecting to PostgreSQL directly (never through pgbouncer):
 * the cut's exported snapshot held in a REPEATABLE READ transaction, and the DROP/CREATE of FindFace's
 * restore sequence, run from the maintenance database.
 */
import type pg from 'pg';
import { IllegalStateError, UnavailableError } from '../../../shared/errors.js';
import type { DatabaseServer, PreparedSnapshot, ServerInfo, SnapshotHold } from '../../domain/drivers/postgres/ports.js';
import type { ConstraintCheck, DeferredConstraint } from '../../domain/drivers/postgres/not-valid.js';
import { clientConfig, connectClient, endpointLabel, withClient, type PgEndpoint } from './connection.js';

const APP_NAME = 'ffkeeper-agent';
const CUT_APP_NAME = 'ffkeeper-cut';

interface SnapshotRow {
  name: string;
  lsn: string | null;
  time: Date;
}

/** How long a rename waits for the sessions it ended to be gone. */
const RENAME_WAIT_MS = 10_000;

/** PostgreSQL at `endpoint`; DROP/CREATE run while connected to `maintenanceDatabase` (default `postgres`). */
export class PgDatabaseServer implements DatabaseServer {
  readonly address: string;

  constructor(
    private readonly endpoint: PgEndpoint,
    private readonly maintenanceDatabase = 'postgres',
  ) {
    this.address = endpointLabel(endpoint);
  }

  private config(database: string, appName = APP_NAME): pg.ClientConfig {
    return clientConfig(this.endpoint, database, appName);
  }

  async check(database = this.maintenanceDatabase): Promise<ServerInfo> {
    return withClient(this.config(database), 'PostgreSQL', async (c) => {
      const r = await c.query<{ version: string; num: string }>(
        "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num",
      );
      const row = r.rows[0];
      if (!row) throw new UnavailableError(`PostgreSQL ${this.address} did not report its version`);
      return { version: row.version, versionNum: Number(row.num) };
    });
  }

  async exportSnapshot(database: string): Promise<SnapshotHold> {
    return (await this.prepareSnapshot(database)).take();
  }

  async prepareSnapshot(database: string): Promise<PreparedSnapshot> {
    const client = await connectClient(this.config(database, CUT_APP_NAME), 'PostgreSQL');
    try {
      // The transaction must survive until pg_dump imported the snapshot, whatever the server's default.
      // A REPEATABLE READ transaction takes its snapshot at its first query, not at BEGIN: until take()
      // it holds neither a snapshot nor a lock.
      await client.query('SET idle_in_transaction_session_timeout = 0');
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    } catch (err) {
      await client.end().catch(() => undefined);
      const why = err instanceof Error ? err.message : String(err);
      throw new UnavailableError(`cannot export a snapshot of database '${database}' on PostgreSQL ${this.address}: ${why}`, { cause: err });
    }
    let taken = false;
    return {
      take: async () => {
        if (taken) throw new IllegalStateError(`the prepared snapshot of database '${database}' was taken already`);
        taken = true;
        return this.takeSnapshot(client, database);
      },
      discard: async () => {
        if (taken) return;
        taken = true;
        await client.query('ROLLBACK').catch(() => undefined);
        await client.end().catch(() => undefined);
      },
    };
  }

  private async takeSnapshot(client: pg.Client, database: string): Promise<SnapshotHold> {
    let row: SnapshotRow | undefined;
    try {
      const r = await client.query<SnapshotRow>(
        'SELECT pg_export_snapshot() AS name, ' +
          'CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END::text AS lsn, ' +
          'clock_timestamp() AS time',
      );
      row = r.rows[0];
    } catch (err) {
      await client.end().catch(() => undefined);
      const why = err instanceof Error ? err.message : String(err);
      throw new UnavailableError(`cannot export a snapshot of database '${database}' on PostgreSQL ${this.address}: ${why}`, { cause: err });
    }
    if (!row) {
      await client.end().catch(() => undefined);
      throw new IllegalStateError(`pg_export_snapshot() returned nothing on database '${database}' at ${this.address}`);
    }
    return new PgSnapshotHold(client, { name: row.name, lsn: row.lsn ?? '0/0', time: row.time });
  }

  async roleExists(role: string): Promise<boolean> {
    return withClient(this.config(this.maintenanceDatabase), 'PostgreSQL', async (c) => {
      const r = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
      return (r.rowCount ?? 0) > 0;
    });
  }

  async databaseExists(database: string): Promise<boolean> {
    return withClient(this.config(this.maintenanceDatabase), 'PostgreSQL', async (c) => {
      const r = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
      return (r.rowCount ?? 0) > 0;
    });
  }

  async storage(database: string): Promise<{ dataDirectory: string | undefined; databaseBytes: number }> {
    return withClient(this.config(this.maintenanceDatabase), 'PostgreSQL', async (c) => {
      const size = await c.query<{ bytes: string | null }>('SELECT pg_database_size(datname)::text AS bytes FROM pg_database WHERE datname = $1', [database]);
      // data_directory is readable by superusers and members of pg_read_all_settings only.
      const dir = await c.query<{ dir: string }>('SHOW data_directory').then((r) => r.rows[0]?.dir, () => undefined);
      return { dataDirectory: dir, databaseBytes: Number(size.rows[0]?.bytes ?? 0) };
    });
  }

  async dropDatabase(database: string): Promise<void> {
    await withClient(this.config(this.maintenanceDatabase), 'PostgreSQL', async (c) => {
      const num = Number((await c.query<{ n: string }>("SELECT current_setting('server_version_num') AS n")).rows[0]?.n ?? 0);
      // Backends left over (the app's, a crashed psql) would make DROP fail; FORCE (PG 13+) ends them.
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
      const force = num >= 130000 ? ' WITH (FORCE)' : '';
      await this.ddl(c, `DROP DATABASE IF EXISTS ${c.escapeIdentifier(database)}${force}`, `drop database '${database}'`);
    });
  }

  async renameDatabase(from: string, to: string): Promise<void> {
    await withClient(this.config(this.maintenanceDatabase), 'PostgreSQL', async (c) => {
      // No session may be connected to a database being renamed: end the ones left (the app is stopped,
      // pgbouncer's were killed) and wait until they are gone: a terminated or dropped backend exits a moment
      // later, and ALTER would meet it ("being accessed by other users").
      const deadline = Date.now() + RENAME_WAIT_MS;
      for (;;) {
        const r = await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [from]);
        if ((r.rowCount ?? 0) === 0 || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await this.ddl(c, `ALTER DATABASE ${c.escapeIdentifier(from)} RENAME TO ${c.escapeIdentifier(to)}`, `rename database '${from}' to '${to}'`);
    });
  }

  async createDatabase(request: { database: string; owner: string }): Promise<void> {
    await withClient(this.config(this.maintenanceDatabase), 'PostgreSQL', async (c) => {
      const sql =
        `CREATE DATABASE ${c.escapeIdentifier(request.database)} WITH OWNER ${c.escapeIdentifier(request.owner)} ` +
        "ENCODING 'UTF-8' LC_COLLATE='C.UTF-8' LC_CTYPE='C.UTF-8' TEMPLATE template0";
      await this.ddl(c, sql, `create database '${request.database}' owned by '${request.owner}'`);
    });
  }

  async validateConstraints(database: string, constraints: readonly DeferredConstraint[]): Promise<ConstraintCheck[]> {
    return withClient(this.config(database), 'PostgreSQL', async (c) => {
      const checks: ConstraintCheck[] = [];
      // The names come from the dump just loaded, quoted as pg_dump quotes them.
      for (const k of constraints) {
        try {
          await c.query(`ALTER TABLE ${k.table} VALIDATE CONSTRAINT ${k.name}`);
          checks.push({ ...k, valid: true });
        } catch (err) {
          checks.push({ ...k, valid: false, error: err instanceof Error ? err.message : String(err) });
        }
      }
      return checks;
    });
  }

  private async ddl(c: pg.Client, sql: string, what: string): Promise<void> {
    try {
      await c.query(sql);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new IllegalStateError(`cannot ${what} on PostgreSQL ${this.address}: ${why}`, { cause: err });
    }
  }
}

/** The open transaction of a cut. */
class PgSnapshotHold implements SnapshotHold {
  private released: Promise<void> | undefined;

  constructor(
    private readonly client: pg.Client,
    readonly snapshot: { name: string; lsn: string; time: Date },
  ) {}

  release(): Promise<void> {
    this.released ??= this.client
      .query('ROLLBACK')
      .then(() => undefined, () => undefined)
      .finally(() => this.client.end().catch(() => undefined));
    return this.released;
  }
}
