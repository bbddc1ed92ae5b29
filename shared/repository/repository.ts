/**
 * The `Repository` port: where component backups are stored, named by role and free of any engine's
 * vocabulary. Callers (component drivers, verification, retention) depend on this module only; the
 * restic adapter (`restic.ts`) is one implementation.
 *
 * Paths inside a snapshot (what `dump` and `restore` includes take) mirror the backed-up paths as they
 * were given: absolute paths keep their full path, paths relative to `cwd` get a leading '/', and a
 * stream backup is stored as `/<filename>`.
 */
import type { Readable } from 'node:stream';

/** Cancellation for any repository call. An aborted call throws `CancelledError`. */
export interface OperationOptions {
  signal?: AbortSignal;
}

/** Cancellation plus a progress callback, for calls where the engine reports progress. */
export interface ProgressOptions extends OperationOptions {
  onProgress?: (event: ProgressEvent) => void;
}

/**
 * Work done so far. Totals may grow while the engine is still scanning the source, and are 0 when
 * unknown (a stream backup does not know its size in advance).
 */
export interface ProgressUpdate {
  kind: 'progress';
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  /** Seconds left, when the engine can estimate it (after it has finished scanning). */
  etaSeconds?: number;
  /** Files being read right now, when reported. */
  currentFiles?: string[];
}

/** A single item that could not be read or written; the operation goes on without it. */
export interface ProgressItemError {
  kind: 'error';
  path: string;
  message: string;
}

/** The last event of a backup. */
export interface ProgressSummary {
  kind: 'summary';
  summary: BackupSummary;
}

/** Everything a progress callback may receive. */
export type ProgressEvent = ProgressUpdate | ProgressItemError | ProgressSummary;

/** What one backup did. */
export interface BackupSummary {
  /** Full id of the snapshot created. */
  snapshotId: string;
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  /** Bytes this backup added to the repository (after deduplication, before compression). */
  dataAddedBytes: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
  durationSeconds: number;
  /** False when some requested item could not be read: see `itemErrors` and `missingPaths`. */
  complete: boolean;
  /** Items the engine could not read (the snapshot was still created, without them). */
  itemErrors: { path: string; message: string }[];
  /** Requested paths that did not exist when the backup read them (vanished since listing). */
  missingPaths: string[];
}

/** Sizes recorded with a snapshot, when the engine records them. */
export interface SnapshotSizes {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dataAddedBytes: number;
  totalFilesProcessed: number;
  totalBytesProcessed: number;
}

/** One snapshot as listed. */
export interface SnapshotInfo {
  id: string;
  shortId: string;
  time: Date;
  host: string;
  username?: string;
  tags: string[];
  paths: string[];
  parentId?: string;
  /** Present only when the engine stores per-snapshot sizes (restic ≥ 0.17 does; 0.14 does not). */
  sizes?: SnapshotSizes;
  /** For a snapshot copied from another repository (`copyFrom`): its id there. */
  originalId?: string;
}

/** Identity of a repository. */
export interface RepositoryInfo {
  id: string;
  formatVersion: number;
}

/** Result of `ensureInitialized`. */
export interface EnsureInitializedResult {
  created: boolean;
  info: RepositoryInfo;
}

/** Fields shared by both kinds of backup. */
export interface BackupCommon {
  /** Tags recorded on the snapshot (no commas, no line breaks). */
  tags?: string[];
  /** Host name recorded on the snapshot; defaults to the machine's. */
  host?: string;
  /** Snapshot to compare against, so unchanged files are not read again. */
  parentId?: string;
}

/** Back up a list of files and directories. */
export interface BackupFilesRequest extends BackupCommon {
  /** Files and directories; absolute, or relative to `cwd`. Any byte but NUL may appear in a name. */
  paths: string[];
  /** Base directory for relative `paths`. */
  cwd?: string;
  /** Exclude patterns (glob; a pattern starting with '/' is anchored at the root). */
  excludes?: string[];
}

/**
 * Back up whole directories, each stored under a fixed name: the snapshot's tree is `/<name>/…` and its
 * recorded paths are one per directory, however many files they hold.
 */
export interface BackupTreesRequest extends BackupCommon {
  /** Names are plain (no '/', not '.' or '..') and distinct; directories absolute. */
  trees: { name: string; dir: string }[];
  /**
   * A directory of the caller's, the same from one backup of these trees to the next, where the engine
   * may present each tree under its name (restic: bind mounts private to its own process).
   */
  viewDir: string;
}

/**
 * How a tree backup was stored: `named` — as asked, each directory at `/<name>`; `direct` — the engine
 * could not present them by name (no permission for private mounts), each directory is stored at its
 * own absolute path. `paths` says where each name's directory is in the snapshot.
 */
export interface TreesSummary extends BackupSummary {
  layout: 'named' | 'direct';
  paths: Record<string, string>;
}

/** Back up the bytes of a stream as one file named `filename`. Nothing is written to local disk. */
export interface BackupStreamRequest extends BackupCommon {
  stream: Readable;
  filename: string;
  /**
   * Awaited after the stream ended and before the snapshot is committed. Reject (for example when the
   * producing process exited non-zero) and no snapshot is created. An 'error' on the stream does the same.
   */
  sourceComplete?: () => Promise<void>;
}

/** What a stream backup is before its data exists: everything of `BackupStreamRequest` but the source. */
export type BackupStreamHead = Omit<BackupStreamRequest, 'stream' | 'sourceComplete'>;

/**
 * A stream backup started before its data exists (`Repository.openBackupStream`): the engine has opened
 * the repository (reachable, password right, locked, index loaded) and waits for the bytes. A cut's
 * PostgreSQL dump uses one opened at prepare, so the repository's opening is done before the freeze
 * instead of after the thaw.
 */
export interface OpenedBackupStream {
  /** False once it was written, cancelled or ran out of its idle time, or its engine ended by itself. */
  readonly usable: boolean;
  /** Feeds the source and commits the snapshot, as `backupStream` does. Once. */
  write(source: Pick<BackupStreamRequest, 'stream' | 'sourceComplete'>, options?: ProgressOptions): Promise<BackupSummary>;
  /** Stops the engine without a snapshot. Idempotent; nothing to do once written. */
  cancel(): Promise<void>;
}

/**
 * A tree backup started before its trees are final (`Repository.openTreesBackup`): the engine has opened
 * the repository (reachable, password right, locked) and waits, reading nothing of the trees, until it
 * is run. A cut's uploads use one opened at prepare, so the repository's opening (restic: its ~0.5 s key
 * derivation) is done before the freeze instead of after the thaw, and no separate check opens it.
 */
export interface OpenedTreesBackup {
  /** False once it was run, cancelled or ran out of its idle time, or its engine ended by itself. */
  readonly usable: boolean;
  /** Lets the engine read the trees as they are now and commit the snapshot, as `backupTrees` does. Once. */
  run(options?: ProgressOptions): Promise<TreesSummary>;
  /** Stops the engine without a snapshot. Idempotent; nothing to do once run. */
  cancel(): Promise<void>;
}

/** Restore (part of) a snapshot into a directory. */
export interface RestoreRequest {
  snapshotId: string;
  /** Directory to restore into; snapshot paths are recreated beneath it. */
  targetDir: string;
  /** Absolute paths inside the snapshot to restore (with everything below them); default: all. */
  includePaths?: string[];
  /**
   * What the restore will write, when the caller knows it (a manifest records each snapshot's files and
   * bytes): then the engine is not asked beforehand (restic: no `ls` run before the restore). These are
   * the progress totals; an include path that matches nothing is found after the restore, which may have
   * written the other include paths; the summary counts what the target holds below the restored paths.
   * Into a target that already holds an include path, the snapshot is listed first as without it.
   */
  expected?: { files: number; bytes: number };
}

/** What a restore wrote. */
export interface RestoreSummary {
  snapshotId: string;
  targetDir: string;
  filesRestored: number;
  bytesRestored: number;
  durationSeconds: number;
}

/** Read one file of a snapshot as a stream. */
export interface DumpRequest {
  snapshotId: string;
  /** Absolute path of the file inside the snapshot (`/<filename>` for stream backups). */
  path: string;
}

/** Which snapshots to list: all of `tags` must be present (AND), and the host when given. */
export interface SnapshotFilter {
  tags?: string[];
  host?: string;
}

/** Remove snapshots by id; `prune` then frees the data no snapshot references any more. */
export interface ForgetRequest {
  snapshotIds: string[];
  prune?: boolean;
}

/** Which of the requested snapshots were removed; ids that did not exist are reported, not thrown. */
export interface ForgetResult {
  removed: string[];
  notFound: string[];
  pruned: boolean;
}

/** What `tryRemove` found: removed, or refused by the storage with its words. */
export type RemoveAttempt = { removed: true } | { removed: false; refusal: string };

/** Verify the repository's structure, and with `readData` every stored byte. */
export interface CheckRequest {
  readData?: boolean;
}

/** A failed check is a finding, not an exception: `ok` is false and `problems` says why. */
export interface CheckResult {
  ok: boolean;
  problems: string[];
  /** Ids of stored packs found damaged, when the engine names them (restic's `--read-data` does). */
  damagedPacks?: string[];
}

/**
 * What to measure: `stored` = bytes of the unique data the selected snapshots reference (all
 * snapshots when none selected) — the repository's raw size; `restore-size` = bytes a restore would write.
 */
export interface StatsRequest {
  measure: 'stored' | 'restore-size';
  snapshotIds?: string[];
  tags?: string[];
}

/** Result of `stats`. */
export interface RepositoryStats {
  totalBytes: number;
  /** Files counted (restore-size only; 0 for `stored`). */
  totalFiles: number;
  snapshotCount: number;
}

/** A backup repository (one per site by default). Every method may throw the errors of `errors.ts`. */
export interface Repository {
  /** The repository location with any credentials masked; safe to log and show. */
  readonly displayUrl: string;
  /** Creates the repository; throws `RepositoryAlreadyInitialisedError` when one exists. */
  init(options?: OperationOptions): Promise<RepositoryInfo>;
  /** Creates the repository unless it exists; checks the password either way. */
  ensureInitialized(options?: OperationOptions): Promise<EnsureInitializedResult>;
  /** Opens the repository (reachable, initialised, password right) and returns its identity. */
  describe(options?: OperationOptions): Promise<RepositoryInfo>;
  backupFiles(request: BackupFilesRequest, options?: ProgressOptions): Promise<BackupSummary>;
  backupStream(request: BackupStreamRequest, options?: ProgressOptions): Promise<BackupSummary>;
  /**
   * Starts a stream backup ahead of its data (see `OpenedBackupStream`). Resolves once the repository
   * opened — so it proves what `describe` proves —, rejects with the typed error when it cannot. One that
   * is neither written nor cancelled within `idleMs` cancels itself (its lock would keep prune out).
   */
  openBackupStream(head: BackupStreamHead, options?: { idleMs?: number }): Promise<OpenedBackupStream>;
  backupTrees(request: BackupTreesRequest, options?: ProgressOptions): Promise<TreesSummary>;
  /**
   * Starts a tree backup ahead of its trees (see `OpenedTreesBackup`). Resolves once the repository
   * opened — so it proves what `describe` proves —, rejects with the typed error when it cannot. One that
   * is neither run nor cancelled within `idleMs` cancels itself (its lock would keep prune out).
   */
  openTreesBackup(request: BackupTreesRequest, options?: { idleMs?: number }): Promise<OpenedTreesBackup>;
  restore(request: RestoreRequest, options?: ProgressOptions): Promise<RestoreSummary>;
  /**
   * The file's bytes as a stream. The stream ends only after the engine succeeded; a failure (unknown
   * snapshot or path, repository errors) arrives as the stream's 'error' with a typed error.
   */
  dump(request: DumpRequest, options?: OperationOptions): Readable;
  listSnapshots(filter?: SnapshotFilter, options?: OperationOptions): Promise<SnapshotInfo[]>;
  forget(request: ForgetRequest, options?: OperationOptions): Promise<ForgetResult>;
  check(request?: CheckRequest, options?: OperationOptions): Promise<CheckResult>;
  /**
   * Ids of the snapshots that reference data in any of the given packs (those of `CheckResult.damagedPacks`),
   * so a damaged pack can be traced to the snapshots it breaks. Optional: engines that cannot tell omit it.
   */
  snapshotsUsingPacks?(packIds: string[], options?: OperationOptions): Promise<string[]>;
  stats(request: StatsRequest, options?: OperationOptions): Promise<RepositoryStats>;
  /**
   * Tries to remove one snapshot (no prune) and says whether the storage refused: how storage qualification
   * proves a credential set append-only. Returns as soon as the storage refuses (the engine would retry for
   * a minute); other failures throw as usual.
   */
  tryRemove(snapshotId: string, options?: OperationOptions): Promise<RemoveAttempt>;
  /**
   * Copies snapshots of `source` (another repository of the same engine) into this one, data and all;
   * snapshots copied before are not copied again. Returns, for each requested id, the id of its copy here.
   * Throws `SnapshotNotFoundError` when `source` lacks one, a `ValidationError` when the two repositories'
   * settings cannot go to one engine run.
   */
  copyFrom(source: Repository, snapshotIds: string[], options?: OperationOptions): Promise<Record<string, string>>;
  /**
   * Removes locks left by processes that no longer run (e.g. a crashed agent); live locks are kept.
   * Call it when an agent starts, like releasing other leftovers of a crash.
   */
  releaseStaleLocks(options?: OperationOptions): Promise<void>;
}
