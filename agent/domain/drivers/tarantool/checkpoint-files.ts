/**
 * Facts about Tarantool checkpoint files and vclocks the driver relies on: a `.snap` file is named by
 * its checkpoint's vclock signature (20 digits), and the files `box.backup.start()` pins live below the
 * instance's memtx and vinyl directories — which is how they are mapped onto another set of
 * directories at restore time.
 */
import path from 'node:path';
import type { Vclock } from './ports.js';

/** The signature a `.snap` file name encodes, or undefined when `file` is not a snapshot file. */
export function snapSignature(file: string): number | undefined {
  const m = /^(\d+)\.snap$/.exec(path.basename(file));
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** `{1: 1106, 2: 7}` → `1:1106 2:7` (for messages and manifest details). */
export function formatVclock(v: Vclock): string {
  const parts = Object.keys(v)
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => `${k}:${v[k] ?? 0}`);
  return parts.length > 0 ? parts.join(' ') : '(empty)';
}

/** Equal vclocks, ignoring components that are zero. */
export function sameVclock(a: Vclock, b: Vclock): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false;
  return true;
}

/** Directories of one instance: where its files were backed up from, or where they go. */
export interface DataDirs {
  memtx: string;
  vinyl: string;
}

/**
 * Where a file that lived at `original` (below `from`'s memtx or vinyl directory) belongs under `to`.
 * The longer matching prefix wins (one directory may be nested in the other); undefined when the file
 * lies under neither.
 */
export function relocate(original: string, from: DataDirs, to: DataDirs): string | undefined {
  const candidates: Array<[string, string]> = [
    [from.memtx, to.memtx],
    [from.vinyl, to.vinyl],
  ];
  candidates.sort((x, y) => y[0].length - x[0].length);
  for (const [src, dst] of candidates) {
    const rel = path.relative(src, original);
    if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) return path.join(dst, rel);
  }
  return undefined;
}
