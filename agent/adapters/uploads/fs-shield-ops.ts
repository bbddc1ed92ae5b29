/**
 * The deletion shield's file-system operations for one path at a time: look at the live path and the
 * shield's, ask the domain rule (`shieldAction`) what to do, and do it — link, re-link (atomically,
 * through a temporary link renamed over the old one), unlink, remove an emptied directory. Calls for the
 * same path are serialized, so the watcher, scans and releases never interleave on one entry; each call
 * decides from what is on disk when it runs, so a late or spurious event does no harm. The look at both
 * paths and the first try to link are synchronous calls (`lstatNow`): every file FindFace — or a sync
 * link — writes passes here. Async, the three hand-offs to libuv's threads took a slave's files agent
 * 11 s of its loop for the sync bench's 39,000 files.
 *
 * Shield directories are created on demand with the mode and owner of their live counterpart, so that a
 * directory restored from the shield (see `RestoreArea.fold`) gets them back.
 */
import { linkSync, type BigIntStats } from 'node:fs';
import { chmod, chown, link, mkdir, rename, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { changedAfterCut, shieldAction, type LiveKind, type ShieldKind } from '../../domain/drivers/uploads/shield.js';
import { errCode, lstatMaybe, lstatNow, sameInode } from './fs-common.js';

/** A root and its shield directory (both real, absolute paths). */
export interface ShieldRoot {
  root: string;
  shield: string;
}

/** What one reconciliation did. */
export type Outcome = 'none' | 'linked' | 'relinked' | 'removed' | 'deferred' | 'failed';

/** Called when a link or directory could not be made: the file is not shielded. */
export type FailureSink = (what: string, err: unknown) => void;

const IS_ROOT = process.getuid?.() === 0;
let relinkSeq = 0;

/** A regular file or a symlink: what the shield keeps by a hard link (a symlink's is to the link itself). */
export function linkable(st: BigIntStats | undefined): boolean {
  return st !== undefined && (st.isFile() || st.isSymbolicLink());
}

function liveKindOf(st: BigIntStats | undefined): LiveKind {
  if (!st) return 'absent';
  if (linkable(st)) return 'file';
  return st.isDirectory() ? 'dir' : 'other';
}

function shieldKindOf(live: BigIntStats | undefined, sh: BigIntStats | undefined): ShieldKind {
  if (!sh) return 'absent';
  if (sh.isDirectory()) return 'dir';
  return linkable(live) && live !== undefined && sameInode(live, sh) ? 'same' : 'stale';
}

async function ignoring(codes: string[], op: Promise<unknown>): Promise<boolean> {
  try {
    await op;
    return true;
  } catch (err) {
    if (codes.includes(errCode(err) ?? '')) return false;
    throw err;
  }
}

/** `link` with a synchronous call (see `lstatNow`); false when the live file or the shield's directory is not there. */
function linkNow(live: string, sh: string): boolean {
  try {
    linkSync(live, sh);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** See the module comment. `held` and `deferred` are the hold of the whole shield (see `DeletionShield.hold`). */
export class ShieldOps {
  held = false;
  /** The cut time (ms) of the hold: live files changed after it are not linked while held. */
  cutMs = Infinity;
  /** Live paths whose change waits for the end of the hold. */
  readonly deferred = new Set<string>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly onFailure: FailureSink) {}

  /** Brings the shield entry of `<r.root>/<rel>` in line with the live path, serialized per path. */
  reconcile(r: ShieldRoot, rel: string): Promise<Outcome> {
    const key = path.join(r.root, rel);
    const prev = this.locks.get(key) ?? Promise.resolve();
    const run = (): Promise<Outcome> => this.reconcileNow(r, rel);
    const next = prev.then(run, run);
    const tail = next.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return next;
  }

  private async reconcileNow(r: ShieldRoot, rel: string): Promise<Outcome> {
    const live = path.join(r.root, rel);
    const sh = path.join(r.shield, rel);
    const liveSt = lstatNow(live);
    const shSt = lstatNow(sh);
    const afterCut = liveSt !== undefined && changedAfterCut(liveSt.ctimeNs, this.cutMs);
    const action = shieldAction(liveKindOf(liveSt), shieldKindOf(liveSt, shSt), this.held, afterCut);
    // Removing or replacing waits for the end of a hold that began while we were looking.
    if (this.held && ['relink', 'unlink', 'rmdir', 'conflict'].includes(action)) return this.defer(live);
    if (this.held && action === 'link') return this.linkHeld(r, rel, liveSt);
    switch (action) {
      case 'none':
        return 'none';
      case 'defer':
        return this.defer(live);
      case 'link':
        return this.link(r, rel);
      case 'relink':
        return this.relink(r, rel);
      case 'unlink':
        await ignoring(['ENOENT'], unlink(sh));
        await this.pruneParents(r, rel);
        return 'removed';
      case 'rmdir':
        return (await this.removeDir(r, rel)) ? 'removed' : 'none';
      case 'conflict':
        return (await this.removeDir(r, rel)) ? this.link(r, rel) : 'none';
    }
  }

  private defer(live: string): Outcome {
    this.deferred.add(live);
    return 'deferred';
  }

  /**
   * A link made while held must be of the inode judged to be of the cut: the live path may have been
   * replaced between the look and the link. A link of another inode is taken back (it is ours: nothing
   * else links into the shield while held) and the path left for the release.
   */
  private async linkHeld(r: ShieldRoot, rel: string, judged: BigIntStats | undefined): Promise<Outcome> {
    const outcome = await this.link(r, rel);
    if (outcome !== 'linked' || judged === undefined) return outcome;
    const sh = path.join(r.shield, rel);
    const made = await lstatMaybe(sh);
    if (made !== undefined && sameInode(made, judged)) return outcome;
    if (made !== undefined && !made.isDirectory()) await ignoring(['ENOENT'], unlink(sh));
    return this.defer(path.join(r.root, rel));
  }

  /** See `DeletionShield.adopt`: the entry put in as it is, whatever its ctime. */
  async adopt(r: ShieldRoot, rel: string): Promise<boolean> {
    const st = await lstatMaybe(path.join(r.root, rel));
    if (st?.isDirectory()) {
      const sh = await lstatMaybe(path.join(r.shield, rel));
      if (sh !== undefined) return false;
      await this.ensureDir(r, rel);
      return true;
    }
    if (!linkable(st) || st === undefined) return false;
    const sh = await lstatMaybe(path.join(r.shield, rel));
    if (sh === undefined) return (await this.link(r, rel)) === 'linked';
    // Another inode in the slot while the live one is unchanged since the cut: the slot is stale from
    // before the cut (a replacement the watcher had not handled); the live file is the cut's.
    if (sh.isDirectory() || sameInode(sh, st) || changedAfterCut(st.ctimeNs, this.cutMs)) return false;
    return (await this.relink(r, rel)) === 'relinked';
  }

  /** Gives the shield directory itself the mode and owner of its root (a snapshot records them as the root's). */
  async mirrorRoot(r: ShieldRoot): Promise<void> {
    const [live, sh] = await Promise.all([lstatMaybe(r.root), lstatMaybe(r.shield)]);
    if (!live?.isDirectory() || !sh?.isDirectory()) return;
    if ((sh.mode & 0o7777n) !== (live.mode & 0o7777n)) await chmod(r.shield, Number(live.mode & 0o7777n));
    if (IS_ROOT && (sh.uid !== live.uid || sh.gid !== live.gid)) await chown(r.shield, Number(live.uid), Number(live.gid));
  }

  private async link(r: ShieldRoot, rel: string): Promise<Outcome> {
    const live = path.join(r.root, rel);
    const sh = path.join(r.shield, rel);
    try {
      if (linkNow(live, sh)) return 'linked';
      if (!lstatNow(live)) return 'none'; // the live file is gone already
      await this.ensureDir(r, path.posix.dirname(rel));
      return linkNow(live, sh) ? 'linked' : 'none';
    } catch (err) {
      if (errCode(err) === 'EEXIST') return 'none'; // linked meanwhile by someone else; the next look settles it
      this.onFailure(`cannot link '${live}' into the shield`, err);
      return 'failed';
    }
  }

  private async relink(r: ShieldRoot, rel: string): Promise<Outcome> {
    const live = path.join(r.root, rel);
    const sh = path.join(r.shield, rel);
    const tmp = path.join(path.dirname(sh), `.ffk-relink-${process.pid}-${(relinkSeq += 1)}`);
    try {
      if (!(await ignoring(['ENOENT'], link(live, tmp)))) return 'none';
      await rename(tmp, sh);
      return 'relinked';
    } catch (err) {
      await ignoring(['ENOENT'], unlink(tmp));
      this.onFailure(`cannot re-link '${live}' into the shield`, err);
      return 'failed';
    }
  }

  /** Creates `<r.shield>/<relDir>` and missing parents, each with its live counterpart's mode and owner. */
  private async ensureDir(r: ShieldRoot, relDir: string): Promise<void> {
    if (relDir === '.' || relDir === '') {
      await ignoring(['EEXIST'], mkdir(r.shield, { mode: 0o700 }));
      return;
    }
    const target = path.join(r.shield, relDir);
    try {
      await mkdir(target, { mode: 0o700 });
    } catch (err) {
      if (errCode(err) === 'EEXIST') return;
      if (errCode(err) !== 'ENOENT') throw err;
      await this.ensureDir(r, path.posix.dirname(relDir));
      if (!(await ignoring(['EEXIST'], mkdir(target, { mode: 0o700 })))) return;
    }
    const liveDir = await lstatMaybe(path.join(r.root, relDir));
    if (!liveDir?.isDirectory()) return;
    await chmod(target, Number(liveDir.mode & 0o7777n));
    if (IS_ROOT) await chown(target, Number(liveDir.uid), Number(liveDir.gid));
  }

  /** Removes `<r.shield>/<rel>` when it is an empty directory, then its emptied parents. */
  private async removeDir(r: ShieldRoot, rel: string): Promise<boolean> {
    const removed = await ignoring(['ENOENT', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR'], rmdir(path.join(r.shield, rel)));
    if (removed) await this.pruneParents(r, rel);
    return removed;
  }

  /** Removes emptied shield directories above `rel` (never the shield directory itself). */
  private async pruneParents(r: ShieldRoot, rel: string): Promise<void> {
    for (let dir = path.posix.dirname(rel); dir !== '.' && dir !== ''; dir = path.posix.dirname(dir)) {
      if (!(await ignoring(['ENOENT', 'ENOTEMPTY', 'EEXIST', 'ENOTDIR'], rmdir(path.join(r.shield, dir))))) return;
    }
  }
}
