/**
 * `FsShardFiles`: the filesystem side of a physical shard restore. Only Tarantool's own data files are
 * touched (`*.snap`, `*.xlog`, `*.vylog`, their `.inprogress` forms, and vinyl's numeric space
 * directories), so instance files, logs or anything else sharing a directory stay where they are.
 * Moves are renames; across filesystems they fall back to copy + delete.
 */
import { constants, existsSync } from 'node:fs';
import { chown, cp, lstat, mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConflictError, IllegalStateError } from '../../../shared/errors.js';
import type { AsideSet, ShardFiles, StagedFile } from '../../domain/drivers/tarantool/ports.js';
import { freeBytes } from '../free-space.js';

const DATA_FILE = /^\d+\.(snap|xlog|vylog)(\.inprogress)?$/;
const SPACE_DIR = /^\d+$/;

/** True for the entries of a data directory that belong to Tarantool's data. */
export function isDataEntry(name: string, isDirectory: boolean): boolean {
  return isDirectory ? SPACE_DIR.test(name) : DATA_FILE.test(name);
}

export class FsShardFiles implements ShardFiles {
  freeBytes(dir: string): Promise<number> {
    return freeBytes(dir);
  }

  async makeStaging(nearDir: string, label: string): Promise<string> {
    const parent = path.dirname(path.resolve(nearDir));
    await mkdir(parent, { recursive: true });
    return mkdtemp(path.join(parent, `.${path.basename(nearDir)}.ffk-staging-${label}-`));
  }

  async listFiles(root: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else if (entry.isFile()) out.push(full);
      }
    };
    await walk(root);
    return out.sort();
  }

  async moveAside(dirs: readonly string[], label: string): Promise<AsideSet> {
    const aside: AsideSet = { moves: [] };
    const plan = asidePlan(dirs, label);
    for (const { asideDir } of plan) {
      // Left by an interrupted restore: it may hold the only copy of the previous files. Never mix into it.
      if (existsSync(asideDir)) throw new ConflictError(`${asideDir} exists (left by an interrupted restore?); put its files back or remove it first`);
    }
    try {
      for (const { dir, asideDir } of plan) {
        const entries = await dataEntries(dir);
        await mkdir(asideDir);
        const move = { dir, asideDir, entries: [] as string[] };
        aside.moves.push(move);
        for (const name of entries) {
          await movePath(path.join(dir, name), path.join(asideDir, name));
          move.entries.push(name);
        }
      }
    } catch (err) {
      // Undo the partial move: nothing was placed yet, so the moved entries simply go back.
      for (const m of aside.moves) await moveBack(m);
      throw err;
    }
    return aside;
  }

  async place(files: readonly StagedFile[]): Promise<void> {
    for (const f of files) {
      const parent = path.dirname(f.destination);
      const created = await mkdir(parent, { recursive: true });
      if (created !== undefined) await chownCreated(created, parent);
      await movePath(f.staged, f.destination);
      await matchOwner(f.destination, parent);
    }
  }

  async putBack(aside: AsideSet, options: { removeLive?: boolean } = {}): Promise<void> {
    for (const move of aside.moves) {
      if (options.removeLive !== false) {
        for (const name of await dataEntries(move.dir)) await rm(path.join(move.dir, name), { recursive: true, force: true });
      }
      await moveBack(move);
    }
  }

  async findAside(dirs: readonly string[], label: string): Promise<AsideSet | undefined> {
    const aside: AsideSet = { moves: [] };
    for (const { dir, asideDir } of asidePlan(dirs, label)) {
      if (existsSync(asideDir)) aside.moves.push({ dir, asideDir, entries: (await readdir(asideDir)).sort() });
    }
    return aside.moves.length > 0 ? aside : undefined;
  }

  async countExisting(paths: readonly string[]): Promise<number> {
    return paths.filter((p) => existsSync(p)).length;
  }

  async discard(aside: AsideSet): Promise<void> {
    for (const move of aside.moves) await rm(move.asideDir, { recursive: true, force: true });
  }

  async removeDir(dir: string): Promise<void> {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Moves a directory's aside entries back and removes the (then empty) aside directory. */
async function moveBack(move: AsideSet['moves'][number]): Promise<void> {
  for (const name of move.entries) await movePath(path.join(move.asideDir, name), path.join(move.dir, name));
  await rm(move.asideDir, { recursive: true, force: true });
}

/** Where `moveAside(dirs, label)` moves each directory's data files. */
function asidePlan(dirs: readonly string[], label: string): { dir: string; asideDir: string }[] {
  return unique(dirs).map((dir) => ({ dir, asideDir: `${dir.replace(/\/+$/, '')}.ffk-aside-${label}` }));
}

function unique(dirs: readonly string[]): string[] {
  return [...new Set(dirs.map((d) => path.resolve(d)))];
}

async function dataEntries(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new IllegalStateError(`data directory ${dir} does not exist`, { cause: err });
    throw err;
  }
  return entries.filter((e) => isDataEntry(e.name, e.isDirectory())).map((e) => e.name).sort();
}

async function movePath(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await cp(from, to, { recursive: true, preserveTimestamps: true, mode: constants.COPYFILE_EXCL });
    await rm(from, { recursive: true, force: true });
  }
}

/** Directories `mkdir -p` created (from `first` down to `last`) get the owner of the one above them. */
async function chownCreated(first: string, last: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const owner = await stat(path.dirname(first));
  for (let dir = last; ; dir = path.dirname(dir)) {
    await chown(dir, owner.uid, owner.gid);
    if (dir === first || dir === path.dirname(dir)) break;
  }
}

/** Placed files get the owner of the directory they land in (the shard's user), when we may chown. */
async function matchOwner(file: string, dir: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const [d, f] = await Promise.all([stat(dir), lstat(file)]);
  if (d.uid !== f.uid || d.gid !== f.gid) await chown(file, d.uid, d.gid);
}
