/**
 * The PostgreSQL component driver (FindFace's main database `ffsecurity`, behind pgbouncer):
 * - freeze: `PAUSE <db>` on pgbouncer's admin console, bounded by a timeout; a PAUSE that does not
 *   return in time is cancelled with RESUME and reported as a TimeoutError naming pgbouncer and the db;
 * - cut: `pg_export_snapshot()` in a REPEATABLE READ transaction on a direct connection, with the WAL
 *   position and server time; held until pg_dump has started (upload) or release();
 * - thaw: `RESUME <db>`; idempotent, a no-op when no PAUSE was sent;
 * - upload: see upload.ts; restore: see restore.ts.
 */
import { IllegalStateError, TimeoutError, UnavailableError, ValidationError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/logger.js';
import type { ServiceManager } from '../../ports.js';
import type { OpenedBackupStream } from '../../../../shared/repository/repository.js';
import { snapshotTags } from '../../../../shared/tags.js';
import type {
  ComponentTags,
  ImportContext,
  ComponentArtifact,
  ComponentDriver,
  CutPoint,
  PrepareContext,
  RestoreContext,
  RestoreReport,
  SandboxResource,
  SandboxRestoreContext,
  SandboxRestoreReport,
  StagedComponent,
  StagedJournal,
  UploadContext,
} from '../types.js';
import type { AppCommands, DatabaseServer, DumpTool, PoolerConsole, PreparedSnapshot, ServerInfo, SnapshotHold, SqlLoader } from './ports.js';
import { restorePostgres } from './restore.js';
import { restorePostgresSandbox } from './sandbox.js';
import { recoverStagedPostgres, stagePostgres, type StagedRestoreSettings } from './staged.js';
import { withTimeout } from '../../../../shared/timeout.js';
import { dumpFilename, uploadDump } from './upload.js';
import { importDump } from './import.js';

export const DEFAULT_PAUSE_TIMEOUT_MS = 2_000;
/** Time allowed, on top of the PAUSE timeout, to connect to the console and get the PAUSE sent. */
export const PAUSE_PREPARE_MS = 2_000;

/** The ports a PostgreSQL driver drives. */
export interface PostgresDriverPorts {
  pooler: PoolerConsole;
  server: DatabaseServer;
  dump: DumpTool;
  loader: SqlLoader;
  app: AppCommands;
  services: ServiceManager;
  /** Free bytes of a directory's filesystem on this host; given only when the server runs on this host. */
  freeBytes?: (dir: string) => Promise<number>;
}

/** How the driver is set up (from the component's config, see `agent/adapters/postgres/factory.ts`). */
export interface PostgresDriverOptions {
  /** Component name (`ffsecurity`). */
  name: string;
  /** Database on the PostgreSQL server. */
  database: string;
  /** The database as pgbouncer names it (what PAUSE/RESUME name); default `database`. */
  poolerDatabase?: string;
  /** Owner of the database when it is re-created on restore. */
  owner: string;
  units: { app: string; pgbouncer: string };
  /** Bound of PAUSE (and of RESUME); default 2 s. */
  pauseTimeoutMs?: number;
  /** What the restore reads before touching anything; default `open`. */
  restoreVerify?: 'open' | 'full';
  /** The server as a verify drill's integrity check reaches it (a sandbox's scratch database is there). */
  endpoint?: { host: string; port: number };
  ports: PostgresDriverPorts;
  logger: Logger;
}

type PostgresCut = Extract<CutPoint, { kind: 'postgres' }>;

/** A dump's backup opened at prepare, with what it was opened for. */
interface OpenedDump {
  tags: ComponentTags;
  repository: string;
  stream: OpenedBackupStream;
}

/** The PostgreSQL `ComponentDriver`. */
export class PostgresDriver implements ComponentDriver {
  readonly kind = 'postgres' as const;
  readonly name: string;
  readonly ref: string;
  private readonly poolerDatabase: string;
  private readonly pauseTimeoutMs: number;
  private readonly ports: PostgresDriverPorts;
  private readonly logger: Logger;
  /** True from the moment a PAUSE may have reached pgbouncer until a RESUME succeeded. */
  private pauseSent = false;
  private held: { hold: SnapshotHold; cut: PostgresCut } | undefined;
  /** The cut's connection, opened by prepare (see `PreparedSnapshot`). */
  private prepared: PreparedSnapshot | undefined;
  /** The dump's backup, started by a cut's prepare; fed by that cut's upload. */
  private opened: OpenedDump | undefined;
  readonly opensRepository = true;
  private versions: { server?: ServerInfo; pgDump?: string } = {};

  constructor(private readonly options: PostgresDriverOptions) {
    this.name = options.name;
    this.ref = `postgres:${options.name}`;
    this.poolerDatabase = options.poolerDatabase ?? options.database;
    this.pauseTimeoutMs = options.pauseTimeoutMs ?? DEFAULT_PAUSE_TIMEOUT_MS;
    this.ports = options.ports;
    this.logger = options.logger.bindings().component === undefined ? options.logger.child({ component: this.ref }) : options.logger;
    if (!/^[A-Za-z0-9_.-]+$/.test(this.poolerDatabase)) {
      throw new ValidationError(`${this.ref}: pgbouncer database name '${this.poolerDatabase}' cannot be named in PAUSE/RESUME`, { field: 'pgbouncer.database' });
    }
  }

  /**
   * Server reachable, pgbouncer's console answering for the database, pg_dump present and new enough.
   * With a cut's `ctx`, the dump's backup is started too (restic opens the repository now, beside these
   * checks, rather than after the thaw): it proves the repository opens, and the upload feeds it.
   */
  async prepare(ctx?: PrepareContext): Promise<void> {
    await this.cancelOpened();
    const opening = ctx ? this.openBackup(ctx) : Promise.resolve(undefined);
    const [checked, opened] = await Promise.allSettled([this.checkAndConnect(), opening]);
    if (checked.status === 'rejected' || opened.status === 'rejected') {
      if (opened.status === 'fulfilled') await opened.value?.stream.cancel();
      if (checked.status === 'fulfilled') await this.discardPrepared();
      throw checked.status === 'rejected' ? checked.reason : (opened as PromiseRejectedResult).reason;
    }
    this.opened = opened.value;
  }

  private async checkAndConnect(): Promise<void> {
    const { server, pooler, dump } = this.ports;
    const info = await server.check(this.options.database);
    await pooler.check(this.poolerDatabase);
    const tool = await dump.check();
    const serverMajor = Math.floor(info.versionNum / 10_000);
    if (tool.major < serverMajor) {
      throw new IllegalStateError(`${this.ref}: pg_dump ${tool.version} is older than PostgreSQL ${info.version} at ${server.address}; install pg_dump ${serverMajor} or newer`);
    }
    this.versions = { server: info, pgDump: tool.version };
    // The cut's connection and transaction, and the console's for PAUSE and RESUME, opened now rather
    // than inside the freeze window.
    await this.discardPrepared();
    this.prepared = await server.prepareSnapshot(this.options.database);
    await pooler.warm?.();
    pooler.watchLogins?.(this.poolerDatabase);
  }

  private async openBackup(ctx: PrepareContext): Promise<OpenedDump> {
    const stream = await ctx.repository.openBackupStream({ filename: dumpFilename(this.options.database), tags: snapshotTags(ctx.tags) });
    return { tags: ctx.tags, repository: ctx.repository.displayUrl, stream };
  }

  /** The backup prepare opened, when it was opened for this upload and can still be fed; else it is stopped. */
  private async takeOpened(ctx: UploadContext): Promise<OpenedBackupStream | undefined> {
    const opened = this.takeAnyOpened();
    if (!opened) return undefined;
    const { tags } = opened;
    const same = tags.site === ctx.tags.site && tags.cutId === ctx.tags.cutId && opened.repository === ctx.repository.displayUrl;
    if (same && opened.stream.usable) return opened.stream;
    this.logger.info({ cutId: ctx.tags.cutId, opened: same ? 'ended' : tags.cutId }, 'the backup opened at prepare cannot take this dump: starting a new one');
    await opened.stream.cancel();
    return undefined;
  }

  private async cancelOpened(): Promise<void> {
    await this.takeAnyOpened()?.stream.cancel();
  }

  private takeAnyOpened(): OpenedDump | undefined {
    const opened = this.opened;
    this.opened = undefined;
    return opened;
  }

  private async discardPrepared(): Promise<void> {
    const prepared = this.prepared;
    this.prepared = undefined;
    await prepared?.discard();
  }

  /** `PAUSE <db>` on pgbouncer, bounded by `pauseTimeoutMs`; on timeout or error, RESUME and throw. */
  async freeze(): Promise<void> {
    const { pooler } = this.ports;
    const db = this.poolerDatabase;
    const abort = new AbortController();
    const started = Date.now();
    try {
      await this.boundedPause(abort);
      this.logger.debug({ ms: Date.now() - started }, 'pgbouncer paused');
    } catch (err) {
      abort.abort();
      const sent = this.pauseSent;
      const undo = await this.thaw().then(
        () => (sent ? 'cancelled with RESUME' : 'nothing was paused'),
        (e: unknown) => `RESUME failed too: ${e instanceof Error ? e.message : String(e)}`,
      );
      if (err instanceof TimeoutError) throw new TimeoutError(`${err.message}; ${undo}`, { cause: err });
      const why = err instanceof Error ? err.message : String(err);
      throw new UnavailableError(`PAUSE ${db} on pgbouncer ${pooler.address} failed: ${why}; ${undo}`, { cause: err });
    }
  }

  /**
   * The PAUSE itself gets `pauseTimeoutMs` from the moment it is sent; getting there (connecting, the
   * console's short wait for server logins in progress) gets `PAUSE_PREPARE_MS` more before that.
   */
  private boundedPause(abort: AbortController): Promise<void> {
    const { pooler } = this.ports;
    const what = `PAUSE ${this.poolerDatabase} on pgbouncer ${pooler.address}`;
    const ms = this.pauseTimeoutMs;
    return new Promise<void>((resolve, reject) => {
      const expire = (message: string) => (): void => {
        abort.abort();
        reject(new TimeoutError(message));
      };
      let timer = setTimeout(expire(`${what} could not be sent within ${ms + PAUSE_PREPARE_MS} ms`), ms + PAUSE_PREPARE_MS);
      const onSent = (): void => {
        this.pauseSent = true;
        clearTimeout(timer);
        timer = setTimeout(expire(`${what} did not return within ${ms} ms`), ms);
      };
      pooler
        .pause(this.poolerDatabase, { signal: abort.signal, onSent })
        .then(resolve, reject)
        .finally(() => clearTimeout(timer));
    });
  }

  /** Exports the snapshot on a direct connection and keeps its transaction open. */
  async cut(): Promise<CutPoint> {
    if (this.held) throw new IllegalStateError(`${this.ref}: a cut is already held (snapshot ${this.held.cut.snapshotName}); upload or release it first`);
    const hold = await this.takeSnapshot();
    const { name, lsn, time } = hold.snapshot;
    const cut: PostgresCut = { kind: 'postgres', component: this.ref, time, snapshotName: name, lsn };
    this.held = { hold, cut };
    this.logger.info({ snapshot: name, lsn }, 'cut taken');
    return cut;
  }

  /** The snapshot from the connection prepare opened; a fresh connection when there is none or it was lost. */
  private async takeSnapshot(): Promise<SnapshotHold> {
    const prepared = this.prepared;
    this.prepared = undefined;
    if (prepared) {
      try {
        return await prepared.take();
      } catch (err) {
        this.logger.warn({ err }, 'the connection opened at prepare could not export the snapshot; exporting on a new one');
      }
    }
    return this.ports.server.exportSnapshot(this.options.database);
  }

  /** `RESUME <db>`, bounded; nothing to do when no PAUSE was sent. */
  async thaw(): Promise<void> {
    if (!this.pauseSent) return;
    const { pooler } = this.ports;
    const db = this.poolerDatabase;
    const result = await withTimeout(pooler.resume(db), this.pauseTimeoutMs, `RESUME ${db} on pgbouncer ${pooler.address} did not return within ${this.pauseTimeoutMs} ms`);
    this.pauseSent = false;
    this.logger.debug({ result }, 'pgbouncer resumed');
  }

  /** pg_dump from the held snapshot, streamed into the repository; the cut is released afterwards. */
  async upload(ctx: UploadContext): Promise<ComponentArtifact> {
    const held = this.held;
    if (!held) throw new IllegalStateError(`${this.ref}: upload without a cut (call cut() first)`);
    this.held = undefined;
    if (ctx.tags.component !== this.ref) {
      await held.hold.release();
      await this.cancelOpened();
      throw new ValidationError(`${this.ref}: upload tagged for component '${ctx.tags.component}'`, { field: 'tags.component' });
    }
    const details: Record<string, string> = {};
    if (this.versions.server) details.serverVersion = this.versions.server.version;
    if (this.versions.pgDump) details.pgDumpVersion = this.versions.pgDump;
    const opened = await this.takeOpened(ctx);
    return uploadDump({ ctx, dumpTool: this.ports.dump, hold: held.hold, cut: held.cut, database: this.options.database, details, ...(opened ? { opened } : {}) });
  }

  /** Ends the cut's transaction without uploading; the backup opened at prepare stops without a snapshot. Idempotent. */
  async release(): Promise<void> {
    const held = this.held;
    this.held = undefined;
    await this.cancelOpened();
    await this.discardPrepared();
    if (!this.pauseSent) await this.ports.pooler.cool?.();
    if (held) await held.hold.release();
  }

  /** Agent shutdown: a backup opened at prepare stops without a snapshot (its stdin must not just close). */
  async close(): Promise<void> {
    await this.cancelOpened();
  }

  /** FindFace's documented restore sequence; see restore.ts. */
  /** A snapshot import: the export's plain dump stored as this component's artifact; see import.ts. */
  importArtifact(ctx: ImportContext): Promise<ComponentArtifact> {
    return importDump(ctx, this.ref, this.options.database);
  }

  restore(ctx: RestoreContext): Promise<RestoreReport> {
    const { database, owner, units } = this.options;
    const { server, loader, app, services } = this.ports;
    const settings = { ref: this.ref, database, owner, units, verify: this.options.restoreVerify ?? 'open', progressIntervalMs: 1000 };
    return restorePostgres({ server, loader, app, services }, settings, ctx);
  }

  /** The stage of a two-phase restore: the dump loaded into a staging database beside the live one; see staged.ts. */
  stage(ctx: RestoreContext): Promise<StagedComponent> {
    const { server, loader, app, pooler, freeBytes } = this.ports;
    return stagePostgres({ server, loader, app, pooler, ...(freeBytes ? { freeBytes } : {}) }, this.stagedSettings(), ctx);
  }

  /** A staging database of an interrupted restore, from the agent's restore journal; see staged.ts. */
  recoverStaged(jobId: string, journal: StagedJournal): StagedComponent {
    const { server, loader, app, pooler } = this.ports;
    return recoverStagedPostgres({ server, loader, app, pooler }, this.stagedSettings(), jobId, journal);
  }

  private stagedSettings(): StagedRestoreSettings {
    const { database, owner } = this.options;
    return { ref: this.ref, database, owner, poolerDatabase: this.poolerDatabase, progressIntervalMs: 1000 };
  }

  /** The dump loaded into a scratch database (verify drill); see sandbox.ts. */
  restoreSandbox(ctx: SandboxRestoreContext): Promise<SandboxRestoreReport> {
    const endpoint = this.options.endpoint ?? { host: '127.0.0.1', port: 5432 };
    return restorePostgresSandbox(this.ports, { ref: this.ref, owner: this.options.owner, endpoint }, ctx);
  }

  /** Drops a sandbox's scratch database (terminating its sessions); nothing when it is gone already. */
  async releaseSandbox(resource: SandboxResource): Promise<string> {
    if (resource.kind !== 'database' || !resource.database.startsWith('ffk_drill_')) {
      throw new ValidationError(`${this.ref} cannot release sandbox resource ${JSON.stringify(resource)}`, { field: 'resource' });
    }
    await this.ports.server.dropDatabase(resource.database);
    return `database ${resource.database} dropped on ${this.ports.server.address}`;
  }
}
