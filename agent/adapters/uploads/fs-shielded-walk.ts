/**
 * The shielded walk of one upload root: the live tree and its deletion shield (`<root>/<shield>/`, the
 * same relative layout) read together, directory by directory, so each entry of each side is `lstat`ed
 * once (a trusted walk, `WalkOptions.trustShield`: only the names that are not a regular file on both
 * sides). Both sides of a directory are read at once, and the next `PREFETCH` directories to walk are
 * read while this one is (a walk of many small directories waits on each read otherwise): memory holds
 * the names of those few directories at a time. Live entries come out as in the plain walk,
 * files carrying `shieldPath` when the shield's entry is the same inode; shield files their live path no
 * longer holds come out as `shield-only` entries. Directories that exist only in the shield are walked
 * for their files but never reported as directories (they are not part of the live tree).
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError } from '../../../shared/errors.js';
import type { LiveState, TreeEntry, WalkOptions } from '../../domain/drivers/uploads/ports.js';
import { errCode, lstatMaybe, sameInode, statPairs, toEntry, type PairEntry } from './fs-common.js';

interface PairDir {
  rel: string;
  /** The live directory (with its mtime), when there is one. */
  live: { mtimeNs: bigint } | undefined;
  shield: boolean;
  /** Both sides' names, once their reads have started. */
  read?: Promise<PairNames>;
}

/** The names of both sides of a directory pair. */
interface PairNames {
  live: LiveNames;
  shield: { names: string[]; files?: Set<string> };
}

/** Directories read ahead of the walk (the top of its stack: the next ones it walks). */
const PREFETCH = 8;

interface Walk {
  root: string;
  shieldRoot: string;
  options: WalkOptions;
  stack: PairDir[];
}

/** A directory's names; `files`: those the directory itself says are regular files (trusted walks only). */
type LiveNames = { names: string[]; files?: Set<string>; unreadable?: string } | undefined;

/** `readdir`, with each name's type when `typed` (no stat: the directory entry's own type). */
async function readNames(dir: string, typed: boolean): Promise<{ names: string[]; files?: Set<string> }> {
  if (!typed) return { names: await readdir(dir) };
  const dirents = await readdir(dir, { withFileTypes: true });
  const names: string[] = new Array<string>(dirents.length);
  const files = new Set<string>();
  for (let i = 0; i < dirents.length; i += 1) {
    const d = dirents[i] as (typeof dirents)[number];
    names[i] = d.name;
    if (d.isFile()) files.add(d.name);
  }
  return { names, files };
}

async function liveNamesOf(w: Walk, dir: PairDir): Promise<LiveNames> {
  if (!dir.live) return { names: [] };
  const isRoot = dir.rel === '';
  try {
    const read = await readNames(path.join(w.root, dir.rel), w.options.trustShield === true);
    return isRoot && w.options.skipRootChild ? { ...read, names: read.names.filter((n) => !w.options.skipRootChild?.(n)) } : read;
  } catch (err) {
    if (errCode(err) === 'ENOENT' && !isRoot) return undefined; // deleted since its parent was read
    return { names: [], unreadable: err instanceof Error ? err.message : String(err) };
  }
}

/** The shield side's names (typed when the walk trusts the shield); none when it is gone. */
async function shieldNamesOf(w: Walk, dir: string): Promise<{ names: string[]; files?: Set<string> }> {
  const typed = w.options.trustShield === true;
  const gone = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes(errCode(err) ?? '');
  const read = await readNames(dir, typed).catch((err: unknown) => (gone(err) ? undefined : Promise.reject(err)));
  return read ?? { names: [], ...(typed ? { files: new Set<string>() } : {}) };
}

function liveState(e: PairEntry): LiveState {
  if (!e.live) return { kind: 'absent' };
  return e.live.isFile() ? { kind: 'file', mtimeNs: e.live.mtimeNs } : { kind: 'other' };
}

/** The entries of one name of a directory pair; pushes its sub-directories (either side) on the stack. */
async function* entriesOf(w: Walk, rel: string, e: PairEntry): AsyncGenerator<TreeEntry> {
  const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
  const livePath = path.join(w.root, childRel);
  const shieldPath = path.join(w.shieldRoot, childRel);
  const liveDir = e.live?.isDirectory() === true;
  const shieldDir = e.shield?.isDirectory() === true;
  if (liveDir || shieldDir) w.stack.push({ rel: childRel, live: liveDir && e.live ? { mtimeNs: e.live.mtimeNs } : undefined, shield: shieldDir });
  const same = e.live !== undefined && e.shield !== undefined && e.live.isFile() && e.shield.isFile() && sameInode(e.live, e.shield);
  if (e.live && !liveDir) {
    const entry = await toEntry({ path: livePath, st: e.live }, w.options.readLinks === true);
    if (entry?.type === 'file' && same) entry.shieldPath = shieldPath;
    if (entry) yield entry;
  }
  if (e.shield?.isFile() && !same) {
    yield { type: 'shield-only', path: shieldPath, livePath, size: Number(e.shield.size), mtimeNs: e.shield.mtimeNs, live: liveState(e) };
  }
}

/** Starts reading both sides of `dir` (once); a failed read rejects when the walk gets to it. */
function readPair(w: Walk, dir: PairDir): Promise<PairNames> {
  if (!dir.read) {
    const shieldRead = dir.shield ? shieldNamesOf(w, path.join(w.shieldRoot, dir.rel)) : Promise.resolve({ names: [] });
    dir.read = Promise.all([liveNamesOf(w, dir), shieldRead]).then(([live, shield]) => ({ live, shield }));
    dir.read.catch(() => undefined); // read ahead: its error is thrown where the walk awaits it
  }
  return dir.read;
}

/** Yields the entries of one directory pair; returns its number of live children and whether it was readable. */
async function* walkPair(w: Walk, dir: PairDir): AsyncGenerator<TreeEntry, { children: number; readable: boolean }> {
  const liveDir = path.join(w.root, dir.rel);
  const shieldDir = path.join(w.shieldRoot, dir.rel);
  const read = readPair(w, dir);
  for (let i = w.stack.length - 1; i >= Math.max(0, w.stack.length - PREFETCH); i -= 1) void readPair(w, w.stack[i] as PairDir);
  const { live, shield } = await read;
  if (live?.unreadable !== undefined) yield { type: 'unreadable', path: liveDir, message: live.unreadable };
  let shieldNames = shield.names;
  // The shield mirrors only the root's own children: a reserved name at its top is a leftover (a crashed re-link).
  if (dir.rel === '' && w.options.skipRootChild) shieldNames = shieldNames.filter((n) => !w.options.skipRootChild?.(n));
  let liveNames = live?.names ?? [];
  let children = 0;
  if (live?.files && shield.files) {
    // Trusted: a regular file on both sides is the shield's link (see WalkOptions.trustShield); only the rest is stat'ed.
    const shieldFiles = shield.files;
    const changed = w.options.changed !== undefined && w.options.changed.size > 0 ? w.options.changed : undefined;
    const liveFiles = live.files;
    // One pass over the live names; the shield's are filtered only when some of them are not linked.
    const linked: string[] = [];
    const restLive: string[] = [];
    for (const n of liveNames) {
      if (liveFiles.has(n) && shieldFiles.has(n) && changed?.has(`${liveDir}/${n}`) !== true) linked.push(n);
      else restLive.push(n);
    }
    if (linked.length > 0) yield { type: 'linked', path: liveDir, shieldDir, names: linked };
    children += linked.length;
    liveNames = restLive;
    if (linked.length === shieldNames.length) shieldNames = []; // linked ⊆ the shield's names: all of them
    else if (linked.length > 0) {
      const both = new Set(linked);
      shieldNames = shieldNames.filter((n) => !both.has(n));
    }
  }
  const pairs = statPairs({ liveDir, shieldDir, liveNames, shieldNames });
  for await (const batch of pairs) {
    if (w.options.signal?.aborted) throw new CancelledError(`walk of '${liveDir}' cancelled`);
    for (const e of batch) {
      if (e.live) children += 1;
      yield* entriesOf(w, dir.rel, e);
    }
  }
  return { children, readable: live !== undefined && live.unreadable === undefined };
}

/** See the module comment; the root's own `dir` entry comes last, as in the plain walk. */
export async function* walkShieldedRoot(input: {
  root: string;
  mtimeNs: bigint;
  shieldName: string;
  options: WalkOptions;
}): AsyncGenerator<TreeEntry> {
  const shieldRoot = path.join(input.root, input.shieldName);
  const shieldSt = await lstatMaybe(shieldRoot);
  const w: Walk = { root: input.root, shieldRoot, options: input.options, stack: [] };
  w.stack.push({ rel: '', live: { mtimeNs: input.mtimeNs }, shield: shieldSt?.isDirectory() === true });
  const rootEntry = { type: 'dir' as const, path: input.root, mtimeNs: input.mtimeNs, empty: true };
  while (w.stack.length > 0) {
    const dir = w.stack.pop() as PairDir;
    const result = yield* walkPair(w, dir);
    if (dir.rel === '') rootEntry.empty = result.children === 0;
    else if (dir.live && result.readable) {
      yield { type: 'dir', path: path.join(input.root, dir.rel), mtimeNs: dir.live.mtimeNs, empty: result.children === 0 };
    }
  }
  yield rootEntry;
}
