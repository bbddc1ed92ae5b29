/**
 * The full id of the snapshot a backup has just saved, found without another restic run (each run pays
 * ~0.7 s to open the repository). restic 0.14's backup summary names the snapshot by its first 8 hex
 * digits only (restic ≥ 0.17 gives all 64, which is taken as it is). A snapshot's file is named by its
 * full id: in restic's cache, where the backup itself stored it (`<cacheDir>/<repository id>/snapshots/
 * <first 2 hex>/<id>`), and in a local repository (`<path>/snapshots/<id>`, restic's repository layout).
 * The cache has one directory per repository and may hold snapshots of others, or deleted ones: there a
 * name counts only when it was written since the backup started. Anything but exactly one match is
 * undecided, and the caller asks restic (`snapshots <short id>`).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResticContext } from './restic-run.js';

const FULL_ID = /^[0-9a-f]{64}$/;
const SHORT_ID = /^[0-9a-f]{8,63}$/;
/** Allowance for file systems whose timestamps lag the clock (coarse mtime granularity). */
const MTIME_SLACK_MS = 2000;

async function names(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return []; // no such directory (no cache yet, another layout): undecided, not an error
  }
}

/** Cached snapshot files named `<shortId>…`, written since `sinceMs`. */
async function fromCache(cacheDir: string, shortId: string, sinceMs: number): Promise<string[]> {
  const found: string[] = [];
  for (const repositoryId of await names(cacheDir)) {
    const dir = path.join(cacheDir, repositoryId, 'snapshots', shortId.slice(0, 2));
    for (const name of await names(dir)) {
      if (!FULL_ID.test(name) || !name.startsWith(shortId)) continue;
      const written = await stat(path.join(dir, name)).then((s) => s.mtimeMs, () => 0);
      if (written >= sinceMs - MTIME_SLACK_MS) found.push(name);
    }
  }
  return found;
}

/** Snapshot files of a local repository named `<shortId>…` (all of them are this repository's). */
async function fromLocalRepository(ctx: ResticContext, shortId: string): Promise<string[]> {
  if (ctx.url.scheme !== 'local') return [];
  const root = ctx.url.raw.startsWith('local:') ? ctx.url.raw.slice('local:'.length) : ctx.url.raw;
  return (await names(path.join(root, 'snapshots'))).filter((n) => FULL_ID.test(n) && n.startsWith(shortId));
}

/**
 * The full id of the snapshot whose id restic reported as `reported` (full or short) in a backup started
 * at `startedMs`, or undefined when the cache and the repository's files cannot tell it for certain.
 */
export async function savedSnapshotId(ctx: ResticContext, reported: string, startedMs: number): Promise<string | undefined> {
  if (FULL_ID.test(reported)) return reported;
  if (!SHORT_ID.test(reported)) return undefined;
  if (ctx.cacheDir !== undefined) {
    const cached = await fromCache(ctx.cacheDir, reported, startedMs);
    if (cached.length === 1) return cached[0];
  }
  const local = await fromLocalRepository(ctx, reported);
  return local.length === 1 ? local[0] : undefined;
}
