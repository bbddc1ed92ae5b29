/**
 * node:fs helpers shared by the uploads adapters: error codes, `lstat` that tolerates vanished entries,
 * turning an `lstat` into a walk entry, and reading a live directory and its shield counterpart side by
 * side (one `lstat` per entry and side, in concurrent batches).
 */
import { lstatSync, type BigIntStats } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import type { OtherEntryKind, TreeEntry } from '../../domain/drivers/uploads/ports.js';

/** Entries stat'ed concurrently per batch. */
export const BATCH = 64;

/** The `code` of a node:fs error, if any. */
export function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** `lstat` with bigint times; undefined when the entry (or a parent) does not exist. */
export async function lstatMaybe(p: string): Promise<BigIntStats | undefined> {
  try {
    return await lstat(p, { bigint: true });
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * `lstatMaybe` with a synchronous call: for a path an event has just named (its entries are in the
 * kernel's caches), a blocking lstat of a few microseconds costs the loop less than the hand-off to
 * libuv's threads and back.
 */
export function lstatNow(p: string): BigIntStats | undefined {
  try {
    return lstatSync(p, { bigint: true, throwIfNoEntry: false });
  } catch (err) {
    if (errCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** Names in `dir`; undefined when it does not exist (or is not a directory). */
export async function namesOf(dir: string): Promise<string[] | undefined> {
  try {
    return await readdir(dir);
  } catch (err) {
    const code = errCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** True when both stats are of the same inode. */
export function sameInode(a: BigIntStats, b: BigIntStats): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

function otherKind(st: BigIntStats): OtherEntryKind {
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isCharacterDevice()) return 'char-device';
  return 'unknown';
}

/** The walk entry of a non-directory; undefined when a symlink vanished before its target was read. */
export async function toEntry(s: { path: string; st: BigIntStats }, readLinks: boolean): Promise<TreeEntry | undefined> {
  const { st } = s;
  if (st.isFile()) return { type: 'file', path: s.path, size: Number(st.size), mtimeNs: st.mtimeNs };
  if (st.isSymbolicLink()) {
    if (!readLinks) return { type: 'symlink', path: s.path, mtimeNs: st.mtimeNs };
    const target = await readlink(s.path).catch((err: unknown) => (errCode(err) === 'ENOENT' ? undefined : Promise.reject(err)));
    return target === undefined ? undefined : { type: 'symlink', path: s.path, mtimeNs: st.mtimeNs, target };
  }
  return { type: 'other', path: s.path, what: otherKind(st) };
}

/** One name of a directory pair, with each side's `lstat` (undefined: not on that side, or vanished). */
export interface PairEntry {
  name: string;
  live: BigIntStats | undefined;
  shield: BigIntStats | undefined;
}

/**
 * The union of `liveNames` (in `liveDir`) and `shieldNames` (in `shieldDir`), each side `lstat`ed, in
 * batches of `BATCH` stat'ed concurrently. Live names come first, in their order.
 */
export async function* statPairs(input: {
  liveDir: string;
  shieldDir: string;
  liveNames: readonly string[];
  shieldNames: readonly string[];
}): AsyncGenerator<PairEntry[]> {
  const inShield = new Set(input.shieldNames);
  const inLive = new Set(input.liveNames);
  const names = [...input.liveNames, ...input.shieldNames.filter((n) => !inLive.has(n))];
  for (let i = 0; i < names.length; i += BATCH) {
    const chunk = names.slice(i, i + BATCH);
    yield await Promise.all(
      chunk.map(async (name) => ({
        name,
        live: inLive.has(name) ? await lstatMaybe(path.join(input.liveDir, name)) : undefined,
        shield: inShield.has(name) ? await lstatMaybe(path.join(input.shieldDir, name)) : undefined,
      })),
    );
  }
}
