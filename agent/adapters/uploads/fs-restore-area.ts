/**
 * `FsRestoreArea`: the file-system moves of an uploads restore, on node:fs. Everything is a `rename`
 * inside one file system (staging and aside directories live in the root itself), so a swap costs a
 * handful of metadata operations whatever the size of the tree, never copies, and never follows a
 * symlink: `rename` moves a link, not what it points to. The fold of a restored shield is renames too,
 * descending only through real directories (`lstat`), so it cannot be steered out of the staged tree.
 */
import { chmod, chown, lstat, mkdir, readdir, rename, rm, rmdir, utimes } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { ConflictError, IllegalStateError } from '../../../shared/errors.js';
import type { RestoreArea, SwapHandle } from '../../domain/drivers/uploads/ports.js';
import { freeBytes } from '../free-space.js';

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (err) {
    if (errCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** A list of renames done, which can be reversed. */
class Moves {
  private readonly done: { from: string; to: string }[] = [];

  /** Renames `from` to `to`; refuses to replace anything already at `to` (rename would, silently). */
  async move(from: string, to: string): Promise<void> {
    if (await exists(to)) throw new ConflictError(`cannot move '${from}': '${to}' already exists`);
    await rename(from, to);
    this.done.push({ from, to });
  }

  /** Moves every entry of `from` (except `keep` names) into `to`. */
  async all(from: string, to: string, keep: (name: string) => boolean = () => false): Promise<void> {
    for (const name of await readdir(from)) {
      if (!keep(name)) await this.move(path.join(from, name), path.join(to, name));
    }
  }

  /** Reverses every move, newest first. */
  async undo(): Promise<void> {
    for (const m of this.done.splice(0).reverse()) await rename(m.to, m.from);
  }
}

async function copyDirMeta(from: Stats, to: string): Promise<void> {
  await chmod(to, from.mode & 0o7777);
  if (process.getuid?.() === 0) await chown(to, from.uid, from.gid);
  await utimes(to, from.atimeMs / 1000, from.mtimeMs / 1000); // µs precision at best through Node's API
}

/** The `RestoreArea` port on the local file system. */
export class FsRestoreArea implements RestoreArea {
  freeBytes(dir: string): Promise<number> {
    return freeBytes(dir);
  }

  async ensureDir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new IllegalStateError(`'${dir}' exists and is not a directory`);
  }

  async list(dir: string): Promise<string[] | undefined> {
    try {
      return await readdir(dir);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async remove(target: string): Promise<void> {
    await rm(target, { recursive: true, force: true });
  }

  /** See `RestoreArea.swap`. */
  async swap(request: { live: string; staged: string; aside: string; keep: (name: string) => boolean }): Promise<SwapHandle> {
    const { live, staged, aside } = request;
    if (await exists(aside)) throw new ConflictError(`aside directory '${aside}' already exists (left by an earlier restore of this job?)`);
    const liveMeta = await lstat(live);
    const stagedMeta = await lstat(staged);
    await mkdir(aside, { mode: 0o700 });
    const out = new Moves();
    const inn = new Moves();
    const undo = async (): Promise<void> => {
      await inn.undo();
      await out.undo();
      await rmdir(aside);
      await copyDirMeta(liveMeta, live);
    };
    try {
      await out.all(live, aside, (name) => name === path.basename(aside) || request.keep(name));
      await inn.all(staged, live);
      await copyDirMeta(stagedMeta, live);
    } catch (err) {
      await undo();
      throw err;
    }
    return { asideDir: aside, undo };
  }

  /** See `RestoreArea.recoverSwap`. */
  async recoverSwap(request: { live: string; staged: string; aside: string; stagedNames: readonly string[] }): Promise<'nothing' | 'put back'> {
    const { live, staged, aside } = request;
    if (!(await exists(aside))) return 'nothing';
    const missing = [];
    for (const name of request.stagedNames) if (!(await exists(path.join(staged, name)))) missing.push(name);
    if (missing.length > 0) {
      // The staged entries had begun moving in, so every previous entry was aside already: the staged ones
      // found in the root go back into the staging.
      await mkdir(staged, { recursive: true });
      const moves = new Moves();
      for (const name of missing) if (await exists(path.join(live, name))) await moves.move(path.join(live, name), path.join(staged, name));
    }
    const back = await readdir(aside);
    for (const name of back) {
      if (await exists(path.join(live, name))) throw new ConflictError(`cannot put back '${name}' from '${aside}': '${path.join(live, name)}' exists; nothing of '${aside}' was moved back`);
    }
    await new Moves().all(aside, live);
    await rmdir(aside);
    return 'put back';
  }

  /** See `RestoreArea.fold`. */
  async fold(shieldDir: string, into: string): Promise<{ moved: number; dropped: number }> {
    const top = await lstatOrUndefined(shieldDir);
    if (!top) return { moved: 0, dropped: 0 };
    let moved = 0;
    let dropped = 0;
    const stack: { from: string; to: string }[] = top.isDirectory() ? [{ from: shieldDir, to: into }] : [];
    while (stack.length > 0) {
      const { from, to } = stack.pop() as { from: string; to: string };
      for (const name of await readdir(from)) {
        const src = path.join(from, name);
        const dst = path.join(to, name);
        const there = await lstatOrUndefined(dst);
        if (!there) {
          await rename(src, dst); // a whole directory in one rename when `to` has none of that name
          moved += 1;
        } else if (there.isDirectory() && (await lstat(src)).isDirectory()) stack.push({ from: src, to: dst });
        else dropped += 1; // the snapshot's own entry at this path wins
      }
    }
    await rm(shieldDir, { recursive: true, force: true });
    return { moved, dropped };
  }

  /** See `RestoreArea.moveEntry`. */
  async moveEntry(from: string, to: string): Promise<'moved' | 'other-filesystem'> {
    if (await exists(to)) throw new ConflictError(`cannot move '${from}' to '${to}': it already exists`);
    await mkdir(path.dirname(to), { recursive: true });
    try {
      await rename(from, to);
      return 'moved';
    } catch (err) {
      if (errCode(err) === 'EXDEV') return 'other-filesystem';
      throw err;
    }
  }

  /** See `RestoreArea.moveChildren`. */
  async moveChildren(from: string, to: string): Promise<void> {
    const names = await readdir(from);
    for (const name of names) {
      if (await exists(path.join(to, name))) throw new ConflictError(`cannot place '${name}': '${path.join(to, name)}' already exists`);
    }
    await new Moves().all(from, to);
  }
}
