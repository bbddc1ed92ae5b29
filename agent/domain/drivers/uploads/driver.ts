/**
 * The uploads driver: FindFace's artifact directories (`/var/lib/findface-security/uploads`,
 * `/var/lib/ffupload`) backed up with version history, as of the cut.
 *
 * - open (agent start, or the first prepare): starts the deletion shield (shield.ts) — a watcher that
 *   keeps a hard link to every file in `<root>/.ffk-shield/`, so files deleted after the cut are still
 *   there when the upload reads them.
 * - prepare: with a shield, opens the cut's backup of the shield directories (`Repository.openTreesBackup`):
 *   the engine opens the repository now — that is the prepare's repository check — and reads nothing
 *   until the upload runs it, so the upload pays no repository opening of its own.
 * - freeze: waits until the watcher has caught up with every change made before it (a barrier, bounded:
 *   a shield still behind fails the freeze, so no cut misses a file it would have had to shield); cut: holds the shield (nothing is
 *   removed from it until the upload has read everything) and records the cut time (ms). Neither grows
 *   with the number of files.
 * - upload: walks the live trees and their shields together (streamed, one stat per entry) to count what
 *   belongs to the cut (see selection.ts) and to put into the held shield what it lacks (files the
 *   watcher missed, symlinks, kept empty directories), then backs up the shield directories themselves —
 *   the trees as of the cut — in one repository run, each under its root's name (`/uploads/<rel>`,
 *   `/ffupload/<rel>`: `viewNames`), with the previous snapshot of this component as parent, so unchanged
 *   files are neither re-read nor stored again. The snapshot records one path per root whatever the
 *   number of files; the artifact records where each root is in it (`roots`) and how it was stored
 *   (`snapshotLayout`: `named`, or `direct` when the host allows no private mounts — the shield
 *   directories at their own paths — or `files`: a list of files, the form of earlier versions, still
 *   used without a shield). Then the shield is released (deleted files' links removed).
 * - restore: see restore.ts (staging, shield fold, entry checks, swap into place or placement into a target).
 */
import { IllegalStateError, NotFoundError, UnavailableError, ValidationError } from '../../../../shared/errors.js';
import { silentLogger, type Logger } from '../../../../shared/logger.js';
import type { BackupSummary, OpenedTreesBackup, ProgressEvent, Repository } from '../../../../shared/repository/repository.js';
import { importUploads } from './import.js';
import { SnapshotNotFoundError } from '../../../../shared/repository/errors.js';
import { componentTag, siteTag, snapshotTags } from '../../../../shared/tags.js';
import type {
  ImportContext,
  ComponentArtifact,
  PrepareContext,
  ComponentDriver,
  CutPoint,
  FreezeOptions,
  RestoreContext,
  RestoreReport,
  SandboxRestoreContext,
  SandboxRestoreReport,
  StagedComponent,
  StagedJournal,
  UploadContext,
} from '../types.js';
import { SHIELD_NAME, isReservedName, shieldDirOf, viewNames } from './layout.js';
import type { DeletionShield, RestoreArea, ShieldCounts, ShieldHealth, ShieldSettle, UploadTree } from './ports.js';
import { recoverStagedUploads, restoreUploads, stageUploads, targetRoots, type UploadsRestoreInput, type UploadsSwitchInput } from './restore.js';
import { isUnder, selectForBackup, type BackupSelection } from './selection.js';

/** How an uploads driver is built (see `agent/adapters/uploads/factory.ts` for the wiring from config). */
export interface UploadsDriverOptions {
  name: string;
  /** Upload root directories, absolute and not nested in each other. */
  paths: readonly string[];
  tree: UploadTree;
  area: RestoreArea;
  /** Host recorded on snapshots and used to find the parent snapshot; default: the engine's (machine name). */
  host?: string;
  /** Keep a restore's previous entries in `<root>/.ffk-aside-<jobId>` instead of deleting them (default false). */
  keepAside?: boolean;
  /** The deletion shield of the roots (shield.ts). Without one the upload reads the live trees only. */
  shield?: DeletionShield;
  /**
   * Freeze's wait for the shield's watcher to catch up with every change made before it (its barrier:
   * default no minimum, at most 3 s); a shield that does not catch up in time fails the freeze.
   */
  settle?: { graceMs: number; capMs: number };
  /**
   * A cut whose upload has not started after this long lets the shield go (default 30 min), so an
   * abandoned cut (controller gone between thaw and upload) cannot keep deleted files on disk forever.
   */
  maxHoldMs?: number;
  /**
   * Where the repository presents the shields under the roots' names for a backup (see
   * `BackupTreesRequest.viewDir`); the same from one upload to the next, outside the roots.
   */
  viewDir: string;
  /** For the shield's life outside jobs (open, close); jobs log to their own logger. */
  logger?: Logger;
  /** Clock (tests). */
  now?: () => Date;
}

/**
 * Default settle of the freeze: see `UploadsDriverOptions.settle`. No minimum wait: the shield's barrier
 * (a marker file whose event comes after every earlier change's) already says when it has caught up; the
 * 20 ms minimum of the first shield, from before the barrier, was a fixed part of every freeze window.
 */
export const DEFAULT_SETTLE = { graceMs: 0, capMs: 3000 } as const;
/** Default of `UploadsDriverOptions.maxHoldMs`. */
export const DEFAULT_MAX_HOLD_MS = 30 * 60_000;

/** How the shield took part in one upload (artifact details). */
interface ShieldUse {
  shielded: boolean;
  /** `watching`, `degraded: <reason>` or `off`, as it was when the upload started. */
  state: string;
  rescanned: boolean;
}

type UploadsCut = Extract<CutPoint, { kind: 'uploads' }>;

/** The tree backup a cut's prepare opened, and what it was opened for (its upload must want the same). */
interface OpenedTrees {
  cutId: string;
  site: string;
  repository: string;
  parentId: string | undefined;
  /** The trees it reads and what each directory was then, as `treesKey` gives them. */
  trees: string;
  backup: OpenedTreesBackup;
}

/**
 * What one backup stored: the summary, how (see the module comment) and where each configured root is in
 * the snapshot (`details.roots` of the artifact, what a restore reads).
 */
interface Stored {
  summary: BackupSummary;
  layout: 'named' | 'direct' | 'files';
  paths: Record<string, string>;
}

function checkRoots(name: string, roots: readonly string[]): string[] {
  if (roots.length === 0) throw new ValidationError(`uploads component '${name}' has no paths`, { field: 'paths' });
  const norm = roots.map((r) => {
    if (!r.startsWith('/')) throw new ValidationError(`upload path '${r}' of '${name}' must be absolute`, { field: 'paths' });
    return r.length > 1 ? r.replace(/\/+$/, '') : r;
  });
  norm.forEach((a, i) =>
    norm.forEach((b, j) => {
      if (i !== j && isUnder(b, a)) {
        throw new ValidationError(`upload paths '${a}' and '${b}' of '${name}' overlap`, { field: 'paths' });
      }
    }),
  );
  return norm;
}

/** Restic-style snapshot choice: the newest snapshot of this component (and host) is the parent. */
async function findParent(repo: Repository, tags: UploadContext['tags'], host: string | undefined): Promise<string | undefined> {
  const filter = { tags: [siteTag(tags.site), componentTag(tags.component)], ...(host ? { host } : {}) };
  const snapshots = await repo.listSnapshots(filter);
  const newest = snapshots.reduce<(typeof snapshots)[number] | undefined>(
    (best, s) => (best === undefined || s.time.getTime() >= best.time.getTime() ? s : best),
    undefined,
  );
  return newest?.id;
}

function describeHealth(health: ShieldHealth | undefined): string {
  if (!health || health.state === 'closed') return 'off';
  return health.state === 'degraded' ? `degraded: ${health.reason}` : 'watching';
}

function missingOf(summary: BackupSummary, selection: BackupSelection): string[] {
  const names = [
    ...summary.missingPaths,
    ...summary.itemErrors.map((e) => e.path),
    ...selection.unreadable.map((u) => u.path),
  ];
  return [...new Set(names)].sort();
}

/** The `ComponentDriver` of upload directories. */
export class UploadsDriver implements ComponentDriver {
  readonly kind = 'uploads' as const;
  readonly name: string;
  readonly ref: string;
  private readonly roots: string[];
  private readonly log: Logger;
  private pending: UploadsCut | undefined;
  private opening: Promise<void> | undefined;
  private uploading = false;
  private lastSettle: ShieldSettle | undefined;
  /** The snapshot of the last upload, by repository and site: the next upload's parent. */
  private readonly lastSnapshot = new Map<string, string>();
  private holdTimer: NodeJS.Timeout | undefined;
  /** Set when the hold of the pending cut ran out before its upload started. */
  private holdExpired = false;
  /** The backup the pending cut's prepare opened (see `prepare`). */
  private opened: OpenedTrees | undefined;

  constructor(private readonly options: UploadsDriverOptions) {
    this.name = options.name;
    this.ref = `uploads:${options.name}`;
    this.roots = checkRoots(options.name, options.paths);
    this.log = options.logger ?? silentLogger();
  }

  /**
   * Starts the deletion shield: watches the roots and links every file not shielded yet (O(files), once
   * per agent start, never during a freeze). Idempotent; a failed open is tried again by the next call.
   */
  async open(): Promise<void> {
    const shield = this.options.shield;
    if (!shield) return;
    this.opening ??= this.openShield(shield).catch((err: unknown) => {
      this.opening = undefined;
      throw err;
    });
    return this.opening;
  }

  private async openShield(shield: DeletionShield): Promise<void> {
    const roots = await this.realRoots();
    const scan = await shield.open([...roots.values()]);
    const health = shield.health();
    const level = health.state === 'degraded' ? 'warn' : 'info';
    this.log[level]({ component: this.ref, scan, shield: describeHealth(health) }, 'deletion shield open');
  }

  /** Stops the shield's watcher (its directories stay on disk). */
  async close(): Promise<void> {
    await this.cancelOpened();
    this.opening = undefined;
    clearTimeout(this.holdTimer);
    await this.options.shield?.close();
  }

  /** With a shield, prepare opens the cut's backup and so checks the repository (see `prepare`). */
  get opensRepository(): boolean {
    return this.options.shield !== undefined;
  }

  /**
   * Every root must be an existing directory; opens the shield if the agent start did not. With a cut's
   * `ctx` and a shield, also opens the cut's backup of the shield directories: the engine opens the
   * repository now, beside the cut protocol, rather than after the thaw, and that is the repository check.
   * It needs the parent now: the catalog's as the controller sent it, else the snapshot this driver stored
   * last. Without either, or without a working shield (the upload then reads a list of files), the
   * repository is only checked and the upload starts its own backup.
   */
  async prepare(ctx?: PrepareContext): Promise<void> {
    await this.cancelOpened();
    const roots = await this.realRoots();
    await this.open();
    if (ctx) await this.openBackup(ctx, roots);
  }

  private parentKey(repository: Repository, site: string): string {
    return `${repository.displayUrl}|${site}`;
  }

  private async openBackup(ctx: PrepareContext, roots: Map<string, string>): Promise<void> {
    const shield = this.options.shield;
    const parentId = ctx.catalogParent ? ctx.catalogParent.snapshotId : this.lastSnapshot.get(this.parentKey(ctx.repository, ctx.tags.site));
    const canOpen = shield !== undefined && shield.health().state !== 'closed' && (ctx.catalogParent !== undefined || parentId !== undefined);
    const trees = this.treesOf(roots);
    // undefined also when a shield directory is missing (the upload's walk makes it again)
    const key = canOpen ? await this.treesKey(trees) : undefined;
    if (key === undefined) {
      await ctx.repository.describe();
      return;
    }
    const backup = await ctx.repository.openTreesBackup({ ...this.snapshotCommon(ctx.tags), ...(parentId ? { parentId } : {}), trees, viewDir: this.options.viewDir });
    this.opened = { cutId: ctx.tags.cutId, site: ctx.tags.site, repository: ctx.repository.displayUrl, parentId, trees: key, backup };
  }

  /**
   * The trees and the identity of each directory (device and inode): a backup opened ahead may hold its
   * directories from then (restic's private bind mounts), so one replaced since (a wiped root's shield
   * made again) must not be read through it. `undefined` when a directory does not exist.
   */
  private async treesKey(trees: { name: string; dir: string }[]): Promise<string | undefined> {
    const ids: string[] = [];
    for (const t of trees) {
      const status = await this.options.tree.rootStatus(t.dir);
      if (status.kind !== 'dir') return undefined;
      ids.push(status.identity ?? '');
    }
    return JSON.stringify({ trees, ids });
  }

  /** The backup prepare opened, when it was opened for this upload as it now stands; else it is stopped. */
  private async takeOpened(ctx: UploadContext, want: { asTrees: boolean; parentId: string | undefined; trees: string | undefined }, log: Logger): Promise<OpenedTreesBackup | undefined> {
    const opened = this.opened;
    this.opened = undefined;
    if (!opened) return undefined;
    const same =
      want.asTrees &&
      opened.cutId === ctx.tags.cutId &&
      opened.site === ctx.tags.site &&
      opened.repository === ctx.repository.displayUrl &&
      opened.parentId === want.parentId &&
      opened.trees === want.trees;
    if (same && opened.backup.usable) return opened.backup;
    log.info({ component: this.ref, opened: opened.cutId, parentId: opened.parentId, wanted: want.parentId }, 'the backup opened at prepare cannot take this upload: starting a new one');
    await opened.backup.cancel();
    return undefined;
  }

  private async cancelOpened(): Promise<void> {
    const opened = this.opened;
    this.opened = undefined;
    await opened?.backup.cancel();
  }

  private snapshotCommon(tags: UploadContext['tags']): { tags: string[]; host?: string } {
    return { tags: snapshotTags(tags), ...(this.options.host ? { host: this.options.host } : {}) };
  }

  /** Waits (bounded) for the shield's watcher to link files written just before the freeze. */
  async freeze(options: FreezeOptions = {}): Promise<void> {
    this.lastSettle = undefined;
    const shield = this.options.shield;
    if (!shield || shield.health().state === 'closed') return;
    const configured = this.options.settle ?? DEFAULT_SETTLE;
    const settle = { graceMs: configured.graceMs, capMs: Math.max(configured.graceMs, Math.min(configured.capMs, options.budgetMs ?? Infinity)) };
    this.lastSettle = await shield.settle(settle);
    if (!this.lastSettle.settled) {
      // A file created before the cut but not shielded yet could be deleted before the upload reads it:
      // better no snapshot now than one that misses it.
      throw new UnavailableError(
        `${this.ref}: the deletion shield did not catch up with the upload directories within ${settle.capMs} ms ` +
          `(${this.lastSettle.pending} change(s) still pending); the cut is abandoned so that no snapshot misses a file (the host is busy: try again)`,
      );
    }
  }

  async thaw(): Promise<void> {}

  /** Records the cut time and holds the shield at it (from now on it is the tree as of the cut, see shield.ts). */
  async cut(): Promise<CutPoint> {
    const shield = this.options.shield;
    const time = (this.options.now ?? (() => new Date()))();
    // Synchronously after reading the clock: no shield work runs in between.
    if (shield && shield.health().state !== 'closed') shield.hold(time.getTime());
    const cut: UploadsCut = { kind: 'uploads', component: this.ref, time };
    this.pending = cut;
    this.holdExpired = false;
    this.armHoldTimer(cut);
    return cut;
  }

  private armHoldTimer(cut: UploadsCut): void {
    clearTimeout(this.holdTimer);
    const maxHoldMs = this.options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
    this.holdTimer = setTimeout(() => {
      if (this.pending !== cut || this.uploading) return;
      this.holdExpired = true;
      this.log.warn({ component: this.ref, maxHoldMs }, 'no upload of the cut started in time: the deletion shield lets go (a late upload may miss deleted files)');
      void this.releaseShield({ recheck: [], overflow: false, log: this.log });
    }, maxHoldMs);
    this.holdTimer.unref();
  }

  /** Forgets the cut and lets the shield go (unless an upload is reading through it). */
  async release(): Promise<void> {
    this.pending = undefined;
    await this.cancelOpened();
    if (this.uploading) return;
    clearTimeout(this.holdTimer);
    await this.releaseShield({ recheck: [], overflow: false, log: this.log });
  }

  /** Backs up the trees as of the cut; see the module comment. */
  async upload(ctx: UploadContext): Promise<ComponentArtifact> {
    const cut = this.pending;
    if (!cut) throw new IllegalStateError(`${this.ref}: upload called without a cut (or after release)`);
    this.uploading = true;
    clearTimeout(this.holdTimer);
    try {
      return await this.uploadAt(ctx, cut);
    } finally {
      this.pending = undefined;
      this.uploading = false;
      await this.cancelOpened(); // one the upload did not take (it failed before its backup)
      if (this.options.shield?.held()) await this.releaseShield({ recheck: [], overflow: false, log: ctx.logger });
    }
  }

  /** Ends the hold and applies what it deferred; a failure is logged, never fails the job (the next release retries). */
  private async releaseShield(input: { recheck: string[]; overflow: boolean; log: Logger }): Promise<ShieldCounts | undefined> {
    const shield = this.options.shield;
    if (!shield || shield.health().state === 'closed') return undefined;
    try {
      const counts = await shield.release(input.recheck);
      if (input.overflow) await shield.rescan();
      return counts;
    } catch (err) {
      input.log.warn({ err, component: this.ref }, 'deletion shield: applying the changes deferred by the cut failed');
      return undefined;
    }
  }

  /** A degraded shield may have missed files: a full scan (adding links only: the cut holds it) before the walk. */
  private async shieldBeforeWalk(log: Logger): Promise<ShieldUse> {
    const shield = this.options.shield;
    const health = shield?.health();
    if (!shield || !health || health.state === 'closed') return { shielded: false, state: 'off', rescanned: false };
    if (this.holdExpired) {
      log.warn({ component: this.ref }, 'the shield let go of this cut before its upload: files deleted since may be missing');
      return { shielded: true, state: 'released before the upload (hold ran out)', rescanned: false };
    }
    if (health.state !== 'degraded') return { shielded: true, state: 'watching', rescanned: false };
    log.warn({ component: this.ref, reason: health.reason }, 'deletion shield degraded: full scan before the walk');
    const scan = await shield.rescan();
    log.info({ component: this.ref, scan }, 'deletion shield scanned');
    return { shielded: true, state: describeHealth(health), rescanned: true };
  }

  private async realRoots(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const root of this.roots) {
      const status = await this.options.tree.rootStatus(root);
      if (status.kind === 'missing') throw new NotFoundError(`upload directory '${root}' of ${this.ref} does not exist`);
      if (status.kind === 'not-dir') throw new ValidationError(`upload path '${root}' of ${this.ref} is not a directory`, { field: 'paths' });
      out.set(root, status.realPath);
    }
    return out;
  }

  /**
   * The walk of the upload trees as of the cut. `asTrees`: the backup reads the held shield directories,
   * so files are counted, not listed; a shield that watched every change up to the cut (not degraded, no
   * rescan) is trusted: only names that are not a regular file on both sides are stat'ed.
   */
  private async select(ctx: UploadContext, realRoots: string[], input: { cut: UploadsCut; shield: ShieldUse; asTrees: boolean }): Promise<BackupSelection> {
    const progress = (message: string): void => ctx.onProgress?.({ component: this.ref, step: 'walk', message });
    const shielded = input.shield.shielded;
    const trustShield = input.asTrees && input.shield.state === 'watching' && !input.shield.rescanned;
    const entries = this.options.tree.walk(realRoots, {
      skipRootChild: isReservedName,
      readLinks: true, // a symlink leaving its root is recorded as a warning
      ...(shielded ? { shield: SHIELD_NAME } : {}),
      ...(trustShield ? { trustShield, changed: this.options.shield?.changedSinceCut() ?? new Set<string>() } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    const sel = await selectForBackup({
      entries,
      roots: realRoots,
      cutMs: input.cut.time.getTime(),
      shielded,
      listFiles: !input.asTrees,
      onCount: (n) => progress(`${n} entries walked`),
    });
    const shieldNote = shielded ? `, ${sel.shieldOnly} only in the shield` : '';
    const bytes = sel.unsized === 0 ? ` (${sel.bytes} bytes)` : '';
    progress(`walk done: ${sel.files} files${bytes} selected${shieldNote}, ${sel.newerThanCut} newer than the cut`);
    return sel;
  }

  private logSelection(log: Logger, sel: BackupSelection): void {
    if (sel.newerThanCut > 0) log.info({ count: sel.newerThanCut, sample: sel.newerThanCutSample }, 'entries newer than the cut left out');
    if (sel.shieldOnly > 0) log.info({ count: sel.shieldOnly, sample: sel.shieldOnlySample }, 'files gone from the live trees since the cut read from the shield');
    if (sel.unshielded > 0) log.warn({ count: sel.unshielded, sample: sel.recheck.slice(0, 20) }, 'files of the cut without a shield link (watcher missed them?) read from the live trees');
    if (sel.symlinksLeavingRoot.length > 0) {
      log.warn({ count: sel.symlinksLeavingRoot.length, sample: sel.symlinksLeavingRoot.slice(0, 20) }, 'symlinks pointing outside their upload root backed up as symlinks');
    }
    if (sel.otherSkipped.length > 0) log.warn({ entries: sel.otherSkipped.slice(0, 20) }, 'special files (fifo, socket, device) not backed up');
  }

  private async uploadAt(ctx: UploadContext, cut: UploadsCut): Promise<ComponentArtifact> {
    const log = ctx.logger.child({ component: this.ref, jobId: ctx.jobId });
    const realRoots = await this.realRoots();
    const shield = await this.shieldBeforeWalk(log);
    // The parent is what the controller's catalog says (the component's snapshot in the newest sealed cut, or
    // none), else the snapshot this driver stored last (kept in memory), else the newest one in the
    // repository — a listing, one repository run more: only without a catalog, on the first upload after a start.
    const parentKey = this.parentKey(ctx.repository, ctx.tags.site);
    const fromCatalog = ctx.catalogParent;
    const knownParent = fromCatalog ? fromCatalog.snapshotId : this.lastSnapshot.get(parentKey);
    let parentId = knownParent ?? (fromCatalog ? undefined : await findParent(ctx.repository, ctx.tags, this.options.host));
    const asTrees = shield.shielded && !this.holdExpired;
    const walkStarted = Date.now();
    const sel = await this.select(ctx, [...realRoots.values()], { cut, shield, asTrees });
    this.logSelection(log, sel);
    if (asTrees && sel.adopt.length > 0) {
      const adopted = await this.options.shield?.adopt(sel.adopt);
      log.info({ count: sel.adopt.length, adopted }, 'entries of the cut put into the held shield (missed by the watcher, symlinks, empty directories)');
    }
    // What the upload spends before the backup reads anything (benches take it apart from restic's time).
    log.debug({ walkMs: Date.now() - walkStarted, files: sel.files }, 'upload walk done');
    const common = this.snapshotCommon(ctx.tags);
    const trees = this.treesOf(realRoots);
    let ahead = await this.takeOpened(ctx, { asTrees, parentId, trees: asTrees ? await this.treesKey(trees) : undefined }, log);
    const progress = {
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onProgress: (event: ProgressEvent) => ctx.onProgress?.({ component: this.ref, step: 'backup', event }),
    };
    const backup = async (parent: string | undefined): Promise<Stored> => {
      const withParent = { ...common, ...(parent ? { parentId: parent } : {}) };
      if (!asTrees) {
        const files = await ctx.repository.backupFiles({ ...withParent, paths: sel.paths, excludes: sel.excludes }, progress);
        return { summary: files, layout: 'files', paths: Object.fromEntries(realRoots) };
      }
      const opened = ahead;
      ahead = undefined; // once: a second backup (the parent was gone) starts its own
      const stored = opened ? await opened.run(progress) : await ctx.repository.backupTrees({ ...withParent, trees, viewDir: this.options.viewDir }, progress);
      const byName = new Map(trees.map((t, i) => [t.name, this.roots[i] as string]));
      const paths = Object.fromEntries(Object.entries(stored.paths).map(([name, p]) => [byName.get(name) ?? name, p]));
      return { summary: stored, layout: stored.layout, paths };
    };
    let stored: Stored;
    try {
      stored = await backup(parentId);
    } catch (err) {
      // The known parent was removed meanwhile (retention, snapshot delete): look it up and go again.
      if (!(err instanceof SnapshotNotFoundError) || knownParent === undefined || ctx.signal?.aborted) throw err;
      this.lastSnapshot.delete(parentKey);
      log.info({ parentId: knownParent }, 'the last snapshot of this component is gone from the repository; using the newest one there as parent');
      parentId = await findParent(ctx.repository, ctx.tags, this.options.host);
      stored = await backup(parentId);
    }
    const summary = stored.summary;
    this.lastSnapshot.set(parentKey, summary.snapshotId);
    // The repository has read everything: the shield may let go of what the cut held.
    const released = await this.releaseShield({ recheck: sel.recheck, overflow: sel.recheckOverflow, log });
    const missing = missingOf(summary, sel);
    if (missing.length > 0) log.warn({ missing: missing.slice(0, 50), count: missing.length }, 'files vanished or unreadable; not in the snapshot');
    return this.artifact({ cut, summary, sel, missing, parentId, stored, shield, released });
  }

  /** The shield directory of each root, under the root's name in the snapshot. */
  private treesOf(realRoots: Map<string, string>): { name: string; dir: string }[] {
    const names = viewNames(this.roots);
    return this.roots.map((root, i) => ({ name: names[i] as string, dir: shieldDirOf(realRoots.get(root) ?? root) }));
  }

  private shieldDetails(use: ShieldUse, sel: BackupSelection, released: ShieldCounts | undefined): Record<string, string | number | boolean> {
    if (!use.shielded) return { shield: use.state };
    return {
      shield: use.state,
      shieldRescanned: use.rescanned,
      ...(this.lastSettle ? { shieldSettleMs: this.lastSettle.waitedMs, shieldSettled: this.lastSettle.settled } : {}),
      shieldReadFiles: sel.fromShield,
      shieldOnlyFiles: sel.shieldOnly,
      unshieldedFiles: sel.unshielded,
      ...(released ? { shieldRemoved: released.removed, shieldRelinked: released.relinked, shieldLinked: released.linked } : {}),
    };
  }

  private artifact(input: {
    cut: UploadsCut;
    summary: BackupSummary;
    sel: BackupSelection;
    missing: string[];
    parentId: string | undefined;
    stored: Stored;
    shield: ShieldUse;
    released: ShieldCounts | undefined;
  }): ComponentArtifact {
    const { summary, sel } = input;
    return {
      component: this.ref,
      kind: 'uploads',
      cut: input.cut,
      snapshotIds: [summary.snapshotId],
      bytes: summary.totalBytesProcessed,
      files: summary.totalFilesProcessed,
      dataAddedBytes: summary.dataAddedBytes,
      ...(input.missing.length > 0 ? { missing: input.missing } : {}),
      details: {
        roots: JSON.stringify(input.stored.paths),
        snapshotLayout: input.stored.layout,
        ...(input.parentId ? { parentId: input.parentId } : {}),
        selectedFiles: sel.files,
        // Known only when the walk stat'ed every file (a trusted walk reads the sizes of none it found linked).
        ...(sel.unsized === 0 ? { selectedBytes: sel.bytes } : {}),
        symlinks: sel.symlinks,
        ...(sel.symlinksLeavingRoot.length > 0 ? { symlinksLeavingRoot: sel.symlinksLeavingRoot.length, symlinkWarnings: linkWarnings(sel.symlinksLeavingRoot) } : {}),
        newerThanCut: sel.newerThanCut,
        emptyDirsKept: sel.emptyDirsKept,
        emptyDirsNotKept: sel.emptyDirsNotKept,
        specialFilesSkipped: sel.otherSkipped.length,
        filesNew: summary.filesNew,
        filesChanged: summary.filesChanged,
        filesUnmodified: summary.filesUnmodified,
        ...this.shieldDetails(input.shield, sel, input.released),
      },
    };
  }

  /** A snapshot import: each root's archive in the export stored as this component's artifact; see import.ts. */
  importArtifact(ctx: ImportContext): Promise<ComponentArtifact> {
    return importUploads({ ctx, ref: this.ref, roots: this.roots, names: viewNames(this.roots), viewDir: this.options.viewDir, ...(this.options.host ? { host: this.options.host } : {}) });
  }

  /** Restores into place, or below `ctx.targetDir`; see restore.ts. */
  async restore(ctx: RestoreContext): Promise<RestoreReport> {
    return restoreUploads(this.restoreInput(ctx));
  }

  /** The stage of a two-phase restore: every root staged beside it and checked; see restore.ts. */
  stage(ctx: RestoreContext): Promise<StagedComponent> {
    return stageUploads(this.restoreInput(ctx));
  }

  /** Roots staged by an interrupted restore, from the agent's restore journal; see restore.ts. */
  recoverStaged(_jobId: string, journal: StagedJournal): StagedComponent {
    return recoverStagedUploads({ ...this.switchInput(), ctx: { logger: this.log } }, journal);
  }

  /**
   * A verify drill: the files restored below the sandbox's directory (`<dir>/files/<root as backed up>`)
   * with the same staging and entry checks as any restore; the live roots are not touched.
   */
  async restoreSandbox(ctx: SandboxRestoreContext): Promise<SandboxRestoreReport> {
    const target = `${ctx.dir}/files`;
    const input = this.restoreInput({ ...ctx, targetDir: target });
    const report = await restoreUploads(input);
    return { ...report, endpoint: { kind: 'uploads', component: this.ref, roots: targetRoots(input, target) } };
  }

  private restoreInput(ctx: RestoreContext): UploadsRestoreInput {
    return { ...this.switchInput(), ctx, roots: this.roots, tree: this.options.tree };
  }

  private switchInput(): Omit<UploadsSwitchInput, 'ctx'> {
    return {
      ref: this.ref,
      area: this.options.area,
      keepAside: this.options.keepAside ?? false,
      ...(this.options.shield ? { shield: this.options.shield } : {}),
    };
  }
}

/** How many symlinks leaving their root the manifest names one by one (the count is always there). */
const LINK_WARNINGS = 20;

/** The manifest's warning about symlinks leaving their root: the first few, as `entry -> target: reason` (JSON). */
export function linkWarnings(links: readonly { entry: string; target: string; reason: string }[]): string {
  const shown = links.slice(0, LINK_WARNINGS).map((l) => `${l.entry}: ${l.reason}`);
  if (links.length > LINK_WARNINGS) shown.push(`… and ${links.length - LINK_WARNINGS} more`);
  return JSON.stringify(shown);
}
