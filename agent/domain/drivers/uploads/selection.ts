/**
 * Which entries of the upload trees belong to a cut. A file belongs when its mtime is not after the cut
 * time, compared at millisecond precision: the cut time is a wall-clock reading truncated to the
 * millisecond, and the kernel stamps files from a clock that never runs ahead of the wall clock, so
 * every file written before the cut has `floor(mtime in ms) <= cut ms` — none is lost. A file written
 * in the same millisecond just after the cut (or within the kernel's coarse-clock tick) may be kept;
 * that is the safe side (an extra file, never a missing one).
 *
 * Empty directories are kept (listed, with an exclude of their content so a file created in them after
 * the walk is not picked up), up to a cap: every exclude pattern costs the engine a match per file.
 */
import type { TreeEntry } from './ports.js';

/** At most this many empty directories are kept per backup; beyond that they are counted, not kept. */
export const MAX_KEPT_EMPTY_DIRS = 200;
/** How many names of files newer than the cut are kept for the log. */
const NEWER_SAMPLE = 20;

/** True when an entry modified at `mtimeNs` (ns since epoch) belongs to a cut taken at `cutMs`. */
export function withinCut(mtimeNs: bigint, cutMs: number): boolean {
  const mtimeMs = mtimeNs >= 0n ? mtimeNs / 1_000_000n : -((-mtimeNs + 999_999n) / 1_000_000n);
  return mtimeMs <= BigInt(Math.floor(cutMs));
}

/** A literal path as a glob pattern of the `Repository` port (glob characters and backslash escaped). */
export function globEscape(literal: string): string {
  return literal.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

/** The pattern excluding everything inside `dir` (but not `dir` itself). */
export function contentExclude(dir: string): string {
  return `${globEscape(dir)}/*`;
}

/** What a backup of the upload trees will read, as of the cut. */
export interface BackupSelection {
  /** Files, symlinks and kept empty directories, absolute. */
  paths: string[];
  /** Exclude patterns keeping kept directories empty. */
  excludes: string[];
  files: number;
  bytes: number;
  symlinks: number;
  emptyDirsKept: number;
  emptyDirsNotKept: number;
  /** Entries modified after the cut (left out): how many, and the first few names. */
  newerThanCut: number;
  newerThanCutSample: string[];
  /** Fifos, sockets, devices: never backed up. */
  otherSkipped: string[];
  /** Directories that could not be read: their content is missing from the backup. */
  unreadable: { path: string; message: string }[];
}

function emptySelection(): BackupSelection {
  return {
    paths: [],
    excludes: [],
    files: 0,
    bytes: 0,
    symlinks: 0,
    emptyDirsKept: 0,
    emptyDirsNotKept: 0,
    newerThanCut: 0,
    newerThanCutSample: [],
    otherSkipped: [],
    unreadable: [],
  };
}

function addNewer(sel: BackupSelection, p: string): void {
  sel.newerThanCut += 1;
  if (sel.newerThanCutSample.length < NEWER_SAMPLE) sel.newerThanCutSample.push(p);
}

function keepDir(sel: BackupSelection, dir: string): void {
  sel.paths.push(dir);
  sel.excludes.push(contentExclude(dir));
}

function take(sel: BackupSelection, entry: TreeEntry, cutMs: number, roots: ReadonlySet<string>): void {
  switch (entry.type) {
    case 'file':
    case 'symlink':
      if (!withinCut(entry.mtimeNs, cutMs)) return addNewer(sel, entry.path);
      sel.paths.push(entry.path);
      if (entry.type === 'file') {
        sel.files += 1;
        sel.bytes += entry.size;
      } else sel.symlinks += 1;
      return;
    case 'dir':
      // Roots are handled once the walk is over (a root may hold only entries newer than the cut).
      if (!entry.empty || roots.has(entry.path)) return;
      if (!withinCut(entry.mtimeNs, cutMs)) return addNewer(sel, entry.path);
      if (sel.emptyDirsKept >= MAX_KEPT_EMPTY_DIRS) sel.emptyDirsNotKept += 1;
      else {
        keepDir(sel, entry.path);
        sel.emptyDirsKept += 1;
      }
      return;
    case 'other':
      sel.otherSkipped.push(entry.path);
      return;
    case 'unreadable':
      sel.unreadable.push({ path: entry.path, message: entry.message });
      return;
  }
}

/** True when `p` is `root` or below it. */
export function isUnder(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);
}

/**
 * Consumes a walk of `roots` and selects what a backup as of `cutMs` reads. A root with nothing selected
 * beneath it is kept as an empty directory, so the snapshot always holds every root.
 */
export async function selectForBackup(input: {
  entries: AsyncIterable<TreeEntry>;
  roots: readonly string[];
  cutMs: number;
  /** Called every `progressEvery` entries with the count so far. */
  onCount?: (entries: number) => void;
  progressEvery?: number;
}): Promise<BackupSelection> {
  const sel = emptySelection();
  const roots = new Set(input.roots);
  const every = input.progressEvery ?? 10_000;
  let count = 0;
  for await (const entry of input.entries) {
    take(sel, entry, input.cutMs, roots);
    count += 1;
    if (count % every === 0) input.onCount?.(count);
  }
  const covered = new Set<string>();
  for (const p of sel.paths) {
    for (const root of input.roots) if (isUnder(p, root)) covered.add(root);
  }
  for (const root of input.roots) if (!covered.has(root)) keepDir(sel, root);
  return sel;
}
