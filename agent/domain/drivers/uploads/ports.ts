/**
 * The role-named ports the uploads driver depends on: reading the upload trees (a streamed walk, one
 * `lstat` per entry), the few file-system moves a restore needs (staging, fold, swap into place, undo),
 * and the deletion shield (hard links kept by a watcher, see shield.ts). `agent/adapters/uploads/`
 * implements them on node:fs; unit tests use in-memory fakes.
 */

/** What kind of non-regular entry the walk met (never backed up, refused on restore). */
export type OtherEntryKind = 'fifo' | 'socket' | 'block-device' | 'char-device' | 'unknown';

/**
 * One entry met by a walk. Paths are absolute. `mtimeNs` is the entry's own modification time in
 * nanoseconds since the epoch (symlinks: the link itself, never its target).
 */
export type TreeEntry =
  | {
      type: 'file';
      path: string;
      size: number;
      mtimeNs: bigint;
      /** Shielded walks only: the shield's hard link to this very file (same inode), when there is one. */
      shieldPath?: string;
    }
  /**
   * Shielded walks only: a file of the shield that its live path no longer holds (deleted, replaced by
   * another inode, or by something that is not a file). `path` is the shield's path, `livePath` the live one.
   */
  | { type: 'shield-only'; path: string; livePath: string; size: number; mtimeNs: bigint; live: LiveState }
  /**
   * Trusted shielded walks only (`WalkOptions.trustShield`): the `names` in live directory `path` that are
   * regular files with a regular file of the same name in the shield directory `shieldDir`, none stat'ed —
   * a watching shield has linked every file it was told of, so the two are the same file, or the shield
   * holds the version of the cut. One entry per directory (a million files: a thousand entries).
   */
  | { type: 'linked'; path: string; shieldDir: string; names: string[] }
  | { type: 'symlink'; path: string; mtimeNs: bigint; /** Present when the walk was asked to read links. */ target?: string }
  /** Emitted after the directory's own entries; `empty` = it had no entry at all (reserved names aside). */
  | { type: 'dir'; path: string; mtimeNs: bigint; empty: boolean }
  | { type: 'other'; path: string; what: OtherEntryKind }
  /** A directory that could not be read (permissions, I/O error); entries that vanished are simply not met. */
  | { type: 'unreadable'; path: string; message: string };

/** What a shielded walk found at the live path of a shield-only file. */
export type LiveState = { kind: 'absent' } | { kind: 'file'; mtimeNs: bigint } | { kind: 'other' };

/** Options of one walk. */
export interface WalkOptions {
  /**
   * Name of the deletion shield directory in each root (a reserved root child): walk it alongside the
   * live tree, directory by directory, and report `shieldPath` on live files and `shield-only` entries.
   */
  shield?: string;
  /**
   * Shielded walks: the shield is watching (not degraded) and held at a cut it has settled for, so a name
   * that is a regular file on both sides needs no `lstat` (reported as `linked`); only names on one side,
   * or of other types, are stat'ed. Memory and time then grow with the directories and the differences,
   * not with every file (a million files: two directory reads per directory instead of two million stats).
   */
  trustShield?: boolean;
  /** A trusted walk stats these live paths (absolute) even when a regular file on both sides: changed since the cut. */
  changed?: ReadonlySet<string>;
  /** Direct children of a root for which this is true are not walked (the driver's reserved names). */
  skipRootChild?: (name: string) => boolean;
  /** Read each symlink's target (restore checks need it; backups do not). */
  readLinks?: boolean;
  signal?: AbortSignal;
}

/** What a configured root is on disk: a directory (with its real path, symlinks resolved) or not. */
export type RootStatus =
  /** `identity`: the directory's device and inode (`dev:ino`), where the tree knows them. */
  | { kind: 'dir'; realPath: string; identity?: string }
  | { kind: 'missing' }
  | { kind: 'not-dir' };

/** Reads the upload trees. */
export interface UploadTree {
  /** Status of one configured root directory. */
  rootStatus(root: string): Promise<RootStatus>;
  /**
   * Every entry below `roots` (the roots themselves come last, as `dir` entries), streamed: memory does
   * not grow with the tree, and each entry is stat'ed exactly once. An entry that vanishes while the walk
   * runs is not reported. A missing root throws.
   */
  walk(roots: readonly string[], options?: WalkOptions): AsyncIterable<TreeEntry>;
}

/** A swap of a live directory's content with a staged one; undo puts everything back as it was. */
export interface SwapHandle {
  /** Where the live directory's previous entries now are. */
  readonly asideDir: string;
  /** Moves the restored entries back to staging and the previous entries back into place. */
  undo(): Promise<void>;
}

/** The file-system moves of a restore. All paths absolute. */
export interface RestoreArea {
  /** Creates `dir` (and parents) when absent; throws when something that is not a directory is there. */
  ensureDir(dir: string): Promise<void>;
  /** Bytes free (for an unprivileged writer) on the filesystem that holds `dir` (or its nearest existing parent). */
  freeBytes(dir: string): Promise<number>;
  /** Names inside `dir`, or undefined when `dir` does not exist. */
  list(dir: string): Promise<string[] | undefined>;
  /** Removes `target` and everything below it; nothing when it does not exist. */
  remove(target: string): Promise<void>;
  /**
   * Moves every entry of `live` (except those `keep` names) into a new `aside` directory, then every
   * entry of `staged` into `live`, and gives `live` the mode, owner and times of `staged`. Renames only:
   * nothing is copied and no symlink is followed. A failure half-way puts back what was moved and throws.
   */
  swap(request: { live: string; staged: string; aside: string; keep: (name: string) => boolean }): Promise<SwapHandle>;
  /**
   * After an agent restart: undoes a `swap` interrupted at any point, judged from the disk. Nothing when
   * `aside` does not exist (the swap never began). When one of `stagedNames` (what `staged` held before
   * the swap) is gone from `staged`, the staged entries had begun moving into `live` (so every previous
   * entry was aside already): those found in `live` go back into `staged`. Then every entry of `aside`
   * moves back into `live` (throwing, before moving any, when a name is taken) and `aside` is removed.
   * Renames only. The root's own mode, owner and times stay as the swap left them.
   */
  recoverSwap(request: { live: string; staged: string; aside: string; stagedNames: readonly string[] }): Promise<'nothing' | 'put back'>;
  /** Moves every entry of `from` into `to`; throws, before moving anything, when a name already exists in `to`. */
  moveChildren(from: string, to: string): Promise<void>;
  /**
   * Moves `from` to `to` by one rename, creating `to`'s parent directories; throws when `to` exists.
   * `other-filesystem`, with nothing moved, when the rename cannot cross from one filesystem to the other.
   */
  moveEntry(from: string, to: string): Promise<'moved' | 'other-filesystem'>;
  /**
   * Folds a restored shield back into the live layout: every entry of `shieldDir` moves to the same
   * relative path below `into` where nothing is there (a whole directory in one rename when `into` has
   * no directory of that name), recursing where both hold a directory; entries whose path `into`
   * already holds are dropped (the live-layout copy wins). Then `shieldDir` is removed. Renames only,
   * no symlink followed. Nothing when `shieldDir` does not exist.
   */
  fold(shieldDir: string, into: string): Promise<{ moved: number; dropped: number }>;
}

/** What the shield's watcher is doing. `degraded`: some change may have been missed (see `reason`). */
export type ShieldHealth =
  | { state: 'closed' }
  | { state: 'watching'; dirs: number }
  | { state: 'degraded'; dirs: number; reason: string };

/** What a reconciliation of shield entries with their live files did. */
export interface ShieldCounts {
  /** Live files linked into the shield. */
  linked: number;
  /** Shield entries replaced by a link to the live file now at their path (another inode). */
  relinked: number;
  /** Shield entries (files, empty directories) removed because their live file is gone. */
  removed: number;
  /** Changes left for later because a cut holds the shield. */
  deferred: number;
  /** Links that failed (other file system, permissions, ...): those files are not shielded. */
  failed: number;
}

/** What a full scan of the roots did (seeding at open, fallback before an upload, rebuild after a restore). */
export interface ShieldScan extends ShieldCounts {
  files: number;
  dirs: number;
  durationMs: number;
}

/** How a settle ended: after `waitedMs`, with `pending` changes still unprocessed (0 when settled). */
export interface ShieldSettle {
  waitedMs: number;
  settled: boolean;
  pending: number;
}

/**
 * The deletion shield of a set of upload roots: a hard link in `<root>/.ffk-shield/<rel>` to every
 * regular file (and symlink) `<root>/<rel>`, kept by a file-system watcher, so that a file unlinked from
 * the live tree keeps its data. While **held** (from a cut until its upload has read everything) no
 * shield entry is removed or replaced and files changed after the cut are not linked, so the shield is
 * the tree as of the cut; changes left aside are applied on `release`.
 */
export interface DeletionShield {
  /** Starts watching `roots` (real paths) and reconciles each shield with its live tree. Idempotent. */
  open(roots: readonly string[]): Promise<ShieldScan>;
  /**
   * Waits until every change made to the roots before the call has reached the watcher (a barrier: a
   * marker file's own event comes after all of them) and none is pending, at least `graceMs` and at most
   * `capMs` in all; `settled` says whether it got there.
   */
  settle(options: { graceMs: number; capMs: number }): Promise<ShieldSettle>;
  /**
   * From now on no shield entry is removed or replaced, and no live file changed after `cutMs` (its
   * ctime, ms since the epoch) is linked: the shield stays the tree as of the cut (synchronous: takes
   * effect before the caller's next step).
   */
  hold(cutMs: number): void;
  /**
   * While held: puts the given live entries (absolute) into the shield as they are — a file or symlink
   * linked, a directory created — whatever their ctime: the upload's walk judged them part of the cut
   * (files the watcher missed, symlinks, empty directories). Returns how many were added.
   */
  adopt(livePaths: readonly string[]): Promise<number>;
  /** True while held. */
  held(): boolean;
  /** While held: the live paths (absolute) whose change since the cut the shield has seen and set aside for the release. */
  changedSinceCut(): ReadonlySet<string>;
  /** Ends the hold, then reconciles the changes it deferred and the `recheck` live paths (absolute). */
  release(recheck?: readonly string[]): Promise<ShieldCounts>;
  /** Full scan of the open roots: watches re-armed where missing, every live file linked, and — unless held — stale entries removed. */
  rescan(): Promise<ShieldScan>;
  health(): ShieldHealth;
  /** Stops watching. The shield directories stay on disk (the next open reconciles them). */
  close(): Promise<void>;
}
