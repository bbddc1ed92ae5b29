/**
 * Role-named ports of the Tarantool shard driver. The domain code (cut, upload, restore, logical
 * export/import) speaks only these; `agent/adapters/tarantool/` implements them over iproto (Lua
 * evaluated on the shard) and the local filesystem.
 */

/** A Tarantool vector clock: replica id (as a string) → LSN. */
export type Vclock = Record<string, number>;

/** What a shard says about itself. */
export interface ShardInfo {
  /** `box.info.status`, e.g. `running`, `loading`, `orphan`. */
  status: string;
  vclock: Vclock;
  /** `box.info.signature`: the sum of the vclock. */
  signature: number;
  /** The data directories as the instance resolved them (absolute). */
  dirs: { memtx: string; wal: string; vinyl: string };
}

/** How a shard's wait for its writes to stop ended (`ShardAdmin.quiet`). */
export interface QuietOutcome {
  /** True when the signature stayed unchanged for the settle time; false when the timeout came first. */
  settled: boolean;
  /** `box.info.signature` when the wait ended. */
  signature: number;
  /** How long the shard waited, ms. */
  waitedMs: number;
  /** True when the write watcher started at prepare was running and its looks counted (`watchWrites`). */
  watched: boolean;
  /** How long the signature had stayed unchanged when the wait ended, ms (looks before the call included when watched). */
  quietMs: number;
  /** The checkpoint started in the same call once settled, when one was asked for. */
  checkpoint?: StartedCheckpoint;
}

/** A checkpoint the shard still keeps (oldest first in listings). */
export interface CheckpointInfo {
  signature: number;
  vclock: Vclock;
  /** True while `box.backup.start()` pins it. */
  pinned: boolean;
}

/** The checkpoints a shard keeps, and whether one is being written now. */
export interface CheckpointList {
  inProgress: boolean;
  /** Oldest first, as `box.info.gc().checkpoints` lists them. */
  checkpoints: CheckpointInfo[];
}

/** What `startCheckpoint` observed the moment the checkpoint started. */
export interface StartedCheckpoint {
  vclock: Vclock;
  signature: number;
}

/** How the checkpoint started by a cut ended, as far as the shard remembers. */
export type CheckpointOutcome =
  | { state: 'running' }
  | { state: 'done'; signature: number; vclock: Vclock }
  | { state: 'failed'; message: string }
  /** The shard does not know the token (restarted since the cut). */
  | { state: 'unknown' };

/** Administration of one shard instance (iproto). */
export interface ShardAdmin {
  /** `host:port`, for messages. */
  readonly address: string;
  info(): Promise<ShardInfo>;
  /**
   * Waits on the shard itself until `box.info.signature` has not changed for `settleMs` (looked at every
   * millisecond; the quiet time must hold one look per 2 ms at least, so that a shard the machine did not
   * run for a while cannot call that quiet), at most `timeoutMs`: one call however long the writes take to stop.
   * With `checkpoint`, a settled wait starts the checkpoint in the same call (as `startCheckpoint`, and
   * failing as it does), answered as `checkpoint`: the cut without another round trip.
   */
  quiet(settleMs: number, timeoutMs: number, checkpoint?: { token: string; waitBusyMs: number }): Promise<QuietOutcome>;
  /**
   * Starts the shard's write watcher: it looks at `box.info.signature` every millisecond from now on, so
   * that `quiet` counts the quiet time before it was called (writes that stopped before the freeze was
   * asked for need not be waited for again). It replaces a running one, ends when `quiet` takes it over or
   * `stopWatch` is called, and after `maxMs` in any case.
   */
  watchWrites(maxMs: number): Promise<void>;
  /** Stops the write watcher, if one runs. */
  stopWatch(): Promise<void>;
  /**
   * Starts `box.snapshot()` in a fiber without waiting for it and returns the vclock observed right
   * after the checkpoint began. Waits up to `waitBusyMs` for a checkpoint already in progress.
   */
  startCheckpoint(token: string, waitBusyMs: number): Promise<StartedCheckpoint>;
  /** Waits up to `waitMs` for the checkpoint started under `token` to end. */
  checkpointOutcome(token: string, waitMs: number): Promise<CheckpointOutcome>;
  checkpoints(): Promise<CheckpointList>;
  /**
   * `box.backup.start(indexFromNewest)`: pins a checkpoint (0 = newest) and returns its files as
   * absolute paths. Throws `ConflictError` when a pin is already held.
   */
  pin(indexFromNewest: number): Promise<string[]>;
  /** `box.backup.stop()`; safe when nothing is pinned. */
  unpin(): Promise<void>;
  /** Resolves when the instance answers and reports `running`; throws `TimeoutError` naming it otherwise. */
  waitRunning(timeoutMs: number, signal?: AbortSignal): Promise<ShardInfo>;
  /** True when anything answers iproto at the address. */
  answers(): Promise<boolean>;
  /** Drops the connection (reopened on the next call). */
  close(): Promise<void>;
}

/** Files moved out of the data directories, to be put back or discarded. */
export interface AsideSet {
  /** data dir → the sibling directory its files went to. */
  moves: Array<{ dir: string; asideDir: string; entries: string[] }>;
}

/** A file restored from the repository into a staging area, and where it belongs. */
export interface StagedFile {
  staged: string;
  destination: string;
}

/** The local filesystem side of a restore. */
export interface ShardFiles {
  /** Bytes free (for an unprivileged writer) on the filesystem that holds `dir` (or its nearest existing parent). */
  freeBytes(dir: string): Promise<number>;
  /** A fresh, empty staging directory on the same filesystem as `nearDir`. */
  makeStaging(nearDir: string, label: string): Promise<string>;
  /** Every regular file below `root` (absolute paths). */
  listFiles(root: string): Promise<string[]>;
  /**
   * Moves Tarantool's data files (`*.snap`, `*.xlog`, `*.vylog`, their `.inprogress` forms and vinyl's
   * numeric space directories) out of each of `dirs` into a sibling directory named with `label`.
   */
  moveAside(dirs: readonly string[], label: string): Promise<AsideSet>;
  /** Moves staged files into place (creating parent directories, owned like the data directory). */
  place(files: readonly StagedFile[]): Promise<void>;
  /**
   * Removes whatever data files are now in `dirs` (what `place` put there), then puts `aside` back. With
   * `removeLive: false` nothing is removed: a move aside interrupted before anything was placed leaves the
   * not-yet-moved previous files in `dirs`, and only the moved ones go back.
   */
  putBack(aside: AsideSet, options?: { removeLive?: boolean }): Promise<void>;
  /**
   * After an agent restart: the aside directories `moveAside(dirs, label)` made and what they hold now, or
   * undefined when there are none (the move never began).
   */
  findAside(dirs: readonly string[], label: string): Promise<AsideSet | undefined>;
  /** How many of `paths` exist. */
  countExisting(paths: readonly string[]): Promise<number>;
  /** Deletes the aside directories (after a confirmed restore). */
  discard(aside: AsideSet): Promise<void>;
  removeDir(dir: string): Promise<void>;
}

/** A gallery as a shard describes it. */
export interface GalleryInfo {
  name: string;
  /** Feature-vector model name. */
  model: string;
  /** Vector dimension (float32 components). */
  dim: number;
  count: number;
}

/** One batch of exported records: newline-free JSON lines, and the key to continue after. */
export interface ExportBatch {
  lines: Buffer[];
  /** Primary key of the last record (decimal text), undefined when the batch is empty. */
  lastKey: string | undefined;
}

/** Per-gallery progress of an import, kept in the target shard. */
export type ImportProgress = Record<string, { linesDone: number; finished: boolean }>;

/** Digest of one gallery: record count and sha256 of its records in export form, in key order. */
export interface GalleryDigest {
  count: number;
  sha256: string;
}

/** The record-level side of a shard: what logical export, import and verification use. */
export interface GalleryStore {
  readonly address: string;
  listGalleries(): Promise<GalleryInfo[]>;
  /** Up to `limit` records with a key greater than `afterKey` (from the start when undefined). */
  exportBatch(gallery: string, afterKey: string | undefined, limit: number): Promise<ExportBatch>;
  /**
   * Creates the gallery when missing; throws `ValidationError` naming the gallery and both models
   * when it exists with another model or dimension.
   */
  ensureGallery(gallery: { name: string; model: string; dim: number }): Promise<void>;
  readProgress(exportId: string): Promise<ImportProgress>;
  /**
   * Upserts `lines` into `gallery` and records `linesDoneBefore + lines.length` as its progress, in one
   * transaction. Throws `ConflictError` when the stored progress is not `linesDoneBefore`.
   */
  importBatch(request: { exportId: string; gallery: string; linesDoneBefore: number; lines: Buffer[]; finished: boolean }): Promise<void>;
  /** Forgets the progress of `exportId` (after a complete import). */
  clearProgress(exportId: string): Promise<void>;
  /** Empties a registered gallery (its registration kept); returns the records removed. */
  truncate(gallery: string): Promise<number>;
  /**
   * Upserts `lines` (export format) into a registered gallery in one transaction, every line checked
   * first (a bad one fails the batch, naming it); no progress is kept. Returns the records written.
   */
  replaceBatch(gallery: string, lines: Buffer[]): Promise<number>;
  /** Digest of each gallery (all when `galleries` is omitted). */
  digest(galleries?: readonly string[]): Promise<Record<string, GalleryDigest>>;
  close(): Promise<void>;
}
