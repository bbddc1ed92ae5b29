/**
 * The role-named ports the uploads driver depends on: reading the upload trees (a streamed walk, one
 * `lstat` per entry) and the few file-system moves a restore needs (staging, swap into place, undo).
 * `agent/adapters/uploads/` implements them on node:fs; unit tests use in-memory fakes.
 */

/** What kind of non-regular entry the walk met (never backed up, refused on restore). */
export type OtherEntryKind = 'fifo' | 'socket' | 'block-device' | 'char-device' | 'unknown';

/**
 * One entry met by a walk. Paths are absolute. `mtimeNs` is the entry's own modification time in
 * nanoseconds since the epoch (symlinks: the link itself, never its target).
 */
export type TreeEntry =
  | { type: 'file'; path: string; size: number; mtimeNs: bigint }
  | { type: 'symlink'; path: string; mtimeNs: bigint; /** Present when the walk was asked to read links. */ target?: string }
  /** Emitted after the directory's own entries; `empty` = it had no entry at all (reserved names aside). */
  | { type: 'dir'; path: string; mtimeNs: bigint; empty: boolean }
  | { type: 'other'; path: string; what: OtherEntryKind }
  /** A directory that could not be read (permissions, I/O error); entries that vanished are simply not met. */
  | { type: 'unreadable'; path: string; message: string };

/** Options of one walk. */
export interface WalkOptions {
  /** Direct children of a root for which this is true are not walked (the driver's reserved names). */
  skipRootChild?: (name: string) => boolean;
  /** Read each symlink's target (restore checks need it; backups do not). */
  readLinks?: boolean;
  signal?: AbortSignal;
}

/** What a configured root is on disk: a directory (with its real path, symlinks resolved) or not. */
export type RootStatus =
  | { kind: 'dir'; realPath: string }
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
  /** Deletes the previous entries for good. */
  discardAside(): Promise<void>;
}

/** The file-system moves of a restore. All paths absolute. */
export interface RestoreArea {
  /** Creates `dir` (and parents) when absent; throws when something that is not a directory is there. */
  ensureDir(dir: string): Promise<void>;
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
  /** Moves every entry of `from` into `to`; throws, before moving anything, when a name already exists in `to`. */
  moveChildren(from: string, to: string): Promise<void>;
}
