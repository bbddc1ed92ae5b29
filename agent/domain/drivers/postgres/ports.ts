/**
 * Role-named ports of the PostgreSQL driver. The driver's logic (freeze with a bounded PAUSE, the cut,
 * the streamed dump, FindFace's restore sequence) depends only on these; `agent/adapters/postgres/`
 * implements them with node-postgres and execa (pg_dump, psql, findface-security).
 */
import type { Readable } from 'node:stream';
import type { ConstraintCheck, DeferredConstraint } from './not-valid.js';

/** pgbouncer's admin console (simple query protocol only). */
export interface PoolerConsole {
  /** `host:port` of pgbouncer, for messages. */
  readonly address: string;
  /**
   * Sends `PAUSE <database>` and resolves when pgbouncer confirms (every server connection of the
   * database released). `onSent` is called once the command is on its way (connected); before that,
   * nothing can have been paused. When `signal` aborts, the console connection is closed and the call
   * rejects; the database may still be paused on pgbouncer's side, so the caller sends RESUME.
   */
  pause(database: string, options: { signal: AbortSignal; onSent: () => void }): Promise<void>;
  /**
   * Sends `KILL <database>`: every client and server connection of the database dropped at once; new
   * clients wait until `resume`. For a switch of the database under pgbouncer's name.
   */
  kill(database: string): Promise<void>;
  /** Sends `RESUME <database>`; `not-paused` when pgbouncer says it was not paused (not an error). */
  resume(database: string): Promise<'resumed' | 'not-paused'>;
  /** Checks the console answers and serves `database`; throws a typed error naming what is wrong. */
  check(database: string): Promise<{ paused: boolean }>;
  /** Opens the connection the next PAUSE and its RESUME use, ahead of the freeze window (optional). */
  warm?(): Promise<void>;
  /** Closes what `warm` (or a PAUSE waiting for its RESUME) keeps open, and stops the login watcher. */
  cool?(): Promise<void>;
  /**
   * Starts looking at `database`'s pool for server logins in progress ahead of the next PAUSE, so that the
   * PAUSE needs fewer looks of its own inside the freeze window (optional; ends at the PAUSE or `cool`).
   */
  watchLogins?(database: string): void;
}

/** The point in time PostgreSQL exported. */
export interface ExportedSnapshot {
  /** Name for `pg_dump --snapshot=` (`SET TRANSACTION SNAPSHOT`). */
  name: string;
  /** WAL position at the cut (`pg_current_wal_lsn()`, or the replay position on a standby). */
  lsn: string;
  /** Server clock at the cut. */
  time: Date;
}

/** A REPEATABLE READ transaction holding an exported snapshot open on a direct connection. */
export interface SnapshotHold {
  readonly snapshot: ExportedSnapshot;
  /** Ends the transaction and the connection. Idempotent; never throws (a lost connection is already released). */
  release(): Promise<void>;
}

/**
 * A direct connection opened, and its REPEATABLE READ transaction begun, before the cut (at prepare), so
 * that the cut itself is one query: the connection's set-up is not paid inside the freeze window.
 */
export interface PreparedSnapshot {
  /** Exports the snapshot now (`pg_export_snapshot()`): the point in time is this call's. Once only. */
  take(): Promise<SnapshotHold>;
  /** Ends the transaction and the connection without exporting. Idempotent; never throws. */
  discard(): Promise<void>;
}

/** Facts about the PostgreSQL server, from `check()`. */
export interface ServerInfo {
  /** e.g. `15.20 (Debian 15.20-0+deb12u1)` */
  version: string;
  /** `server_version_num`, e.g. 150020 */
  versionNum: number;
}

/** The PostgreSQL server, reached directly (never through pgbouncer). */
export interface DatabaseServer {
  /** `user@host:port`, for messages. */
  readonly address: string;
  /** Connects to `database` (default: the maintenance database) and returns the server's version; throws naming the server and database. */
  check(database?: string): Promise<ServerInfo>;
  /** `BEGIN ISOLATION LEVEL REPEATABLE READ` + `pg_export_snapshot()` on `database`, held until released. */
  exportSnapshot(database: string): Promise<SnapshotHold>;
  /** The connection and transaction of `exportSnapshot`, opened now; the export comes with `take()`. */
  prepareSnapshot(database: string): Promise<PreparedSnapshot>;
  roleExists(role: string): Promise<boolean>;
  databaseExists(database: string): Promise<boolean>;
  /**
   * Where the server keeps its data (`data_directory`; undefined when this role may not read it) and the
   * size of `database` (0 when it does not exist), for the staging space check of a restore.
   */
  storage(database: string): Promise<{ dataDirectory: string | undefined; databaseBytes: number }>;
  /** Terminates the database's remaining backends and drops it; no error when it does not exist. */
  dropDatabase(database: string): Promise<void>;
  /**
   * Terminates the database's backends and renames it (`ALTER DATABASE … RENAME TO …`); throws naming
   * both when `from` does not exist or `to` does.
   */
  renameDatabase(from: string, to: string): Promise<void>;
  /** `CREATE DATABASE … WITH OWNER … ENCODING 'UTF-8' LC_COLLATE='C.UTF-8' LC_CTYPE='C.UTF-8' TEMPLATE template0`. */
  createDatabase(request: { database: string; owner: string }): Promise<void>;
  /**
   * `ALTER TABLE … VALIDATE CONSTRAINT …` for each constraint of `database` (each on its own: one that is
   * violated stays NOT VALID and says why, the others become ordinary constraints).
   */
  validateConstraints(database: string, constraints: readonly DeferredConstraint[]): Promise<ConstraintCheck[]>;
}

/** A running dump; its stdout must be consumed. */
export interface DumpProcess {
  readonly stdout: Readable;
  /** Resolves when the dump exited 0; rejects with a typed error (exit code, stderr tail) otherwise. */
  readonly done: Promise<void>;
  /** Stops the dump (when its output is no longer wanted). */
  kill(): void;
}

/** `pg_dump`, plain SQL. */
export interface DumpTool {
  /** Checks the tool is present; returns its major version (it must not be older than the server's). */
  check(): Promise<{ version: string; major: number }>;
  /** Starts `pg_dump --snapshot=<snapshotName> --format=plain` of `database`. */
  start(request: { database: string; snapshotName: string }): DumpProcess;
}

/** What `SqlLoader.load` is given. */
export interface LoadRequest {
  database: string;
  /** Plain SQL, consumed to its end. */
  input: Readable;
  /**
   * Awaited after `input` ended and before the load is committed; a rejection aborts the load
   * (nothing of it stays in the database) and `load` rejects with that reason.
   */
  beforeCommit: () => Promise<void>;
  signal?: AbortSignal;
}

/** `psql -v ON_ERROR_STOP=1`, fed from a stream. */
export interface SqlLoader {
  check(): Promise<void>;
  load(request: LoadRequest): Promise<void>;
}

/** FindFace's management commands run after the database is loaded, in this order. */
export const APP_COMMANDS = ['migrate', 'create_groups', 'create_default_user'] as const;
export type AppCommand = (typeof APP_COMMANDS)[number];

/** `findface-security <command>`. */
export interface AppCommands {
  /** The executable as named in messages (e.g. `findface-security`). */
  readonly program: string;
  /** Checks the program is present. */
  check(): Promise<void>;
  run(command: AppCommand): Promise<void>;
}
