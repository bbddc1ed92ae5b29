/**
 * `FsDeletionShield`: the uploads driver's `DeletionShield` port on node:fs and inotify (see the domain's
 * shield.ts for what it is for). Three parts:
 *
 * - **scan** (open, rescan, a directory that appeared): walks a live directory and its shield side by
 *   side, watching each live directory before listing it, and reconciles every name that needs it
 *   (links new files, re-links replaced ones, removes links of vanished ones — removals only when not held).
 * - **events**: each watched directory reports names that appeared or vanished; they are queued (one
 *   entry per path, however many events) and reconciled by a few workers; a name that is a directory
 *   not yet watched is scanned. Cheap: no walk per event.
 * - **hold / release / settle / adopt**: see `DeletionShield`. While held, a live file whose ctime is
 *   after the cut is not linked (scans and events alike), so the shield is the tree as of the cut.
 *
 * Anything that makes the shield incomplete — a directory that cannot be watched (ENOSPC: out of inotify
 * watches), a watch error, a link that fails (another file system, permissions) — marks it `degraded`
 * with the first reason; the driver then scans before each upload. A rescan without failures clears it.
 * (An inotify queue overflow is not reported by Node; files the watcher missed show up in the upload's
 * `unshieldedFiles` count and are linked after it.)
 */
import type { BigIntStats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { silentLogger, type Logger } from '../../../shared/logger.js';
import { SHIELD_NAME, isReservedName } from '../../domain/drivers/uploads/layout.js';
import type { DeletionShield, ShieldCounts, ShieldHealth, ShieldScan, ShieldSettle } from '../../domain/drivers/uploads/ports.js';
import { errCode, lstatMaybe, namesOf, statPairs, type PairEntry } from './fs-common.js';
import { ShieldOps, linkable, type Outcome, type ShieldRoot } from './fs-shield-ops.js';
import { DirWatchers, type WatchFn } from './fs-watch.js';

/** Options of `FsDeletionShield`. */
export interface FsDeletionShieldOptions {
  logger?: Logger;
  /** Paths reconciled concurrently by the event workers (default 16; the agent runs 16 libuv threads). */
  concurrency?: number;
  /** `fs.watch` replacement (tests). */
  watch?: WatchFn;
}

interface Job {
  r: ShieldRoot;
  rel: string;
}

interface ScanDir {
  rel: string;
  live: boolean;
  shield: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Marker files of `settle`'s barrier (reserved `.ffk-` names: never shielded nor backed up). */
const BARRIER_PREFIX = '.ffk-barrier-';

function emptyScan(): ShieldScan {
  return { files: 0, dirs: 0, linked: 0, relinked: 0, removed: 0, deferred: 0, failed: 0, durationMs: 0 };
}

function count(c: ShieldCounts, outcome: Outcome): void {
  if (outcome === 'linked') c.linked += 1;
  else if (outcome === 'relinked') c.relinked += 1;
  else if (outcome === 'removed') c.removed += 1;
  else if (outcome === 'deferred') c.deferred += 1;
  else if (outcome === 'failed') c.failed += 1;
}

/**
 * True when a name pair needs no reconciliation: the same file on both sides, or a live directory (scanned
 * itself; its shield side is made on demand). A shield directory without a live one is reconciled (removed
 * once its entries are), and so is everything else.
 */
function inLine(e: PairEntry): boolean {
  const { live, shield } = e;
  if (live?.isDirectory()) return shield === undefined || shield.isDirectory();
  return linkable(live) && linkable(shield) && live?.ino === shield?.ino && live?.dev === shield?.dev;
}

/** See the module comment. */
export class FsDeletionShield implements DeletionShield {
  private roots: ShieldRoot[] = [];
  private open_ = false;
  private degraded: string | undefined;
  /** Each root's shield directory as the last scan made or found it (its inode): one removed since is noticed. */
  private readonly shieldInodes = new Map<string, bigint>();
  private readonly log: Logger;
  private readonly ops: ShieldOps;
  private readonly watchers: DirWatchers;
  private readonly queue = new Map<string, Job>();
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly concurrency: number;
  /** The barrier `settle` waits for: its marker's path and what to call when its event arrives. */
  private barrier: { file: string; seen: () => void } | undefined;

  constructor(options: FsDeletionShieldOptions = {}) {
    this.log = options.logger ?? silentLogger();
    this.concurrency = options.concurrency ?? 16;
    this.ops = new ShieldOps((what, err) => this.fail(`${what}: ${errCode(err) ?? String(err)}`, err));
    this.watchers = new DirWatchers(
      (dir, name) => this.onEvent(dir, name),
      (dir, err) => this.fail(`watch of '${dir}' failed: ${errCode(err) ?? String(err)}`, err),
      options.watch,
    );
  }

  async open(roots: readonly string[]): Promise<ShieldScan> {
    if (this.open_) return emptyScan();
    this.roots = roots.map((root) => ({ root, shield: path.join(root, SHIELD_NAME) }));
    this.open_ = true;
    return this.scanAll();
  }

  async rescan(): Promise<ShieldScan> {
    if (!this.open_) return emptyScan();
    this.degraded = undefined;
    return this.scanAll();
  }

  health(): ShieldHealth {
    if (!this.open_) return { state: 'closed' };
    const dirs = this.watchers.size;
    return this.degraded === undefined ? { state: 'watching', dirs } : { state: 'degraded', dirs, reason: this.degraded };
  }

  hold(cutMs: number): void {
    this.ops.cutMs = cutMs;
    this.ops.held = true;
  }

  changedSinceCut(): ReadonlySet<string> {
    return this.ops.deferred;
  }

  async adopt(livePaths: readonly string[]): Promise<number> {
    let added = 0;
    const jobs = livePaths.flatMap((p) => this.jobOf(p) ?? []);
    for (let i = 0; i < jobs.length; i += 64) {
      const done = await Promise.all(jobs.slice(i, i + 64).map((j) => this.ops.adopt(j.r, j.rel)));
      added += done.filter(Boolean).length;
    }
    return added;
  }

  held(): boolean {
    return this.ops.held;
  }

  async release(recheck: readonly string[] = []): Promise<ShieldCounts> {
    this.ops.held = false;
    this.ops.cutMs = Infinity;
    const paths = [...new Set([...this.ops.deferred, ...recheck])];
    this.ops.deferred.clear();
    const counts = emptyScan();
    const jobs = paths.flatMap((p) => this.jobOf(p) ?? []);
    for (let i = 0; i < jobs.length; i += 64) {
      const outcomes = await Promise.all(jobs.slice(i, i + 64).map((j) => this.ops.reconcile(j.r, j.rel)));
      outcomes.forEach((o) => count(counts, o));
    }
    const { linked, relinked, removed, deferred, failed } = counts;
    return { linked, relinked, removed, deferred, failed };
  }

  async settle(options: { graceMs: number; capMs: number }): Promise<ShieldSettle> {
    const started = Date.now();
    const left = (): number => options.capMs - (Date.now() - started);
    // One inotify queue serves every watch of this process, in order: once the marker's event is here, so
    // is every event of a change made before it. Only then does "nothing pending" mean caught up.
    const reached = await Promise.all([this.passBarrier(options.capMs), sleep(options.graceMs)]).then(([r]) => r);
    while (this.pending() > 0 && left() > 0) await this.idle(left());
    return { waitedMs: Date.now() - started, settled: reached && this.pending() === 0, pending: this.pending() };
  }

  /** Writes a marker into the first root and waits (at most `ms`) for its event; false when it did not come. */
  private async passBarrier(ms: number): Promise<boolean> {
    const root = this.roots[0]?.root;
    if (!root || !this.open_) return false;
    // A root that cannot be watched leaves the shield degraded: the upload rescans first, as for any gap.
    if (!this.watchers.has(root)) return true;
    const file = path.join(root, `${BARRIER_PREFIX}${randomBytes(6).toString('hex')}`);
    let timer: NodeJS.Timeout | undefined;
    const seen = new Promise<boolean>((resolve) => {
      this.barrier = { file, seen: () => resolve(true) };
      timer = setTimeout(() => resolve(false), Math.max(0, ms));
    });
    try {
      await writeFile(file, '');
      return await seen;
    } catch (err) {
      this.log.warn({ err, file }, 'deletion shield: could not write its settle marker');
      return false;
    } finally {
      clearTimeout(timer);
      this.barrier = undefined;
      await rm(file, { force: true }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (!this.open_) return;
    this.open_ = false;
    this.watchers.closeAll();
    this.queue.clear();
    await this.idle(2000);
  }

  private pending(): number {
    return this.queue.size + this.active;
  }

  /** Resolves when nothing is queued or running, or after `ms`. */
  private idle(ms: number): Promise<void> {
    if (this.pending() === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      const waiter = (): void => done();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.idleWaiters.push(waiter);
    });
  }

  private fail(reason: string, err: unknown): void {
    if (this.degraded === undefined) {
      this.degraded = reason;
      this.log.warn({ err, reason }, 'deletion shield degraded: some files may not be shielded until the next scan');
    }
  }

  private jobOf(livePath: string): Job | undefined {
    for (const r of this.roots) {
      const rel = path.relative(r.root, livePath);
      if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) continue;
      const top = rel.split(path.sep)[0] ?? '';
      return isReservedName(top) ? undefined : { r, rel };
    }
    return undefined;
  }

  private onEvent(dir: string, name: string | null): void {
    if (!this.open_) return;
    if (name?.startsWith(BARRIER_PREFIX)) {
      if (this.barrier && path.join(dir, name) === this.barrier.file) this.barrier.seen();
      return;
    }
    if (name === SHIELD_NAME) {
      // The shield itself gone (a root emptied with `rm -rf <root>/*`, say): nothing is shielded until a
      // scan makes it again, so the shield is degraded — the next upload rescans before it reads.
      // (A shield directory made again since, by a link of a new file, is another inode: degraded too.)
      const r = this.roots.find((x) => x.root === dir);
      if (r) {
        void lstatMaybe(r.shield).then((st) => {
          if (this.open_ && (!st?.isDirectory() || st.ino !== this.shieldInodes.get(r.shield))) this.fail(`the shield directory '${r.shield}' was removed`, undefined);
        });
      }
      return;
    }
    const job = name === null ? this.jobOf(dir) : this.jobOf(path.join(dir, name));
    if (!job) return;
    const key = path.join(job.r.root, job.rel);
    if (!this.queue.has(key)) this.queue.set(key, job);
    this.pump();
  }

  private pump(): void {
    while (this.active < this.concurrency && this.queue.size > 0) {
      const [key, job] = this.queue.entries().next().value as [string, Job];
      this.queue.delete(key);
      this.active += 1;
      void this.process(job)
        .catch((err: unknown) => this.fail(`reconciling '${key}' failed: ${errCode(err) ?? String(err)}`, err))
        .finally(() => {
          this.active -= 1;
          this.pump();
          if (this.pending() === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  /** One queued path: reconcile its shield entry; a directory not yet watched is scanned (watched, then listed). */
  private async process(job: Job): Promise<void> {
    const live = path.join(job.r.root, job.rel);
    const outcome = await this.ops.reconcile(job.r, job.rel);
    // A file was just linked: no directory to watch here (one made since is an event of its own, queued again).
    if (outcome === 'linked' || outcome === 'relinked') {
      if (this.watchers.has(live)) this.watchers.unwatch(live);
      return;
    }
    const st = await lstatMaybe(live);
    if (st?.isDirectory()) {
      if (!this.watchers.isWatched(live, st)) await this.scanTree(job.r, job.rel, emptyScan());
    } else if (this.watchers.has(live)) this.watchers.unwatch(live);
  }

  private async scanAll(): Promise<ShieldScan> {
    const started = Date.now();
    const scan = emptyScan();
    for (const r of this.roots) {
      try {
        await mkdir(r.shield, { mode: 0o700 }).catch((err: unknown) => (errCode(err) === 'EEXIST' ? undefined : Promise.reject(err)));
        const st = await lstatMaybe(r.shield);
        if (st) this.shieldInodes.set(r.shield, st.ino);
        await this.ops.mirrorRoot(r);
        await this.scanTree(r, '', scan);
      } catch (err) {
        this.fail(`scan of '${r.root}' failed: ${errCode(err) ?? String(err)}`, err);
      }
    }
    scan.durationMs = Date.now() - started;
    return scan;
  }

  /** Watches (if needed), lists and reconciles `<r.root>/<rel>` and everything below it, with its shield side. */
  private async scanTree(r: ShieldRoot, rel: string, scan: ShieldScan): Promise<void> {
    const stack: ScanDir[] = [{ rel, live: true, shield: true }];
    while (stack.length > 0 && this.open_) {
      const dir = stack.pop() as ScanDir;
      const liveDir = path.join(r.root, dir.rel);
      const shieldDir = path.join(r.shield, dir.rel);
      const st = dir.live ? await lstatMaybe(liveDir) : undefined;
      if (st?.isDirectory()) this.watchDir(liveDir, st);
      scan.dirs += st?.isDirectory() ? 1 : 0;
      let liveNames = st?.isDirectory() ? await this.list(liveDir) : [];
      if (dir.rel === '') liveNames = liveNames.filter((n) => !isReservedName(n));
      const shieldNames = dir.shield ? await this.list(shieldDir) : [];
      for await (const batch of statPairs({ liveDir, shieldDir, liveNames, shieldNames })) {
        await Promise.all(batch.map((e) => this.scanEntry({ r, rel: dir.rel, e, scan, stack })));
      }
    }
  }

  /** Names in `dir`; a directory that cannot be read degrades the shield (its files are not shielded). */
  private async list(dir: string): Promise<string[]> {
    try {
      return (await namesOf(dir)) ?? [];
    } catch (err) {
      this.fail(`cannot list '${dir}': ${errCode(err) ?? String(err)}`, err);
      return [];
    }
  }

  private async scanEntry(input: { r: ShieldRoot; rel: string; e: PairEntry; scan: ShieldScan; stack: ScanDir[] }): Promise<void> {
    const { r, e, scan } = input;
    const childRel = input.rel === '' ? e.name : `${input.rel}/${e.name}`;
    const liveDir = e.live?.isDirectory() === true;
    const shieldDir = e.shield?.isDirectory() === true;
    if (liveDir || shieldDir) input.stack.push({ rel: childRel, live: liveDir, shield: shieldDir });
    if (e.live?.isFile()) scan.files += 1;
    if (inLine(e)) return;
    count(scan, await this.ops.reconcile(r, childRel));
  }

  private watchDir(dir: string, st: BigIntStats): void {
    try {
      this.watchers.watch(dir, st);
    } catch (err) {
      this.fail(`cannot watch '${dir}': ${errCode(err) ?? String(err)}`, err);
    }
  }
}
