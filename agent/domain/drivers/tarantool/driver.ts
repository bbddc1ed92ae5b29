/**
 * `TarantoolShardDriver`: the `ComponentDriver` of one Tarantool shard, physical backup by default.
 *
 * - prepare: the shard answers, runs, uses the configured directories, and holds no backup pin.
 * - freeze: Tarantool cannot refuse writes by itself; freeze waits (bounded) until the shard's
 *   signature has been stable for a settle time — the writers are held upstream (pgbouncer PAUSE). A
 *   watcher started on the shard at prepare looks at the signature from then on, so quiet time that began
 *   before the freeze call (the writes stop when PostgreSQL is paused, a round trip earlier) counts.
 * - cut: starts `box.snapshot()` in a fiber without waiting for it and records the vclock at its start.
 * - upload / release / restore: see `upload.ts` and `restore.ts`.
 * - releaseStalePins: `box.backup.stop()` for pins a crashed agent left behind; call at agent start.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, IllegalStateError, TimeoutError, UnavailableError, ValidationError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/logger.js';
import type { ServiceManager } from '../../ports.js';
import type {
  ImportContext,
  ComponentArtifact,
  ComponentDriver,
  CutPoint,
  FreezeOptions,
  RestoreContext,
  RestoreReport,
  SandboxResource,
  SandboxRestoreContext,
  SandboxRestoreReport,
  StagedComponent,
  StagedJournal,
  UploadContext,
} from '../types.js';
import { importShard } from './import.js';
import { recoverStagedShard, restoreShard, stageShard, type ShardRestoreDeps } from './restore.js';
import { releaseShardSandbox, restoreShardSandbox, type ScratchInstances } from './sandbox.js';
import type { GalleryStore, ShardAdmin, ShardFiles, StartedCheckpoint } from './ports.js';
import { uploadCheckpoint, type TarantoolCut } from './upload.js';

/** Time bounds of the driver's operations (ms). */
export interface TarantoolTimings {
  /** freeze: how long the signature must stay unchanged. Default 20. */
  freezeSettleMs: number;
  /** freeze: give up (and fail the freeze) after this long. Default 2,000. */
  freezeTimeoutMs: number;
  /** prepare → freeze: the shard's write watcher runs at most this long (the freeze ends it sooner). Default 60,000. */
  writeWatchMs: number;
  /** cut: how long to wait for a checkpoint already in progress. Default 2,000. */
  busyCheckpointWaitMs: number;
  /** upload: how long the cut's checkpoint may take to be written. Default 30 min. */
  checkpointTimeoutMs: number;
  /** restore: how long the restarted instance may take to run. Default 10 min. */
  startTimeoutMs: number;
}

export const DEFAULT_TARANTOOL_TIMINGS: Readonly<TarantoolTimings> = Object.freeze({
  freezeSettleMs: 20,
  freezeTimeoutMs: 2_000,
  writeWatchMs: 60_000,
  busyCheckpointWaitMs: 2_000,
  checkpointTimeoutMs: 30 * 60_000,
  startTimeoutMs: 10 * 60_000,
});

/** The shard as the agent's config describes it. */
export interface TarantoolShardSettings {
  name: string;
  unit: string;
  memtxDir: string;
  walDir: string;
  /** Undefined: wherever the running instance keeps it (its `box.cfg.vinyl_dir`). */
  vinylDir?: string;
}

export interface TarantoolDriverDeps {
  admin: ShardAdmin;
  files: ShardFiles;
  services: ServiceManager;
  logger: Logger;
  /** Used to record gallery model names in artifacts; optional. */
  galleries?: GalleryStore;
  /** Resolves symlinks, to compare configured and actual directories. */
  realpath: (dir: string) => Promise<string>;
  timings?: Partial<TarantoolTimings>;
  /** Scratch instances for verify drills; without it the shard cannot be restored into a sandbox. */
  scratch?: ScratchInstances;
  /** Lua a scratch instance runs after box.cfg (see the `sandboxInitLua` config field). */
  sandboxInitLua?: string;
  /** The galleries of a scratch instance at `host:port` (with the shard's credentials): snapshot exports. */
  sandboxGalleries?: (host: string, port: number) => GalleryStore;
}

export class TarantoolShardDriver implements ComponentDriver {
  readonly kind = 'tarantool' as const;
  readonly name: string;
  readonly ref: string;
  private readonly timings: TarantoolTimings;
  private held: { cut: TarantoolCut; token: string } | undefined;
  /** The cut a freeze with `cutFollows` started, until cut() takes it. */
  private early: { cut: TarantoolCut; token: string } | undefined;
  private pinned = false;

  constructor(
    private readonly settings: TarantoolShardSettings,
    private readonly deps: TarantoolDriverDeps,
  ) {
    this.name = settings.name;
    this.ref = `tarantool:${settings.name}`;
    this.timings = { ...DEFAULT_TARANTOOL_TIMINGS, ...deps.timings };
  }

  async prepare(): Promise<void> {
    const info = await this.reach(() => this.deps.admin.info());
    if (info.status !== 'running') throw new UnavailableError(`${this.ref}: shard at ${this.deps.admin.address} is '${info.status}', not running`);
    const checks: Array<[keyof TarantoolShardSettings, string | undefined, string]> = [
      ['memtxDir', this.settings.memtxDir, info.dirs.memtx],
      ['walDir', this.settings.walDir, info.dirs.wal],
      ['vinylDir', this.settings.vinylDir, info.dirs.vinyl],
    ];
    for (const [field, configured, actual] of checks) {
      if (configured === undefined) continue;
      const [a, b] = await Promise.all([this.deps.realpath(configured), this.deps.realpath(actual)]);
      if (a !== b) throw new ValidationError(`${this.ref}: ${field} is ${configured} but the shard uses ${actual}`, { field });
    }
    const { checkpoints } = await this.deps.admin.checkpoints();
    if (checkpoints.some((c) => c.pinned)) {
      throw new ConflictError(`${this.ref}: a checkpoint is pinned by box.backup.start() (another backup running, or a stale pin: releaseStalePins)`);
    }
    await this.reach(() => this.deps.admin.watchWrites(this.timings.writeWatchMs));
  }

  /**
   * Waits until the shard's writes have stopped: its signature unchanged for `freezeSettleMs` (bounded).
   * With `cutFollows`, the checkpoint of the cut starts in the same call the moment they have (cut()
   * answers it).
   */
  async freeze(options: FreezeOptions = {}): Promise<void> {
    const { freezeSettleMs, freezeTimeoutMs } = this.timings;
    this.early = undefined;
    const token = options.cutFollows ? randomBytes(8).toString('hex') : undefined;
    const checkpoint = token ? { token, waitBusyMs: this.timings.busyCheckpointWaitMs } : undefined;
    const q = await this.reach(() => this.deps.admin.quiet(freezeSettleMs, freezeTimeoutMs, checkpoint));
    if (!q.settled) throw new TimeoutError(`${this.ref}: writes did not stop within ${freezeTimeoutMs} ms (signature still moving, at ${q.signature})`);
    this.deps.logger.debug({ component: this.ref, waitedMs: Math.round(q.waitedMs), quietMs: Math.round(q.quietMs), watched: q.watched, signature: q.signature }, 'shard writes stopped');
    if (token && q.checkpoint) this.early = { cut: this.cutAt(q.checkpoint), token };
  }

  async cut(): Promise<CutPoint> {
    if (this.held) this.deps.logger.warn({ component: this.ref, previous: this.held.cut.signature }, 'a new cut replaces one never uploaded');
    const early = this.early;
    this.early = undefined;
    if (early) {
      this.held = early;
      return early.cut;
    }
    const token = randomBytes(8).toString('hex');
    const started = await this.reach(() => this.deps.admin.startCheckpoint(token, this.timings.busyCheckpointWaitMs));
    this.held = { cut: this.cutAt(started), token };
    return this.held.cut;
  }

  private cutAt(started: StartedCheckpoint): TarantoolCut {
    return { kind: 'tarantool', component: this.ref, time: new Date(), vclock: started.vclock, signature: started.signature };
  }

  async thaw(): Promise<void> {
    // Nothing to undo: freeze only observed the shard.
  }

  async upload(ctx: UploadContext): Promise<ComponentArtifact> {
    const held = this.held;
    if (!held) throw new IllegalStateError(`${this.ref}: upload without a cut (call cut() first)`);
    this.held = undefined;
    return uploadCheckpoint(
      {
        ref: this.ref,
        admin: this.deps.admin,
        ...(this.deps.galleries ? { galleries: this.deps.galleries } : {}),
        checkpointTimeoutMs: this.timings.checkpointTimeoutMs,
        onPinned: (p) => (this.pinned = p),
      },
      held.cut,
      held.token,
      ctx,
    );
  }

  async release(): Promise<void> {
    // The cut holds no pin (upload pins and always unpins); only the cut itself is forgotten, and the write
    // watcher of a cut given up before its freeze is stopped (it would end by itself after writeWatchMs).
    // A checkpoint a freeze started for a cut never taken just completes, as an automatic one would.
    this.held = undefined;
    this.early = undefined;
    await this.deps.admin.stopWatch().catch((err: unknown) => this.deps.logger.debug({ component: this.ref, err }, 'stopping the write watcher failed; it ends by itself'));
  }

  restore(ctx: RestoreContext): Promise<RestoreReport> {
    return restoreShard(this.restoreDeps(), ctx);
  }

  /** The stage of a two-phase restore: the checkpoint files fetched beside the live ones; see restore.ts. */
  stage(ctx: RestoreContext): Promise<StagedComponent> {
    return stageShard(this.restoreDeps(), ctx);
  }

  /** Checkpoint files staged by an interrupted restore, from the agent's restore journal; see restore.ts. */
  recoverStaged(_jobId: string, journal: StagedJournal): StagedComponent {
    return recoverStagedShard(this.restoreDeps(), journal);
  }

  /** Checkpoint files placed in the sandbox and a scratch instance started from them; see sandbox.ts. */
  restoreSandbox(ctx: SandboxRestoreContext): Promise<SandboxRestoreReport> {
    const scratch = this.deps.scratch;
    if (!scratch) throw new IllegalStateError(`${this.ref}: this agent cannot start scratch Tarantool instances`);
    return restoreShardSandbox({ restore: this.restoreDeps(), name: this.name, scratch, ...(this.deps.sandboxInitLua ? { initLua: this.deps.sandboxInitLua } : {}) }, ctx);
  }

  /** A snapshot import: the export's galleries made into a checkpoint of this shard; see import.ts. */
  importArtifact(ctx: ImportContext): Promise<ComponentArtifact> {
    const { scratch, sandboxGalleries } = this.deps;
    if (!scratch || !sandboxGalleries) throw new IllegalStateError(`${this.ref}: this agent cannot start scratch Tarantool instances`);
    return importShard(
      { restore: this.restoreDeps(), scratch, galleriesAt: sandboxGalleries, checkpointTimeoutMs: this.timings.checkpointTimeoutMs, ...(this.deps.sandboxInitLua ? { initLua: this.deps.sandboxInitLua } : {}) },
      ctx,
    );
  }

  /** The galleries of this shard's scratch instance of a sandbox (close the store after use). */
  sandboxGalleries(endpoint: { host: string; port: number }): GalleryStore {
    if (!this.deps.sandboxGalleries) throw new IllegalStateError(`${this.ref}: this agent cannot read the galleries of a scratch instance`);
    return this.deps.sandboxGalleries(endpoint.host, endpoint.port);
  }

  /** Stops a sandbox's scratch instance. */
  releaseSandbox(resource: SandboxResource): Promise<string> {
    if (resource.kind !== 'instance' || !this.deps.scratch) {
      throw new ValidationError(`${this.ref} cannot release sandbox resource ${JSON.stringify(resource)}`, { field: 'resource' });
    }
    return releaseShardSandbox(this.deps.scratch, this.ref, resource.dir);
  }

  private restoreDeps(): ShardRestoreDeps {
    const { unit, memtxDir, walDir, vinylDir } = this.settings;
    return {
      ref: this.ref,
      unit,
      dirs: { memtx: memtxDir, wal: walDir, vinyl: vinylDir },
      admin: this.deps.admin,
      files: this.deps.files,
      services: this.deps.services,
      startTimeoutMs: this.timings.startTimeoutMs,
    };
  }

  /**
   * Releases a `box.backup.start()` pin left by an agent that died mid-upload (safe when there is
   * none). Call once at agent start, before any backup. Returns the signatures that were pinned.
   */
  async releaseStalePins(): Promise<{ released: number[] }> {
    if (this.pinned) throw new IllegalStateError(`${this.ref}: an upload of this agent holds the pin; not a stale one`);
    const { checkpoints } = await this.reach(() => this.deps.admin.checkpoints());
    const released = checkpoints.filter((c) => c.pinned).map((c) => c.signature);
    if (released.length > 0) {
      await this.deps.admin.unpin();
      this.deps.logger.warn({ component: this.ref, released }, 'released a stale box.backup pin');
    }
    return { released };
  }

  /** Closes the shard connections. */
  async close(): Promise<void> {
    await Promise.all([this.deps.admin.close(), this.deps.galleries?.close()]);
  }

  /** Runs a first call to the shard, naming the component when it cannot be reached. */
  private async reach<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof UnavailableError) throw new UnavailableError(`${this.ref}: ${err.message}`, { cause: err });
      throw err;
    }
  }
}
