/**
 * `FsUploadTree`: the uploads driver's `UploadTree` port on node:fs. The walk is streamed — directories
 * are read with `opendir` in batches, and each batch is `lstat`ed concurrently (once per entry, with
 * nanosecond times) — so a tree of hundreds of thousands of files costs neither memory nor a second
 * pass. Symlinks are never followed below a root. With `WalkOptions.shield` the walk is the shielded
 * one of fs-shielded-walk.ts.
 */
import type { BigIntStats, Dir } from 'node:fs';
import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError, NotFoundError } from '../../../shared/errors.js';
import type { RootStatus, TreeEntry, UploadTree, WalkOptions } from '../../domain/drivers/uploads/ports.js';
import { BATCH, errCode, toEntry } from './fs-common.js';
import { walkShieldedRoot } from './fs-shielded-walk.js';

interface PendingDir {
  path: string;
  mtimeNs: bigint;
  isRoot: boolean;
}

type Stated = { path: string; st: BigIntStats } | undefined;

async function lstatOrVanished(p: string): Promise<Stated> {
  try {
    return { path: p, st: await lstat(p, { bigint: true }) };
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined; // deleted since the directory was read
    throw err;
  }
}

async function* readBatches(dir: Dir): AsyncGenerator<string[]> {
  let batch: string[] = [];
  for await (const dirent of dir) {
    batch.push(dirent.name);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** The `UploadTree` port on the local file system. */
export class FsUploadTree implements UploadTree {
  /** A root is followed if it is a symlink (roots are often links to a data volume). */
  async rootStatus(root: string): Promise<RootStatus> {
    try {
      const st = await stat(root);
      if (!st.isDirectory()) return { kind: 'not-dir' };
      return { kind: 'dir', realPath: await realpath(root), identity: `${st.dev}:${st.ino}` };
    } catch (err) {
      if (errCode(err) === 'ENOENT') return { kind: 'missing' };
      throw err;
    }
  }

  /** See `UploadTree.walk`. */
  async *walk(roots: readonly string[], options: WalkOptions = {}): AsyncGenerator<TreeEntry> {
    for (const root of roots) {
      const st = await stat(root, { bigint: true }).catch((err: unknown) => {
        if (errCode(err) === 'ENOENT') throw new NotFoundError(`upload directory '${root}' does not exist`, { cause: err });
        throw err;
      });
      if (options.shield !== undefined) yield* walkShieldedRoot({ root, mtimeNs: st.mtimeNs, shieldName: options.shield, options });
      else yield* this.walkRoot({ path: root, mtimeNs: st.mtimeNs, isRoot: true }, options);
    }
  }

  private async *walkRoot(root: PendingDir, options: WalkOptions): AsyncGenerator<TreeEntry> {
    const stack: PendingDir[] = [root];
    const rootEntry = { type: 'dir' as const, path: root.path, mtimeNs: root.mtimeNs, empty: true };
    let first = true;
    while (stack.length > 0) {
      const dir = stack.pop() as PendingDir;
      const result = yield* this.walkDir(dir, stack, options);
      if (first) rootEntry.empty = result.children === 0;
      else if (result.readable) yield { type: 'dir', path: dir.path, mtimeNs: dir.mtimeNs, empty: result.children === 0 };
      first = false;
    }
    yield rootEntry;
  }

  /** Yields the entries of one directory and pushes its sub-directories on `stack`. */
  private async *walkDir(
    dir: PendingDir,
    stack: PendingDir[],
    options: WalkOptions,
  ): AsyncGenerator<TreeEntry, { children: number; readable: boolean }> {
    let handle: Dir;
    try {
      handle = await opendir(dir.path, { bufferSize: BATCH });
    } catch (err) {
      if (errCode(err) === 'ENOENT' && !dir.isRoot) return { children: 0, readable: false };
      yield { type: 'unreadable', path: dir.path, message: err instanceof Error ? err.message : String(err) };
      return { children: 0, readable: false };
    }
    let children = 0;
    for await (const names of readBatches(handle)) {
      if (options.signal?.aborted) throw new CancelledError(`walk of '${dir.path}' cancelled`);
      const kept = dir.isRoot && options.skipRootChild ? names.filter((n) => !options.skipRootChild?.(n)) : names;
      const stated = await Promise.all(kept.map((n) => lstatOrVanished(path.join(dir.path, n))));
      for (const s of stated) {
        if (!s) continue;
        children += 1;
        if (s.st.isDirectory()) stack.push({ path: s.path, mtimeNs: s.st.mtimeNs, isRoot: false });
        else {
          const entry = await toEntry(s, options.readLinks === true);
          if (entry) yield entry;
        }
      }
    }
    return { children, readable: true };
  }
}
