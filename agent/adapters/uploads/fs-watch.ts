/**
 * Per-directory inotify watches (Node's `fs.watch`, one per directory, never `recursive`): Node 20's
 * recursive mode on Linux is emulated in JavaScript, keeps every file of the tree in memory and has no
 * "ready" signal, so a scan could not know when a directory is covered. Here a directory is watched
 * *before* it is listed, so a file created meanwhile is either listed or reported — never neither.
 *
 * Watches are keyed by path and remember the inode they were set on: a directory that was replaced
 * (removed and re-created, or another moved in at its name) is watched afresh, and the old watch — with
 * every watch below it — is closed. Watches are not persistent: they never keep a process alive.
 */
import type { BigIntStats, FSWatcher, WatchListener } from 'node:fs';
import { watch as fsWatch } from 'node:fs';
import path from 'node:path';

/** `fs.watch` as used here (injectable, so tests can make it fail as the kernel does when out of watches). */
export type WatchFn = (dir: string, options: { persistent: boolean }, listener: WatchListener<string>) => FSWatcher;

/** Receives every event: the watched directory and the name reported in it (null when the kernel gave none). */
export type EventSink = (dir: string, name: string | null) => void;

interface Watched {
  watcher: FSWatcher;
  ino: bigint;
  dev: bigint;
  children: Set<string>;
}

/** The set of watched directories; see the module comment. */
export class DirWatchers {
  private readonly dirs = new Map<string, Watched>();

  constructor(
    private readonly sink: EventSink,
    private readonly onError: (dir: string, err: unknown) => void,
    private readonly watchFn: WatchFn = fsWatch as WatchFn,
  ) {}

  /** Number of directories watched. */
  get size(): number {
    return this.dirs.size;
  }

  /** True when `dir` is watched on the inode `st` describes. */
  isWatched(dir: string, st: BigIntStats): boolean {
    const w = this.dirs.get(dir);
    return w !== undefined && w.ino === st.ino && w.dev === st.dev;
  }

  /** True when something is watched at `dir` (whatever its inode). */
  has(dir: string): boolean {
    return this.dirs.has(dir);
  }

  /**
   * Watches `dir` (a directory whose `lstat` is `st`) unless it is watched on that inode already. Returns
   * true when a watch was set. Throws what `fs.watch` throws (ENOSPC when out of inotify watches).
   */
  watch(dir: string, st: BigIntStats): boolean {
    if (this.isWatched(dir, st)) return false;
    this.unwatch(dir);
    const watcher = this.watchFn(dir, { persistent: false }, (event, name) => {
      if (event === 'rename' || name === null) this.sink(dir, name);
    });
    watcher.on('error', (err: unknown) => {
      this.onError(dir, err);
      this.unwatch(dir);
    });
    this.dirs.set(dir, { watcher, ino: st.ino, dev: st.dev, children: new Set() });
    this.dirs.get(path.dirname(dir))?.children.add(dir);
    return true;
  }

  /** Closes the watch of `dir` and of every directory watched below it. */
  unwatch(dir: string): void {
    const w = this.dirs.get(dir);
    if (!w) return;
    this.dirs.delete(dir);
    this.dirs.get(path.dirname(dir))?.children.delete(dir);
    w.watcher.close();
    for (const child of [...w.children]) this.unwatch(child);
  }

  /** Closes every watch. */
  closeAll(): void {
    for (const w of this.dirs.values()) w.watcher.close();
    this.dirs.clear();
  }
}
