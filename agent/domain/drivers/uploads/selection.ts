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
 *
 * With a deletion shield (shield.ts) the walk also reports each live file's shield link and the shield
 * files their live path no longer holds; files are then read through the shield where it has them.
 */
import { SymlinkChecker } from './entry-check.js';
import type { LiveState, TreeEntry } from './ports.js';

/** At most this many empty directories are kept per backup; beyond that they are counted, not kept. */
export const MAX_KEPT_EMPTY_DIRS = 200;
/** How many names of files newer than the cut (or read from the shield only) are kept for the log. */
const NEWER_SAMPLE = 20;
/** At most this many live paths are handed to the shield for a recheck after the upload. */
export const MAX_RECHECK = 50_000;

/** True when an entry modified at `mtimeNs` (ns since epoch) belongs to a cut taken at `cutMs`. */
export function withinCut(mtimeNs: bigint, cutMs: number): boolean {
  const mtimeMs = mtimeNs >= 0n ? mtimeNs / 1_000_000n : -((-mtimeNs + 999_999n) / 1_000_000n);
  return mtimeMs <= BigInt(Math.floor(cutMs));
}

/**
 * True when a shield file that its live path no longer holds belongs to the cut: it is not newer than
 * the cut, and the live path has no file of the cut (gone, not a file, or a file newer than the cut — a
 * replacement made after it, while the shield kept the version of the cut).
 */
export function shieldOnlyBelongs(entry: { mtimeNs: bigint; live: LiveState }, cutMs: number): boolean {
  if (!withinCut(entry.mtimeNs, cutMs)) return false;
  return entry.live.kind !== 'file' || !withinCut(entry.live.mtimeNs, cutMs);
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
  /** Symlinks whose target resolves outside their root (backed up as symlinks; a warning, see entry-check.ts). */
  symlinksLeavingRoot: { entry: string; target: string; reason: string }[];
  emptyDirsKept: number;
  emptyDirsNotKept: number;
  /** Entries modified after the cut (left out): how many, and the first few names. */
  newerThanCut: number;
  newerThanCutSample: string[];
  /** Fifos, sockets, devices: never backed up. */
  otherSkipped: string[];
  /** Directories that could not be read: their content is missing from the backup. */
  unreadable: { path: string; message: string }[];
  /** Files of the cut read through their shield link (same inode as the live file). */
  fromShield: number;
  /** Files of a trusted walk taken without a stat (`linked` entries): their bytes are not in `bytes`. */
  unsized: number;
  /** Files of the cut read from the shield because their live path no longer held them; first few live paths. */
  shieldOnly: number;
  shieldOnlySample: string[];
  /** Shielded walks: files of the cut with no shield link (read from the live path, so they may still vanish). */
  unshielded: number;
  /** Live paths whose shield entry needs a look once the upload has read everything (see `DeletionShield.release`). */
  recheck: string[];
  /** True when more than `MAX_RECHECK` paths needed a recheck (a full rescan is due instead). */
  recheckOverflow: boolean;
  /**
   * Shielded walks: live entries of the cut the held shield may lack — files without a shield link,
   * symlinks, kept empty directories — for `DeletionShield.adopt` before the shield is backed up.
   */
  adopt: string[];
}

function emptySelection(): BackupSelection {
  return {
    paths: [],
    excludes: [],
    files: 0,
    bytes: 0,
    symlinks: 0,
    symlinksLeavingRoot: [],
    emptyDirsKept: 0,
    emptyDirsNotKept: 0,
    newerThanCut: 0,
    newerThanCutSample: [],
    otherSkipped: [],
    unreadable: [],
    fromShield: 0,
    unsized: 0,
    shieldOnly: 0,
    shieldOnlySample: [],
    unshielded: 0,
    recheck: [],
    recheckOverflow: false,
    adopt: [],
  };
}

function addRecheck(sel: BackupSelection, livePath: string): void {
  if (sel.recheck.length < MAX_RECHECK) sel.recheck.push(livePath);
  else sel.recheckOverflow = true;
}

/** Lists `p` among the paths read (unless the context only counts files) and marks its root covered. */
function takeFilePath(sel: BackupSelection, p: string, c: TakeContext): void {
  if (c.listFiles) sel.paths.push(p);
  else if (c.covered.size < c.roots.size) for (const root of c.roots) if (isUnder(p, root)) c.covered.add(root);
}

function takeFile(sel: BackupSelection, entry: Extract<TreeEntry, { type: 'file' }>, c: TakeContext): void {
  sel.files += 1;
  sel.bytes += entry.size;
  if (entry.shieldPath !== undefined) {
    takeFilePath(sel, entry.shieldPath, c);
    sel.fromShield += 1;
    return;
  }
  takeFilePath(sel, entry.path, c);
  if (c.shielded) {
    sel.unshielded += 1;
    sel.adopt.push(entry.path);
    addRecheck(sel, entry.path);
  }
}

function takeShieldOnly(sel: BackupSelection, entry: Extract<TreeEntry, { type: 'shield-only' }>, c: TakeContext): void {
  addRecheck(sel, entry.livePath);
  if (!shieldOnlyBelongs(entry, c.cutMs)) return;
  takeFilePath(sel, entry.path, c);
  sel.files += 1;
  sel.bytes += entry.size;
  sel.shieldOnly += 1;
  if (sel.shieldOnlySample.length < NEWER_SAMPLE) sel.shieldOnlySample.push(entry.livePath);
}

function addNewer(sel: BackupSelection, p: string): void {
  sel.newerThanCut += 1;
  if (sel.newerThanCutSample.length < NEWER_SAMPLE) sel.newerThanCutSample.push(p);
}

function keepDir(sel: BackupSelection, dir: string): void {
  sel.paths.push(dir);
  sel.excludes.push(contentExclude(dir));
}

interface TakeContext {
  cutMs: number;
  roots: ReadonlySet<string>;
  shielded: boolean;
  /** False: files are counted, not listed in `paths` (a backup of the held shield reads none of them). */
  listFiles: boolean;
  /** Roots with something selected beneath them. */
  covered: Set<string>;
  /** The symlinks taken and their targets (when the walk read them). */
  links: { path: string; target: string }[];
}

function take(sel: BackupSelection, entry: TreeEntry, c: TakeContext): void {
  const { cutMs, roots } = c;
  switch (entry.type) {
    case 'file':
      if (!withinCut(entry.mtimeNs, cutMs)) return addNewer(sel, entry.path);
      return takeFile(sel, entry, c);
    case 'linked':
      // The held shield's links: the files as of the cut (their sizes were not read).
      sel.files += entry.names.length;
      sel.fromShield += entry.names.length;
      sel.unsized += entry.names.length;
      if (c.listFiles) for (const name of entry.names) sel.paths.push(`${entry.shieldDir}/${name}`);
      else if (entry.names.length > 0) takeFilePath(sel, entry.shieldDir, c);
      return;
    case 'shield-only':
      return takeShieldOnly(sel, entry, c);
    case 'symlink':
      if (!withinCut(entry.mtimeNs, cutMs)) return addNewer(sel, entry.path);
      sel.paths.push(entry.path);
      if (c.shielded) sel.adopt.push(entry.path);
      sel.symlinks += 1;
      if (entry.target !== undefined) c.links.push({ path: entry.path, target: entry.target });
      return;
    case 'dir':
      // Roots are handled once the walk is over (a root may hold only entries newer than the cut).
      if (!entry.empty || roots.has(entry.path)) return;
      if (!withinCut(entry.mtimeNs, cutMs)) return addNewer(sel, entry.path);
      if (sel.emptyDirsKept >= MAX_KEPT_EMPTY_DIRS) sel.emptyDirsNotKept += 1;
      else {
        keepDir(sel, entry.path);
        if (c.shielded) sel.adopt.push(entry.path);
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
  /** The walk was shielded (`WalkOptions.shield`): a file without a shield link is counted as unshielded. */
  shielded?: boolean;
  /**
   * False: files are counted but not listed in `paths` (default true) — a backup of the held shield
   * directories reads none of them, and a million paths would cost the agent a hundred MB.
   */
  listFiles?: boolean;
  /** Called every `progressEvery` entries with the count so far. */
  onCount?: (entries: number) => void;
  progressEvery?: number;
}): Promise<BackupSelection> {
  const sel = emptySelection();
  const c: TakeContext = { cutMs: input.cutMs, roots: new Set(input.roots), shielded: input.shielded === true, listFiles: input.listFiles ?? true, covered: new Set(), links: [] };
  const every = input.progressEvery ?? 10_000;
  let count = 0;
  for await (const entry of input.entries) {
    take(sel, entry, c);
    count += 1;
    if (count % every === 0) input.onCount?.(count);
  }
  const covered = c.covered;
  for (const p of sel.paths) {
    for (const root of input.roots) if (isUnder(p, root)) covered.add(root);
  }
  for (const root of input.roots) if (!covered.has(root)) keepDir(sel, root);
  for (const root of input.roots) {
    const checker = new SymlinkChecker(root);
    for (const l of c.links) if (isUnder(l.path, root)) checker.add(l.path, l.target);
    sel.symlinksLeavingRoot.push(...checker.problems());
  }
  return sel;
}
