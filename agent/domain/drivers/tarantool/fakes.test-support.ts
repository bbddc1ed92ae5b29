/**
 * In-memory fakes of the Tarantool driver's ports (ShardAdmin, ShardFiles, ServiceManager, and the
 * few Repository calls the driver makes), with failure injection per operation, for the domain's
 * unit tests. The fake shard "recovers" whatever checkpoint was placed when it is started.
 */
import { FfkError, IllegalStateError } from '../../../../shared/errors.js';
import type { BackupFilesRequest, BackupSummary, Repository, RestoreRequest, RestoreSummary } from '../../../../shared/repository/repository.js';
import type { ServiceManager } from '../../ports.js';
import type {
  AsideSet,
  CheckpointList,
  CheckpointOutcome,
  QuietOutcome,
  ShardAdmin,
  ShardFiles,
  ShardInfo,
  StagedFile,
  StartedCheckpoint,
} from './ports.js';

/** Operations a test can make fail (once, or always). */
export type FaultPoint =
  | 'repository.restore'
  | 'repository.backupFiles'
  | 'services.stop'
  | 'services.start'
  | 'files.moveAside'
  | 'files.place'
  | 'files.putBack'
  | 'files.discard'
  | 'admin.answersAfterStop'
  | 'admin.recoversWrongCheckpoint';

export class Faults {
  private readonly armed = new Map<FaultPoint, 'once' | 'always'>();

  arm(point: FaultPoint, mode: 'once' | 'always' = 'once'): void {
    this.armed.set(point, mode);
  }

  /** True when `point` should fail now (consumes a 'once' fault). */
  hit(point: FaultPoint): boolean {
    const mode = this.armed.get(point);
    if (mode === 'once') this.armed.delete(point);
    return mode !== undefined;
  }

  throwIf(point: FaultPoint): void {
    if (this.hit(point)) throw new IllegalStateError(`injected failure of ${point}`);
  }
}

export const snapName = (sig: number): string => `${String(sig).padStart(20, '0')}.snap`;

/** One fake shard: its unit, its files and its iproto side. */
export class FakeShard implements ShardAdmin, ShardFiles, ServiceManager {
  readonly address = '127.0.0.1:3301';
  readonly faults = new Faults();
  active = true;
  private sig = 100;
  /** When the signature last changed (ms, Date.now()). */
  private changedAt = 0;
  get signature(): number {
    return this.sig;
  }
  set signature(v: number) {
    if (v !== this.sig) this.changedAt = Date.now();
    this.sig = v;
  }
  /** Checkpoints kept (oldest first). */
  kept: CheckpointList['checkpoints'] = [{ signature: 100, vclock: { '1': 100 }, pinned: false }];
  inProgress = false;
  outcome: CheckpointOutcome = { state: 'unknown' };
  /** The .snap currently in the memtx dir (what a start recovers). */
  liveSnap = 100;
  placedSnap: number | undefined;
  readonly log: string[] = [];

  // ServiceManager
  async stop(unit: string): Promise<void> {
    this.log.push(`stop ${unit}`);
    this.faults.throwIf('services.stop');
    this.active = false;
  }

  async start(unit: string): Promise<void> {
    this.log.push(`start ${unit}`);
    this.faults.throwIf('services.start');
    this.active = true;
    this.signature = this.liveSnap;
    const recovered = this.faults.hit('admin.recoversWrongCheckpoint') ? this.liveSnap + 1 : this.liveSnap;
    this.kept = [{ signature: recovered, vclock: { '1': recovered }, pinned: false }];
  }

  async isActive(): Promise<boolean> {
    return this.active;
  }

  // ShardAdmin
  async info(): Promise<ShardInfo> {
    if (!this.active) throw new FfkError('UNAVAILABLE', `tarantool ${this.address}: cannot connect`);
    return { status: 'running', vclock: { '1': this.signature }, signature: this.signature, dirs: { memtx: '/data/memtx', wal: '/data/wal', vinyl: '/data/vinyl' } };
  }

  /** When the write watcher started (`watchWrites`), while it runs; it looks every millisecond, as the shard's fiber does. */
  private watchFrom: number | undefined;
  /** Write watchers started so far. */
  watchesStarted = 0;
  /** What the last `quiet` answered. */
  lastQuiet: QuietOutcome | undefined;

  get watching(): boolean {
    return this.watchFrom !== undefined;
  }

  async watchWrites(): Promise<void> {
    if (!this.active) throw new FfkError('UNAVAILABLE', `tarantool ${this.address}: cannot connect`);
    this.watchesStarted += 1;
    this.watchFrom = Date.now();
  }

  async stopWatch(): Promise<void> {
    this.watchFrom = undefined;
  }

  /** As the shard's own loop does: looks at the signature every millisecond, one look per 2 ms of quiet at least; goes on from the watcher's looks. */
  async quiet(settleMs: number, timeoutMs: number, checkpoint?: { token: string; waitBusyMs: number }): Promise<QuietOutcome> {
    if (!this.active) throw new FfkError('UNAVAILABLE', `tarantool ${this.address}: cannot connect`);
    const started = Date.now();
    const watched = this.watchFrom !== undefined;
    // The watcher's looks: one per millisecond since the later of its start and the last change.
    let since = watched ? Math.max(this.watchFrom as number, this.changedAt) : started;
    let [last, looks] = [this.signature, started - since];
    this.watchFrom = undefined;
    for (;;) {
      const now = Date.now();
      if (this.signature !== last) [last, since, looks] = [this.signature, now, 0];
      else if (now - since >= settleMs && looks >= Math.ceil(settleMs / 2)) {
        this.lastQuiet = { settled: true, signature: last, waitedMs: now - started, watched, quietMs: now - since };
        if (checkpoint) this.lastQuiet.checkpoint = await this.startCheckpoint();
        return this.lastQuiet;
      }
      if (now - started >= timeoutMs) return (this.lastQuiet = { settled: false, signature: this.signature, waitedMs: now - started, watched, quietMs: now - since });
      await new Promise((r) => setTimeout(r, 1));
      looks += 1;
    }
  }

  /** Checkpoints started so far (`startCheckpoint`, or `quiet` with a checkpoint). */
  checkpointsStarted = 0;

  async startCheckpoint(): Promise<StartedCheckpoint> {
    this.checkpointsStarted += 1;
    this.outcome = { state: 'done', signature: this.signature, vclock: { '1': this.signature } };
    if (!this.kept.some((c) => c.signature === this.signature)) this.kept.push({ signature: this.signature, vclock: { '1': this.signature }, pinned: false });
    return { vclock: { '1': this.signature }, signature: this.signature };
  }

  async checkpointOutcome(): Promise<CheckpointOutcome> {
    return this.outcome;
  }

  async checkpoints(): Promise<CheckpointList> {
    return { inProgress: this.inProgress, checkpoints: this.kept.map((c) => ({ ...c })) };
  }

  async pin(indexFromNewest: number): Promise<string[]> {
    const cp = this.kept[this.kept.length - 1 - indexFromNewest];
    if (!cp) throw new IllegalStateError('no such checkpoint');
    cp.pinned = true;
    this.log.push(`pin ${cp.signature}`);
    return [`/data/memtx/${snapName(cp.signature)}`, '/data/vinyl/00000000000000000000.vylog'];
  }

  async unpin(): Promise<void> {
    for (const c of this.kept) c.pinned = false;
    this.log.push('unpin');
  }

  async waitRunning(): Promise<ShardInfo> {
    return this.info();
  }

  async answers(): Promise<boolean> {
    return this.active || this.faults.hit('admin.answersAfterStop');
  }

  async close(): Promise<void> {}

  // ShardFiles
  /** What `freeBytes` says for any directory. */
  free = 1e12;
  async freeBytes(): Promise<number> {
    return this.free;
  }
  async makeStaging(): Promise<string> {
    return '/data/.memtx.ffk-staging';
  }

  async listFiles(root: string): Promise<string[]> {
    return this.placedSnap === undefined ? [] : [`${root}/data/memtx/${snapName(this.placedSnap)}`, `${root}/data/vinyl/00000000000000000000.vylog`];
  }

  async moveAside(dirs: readonly string[]): Promise<AsideSet> {
    this.log.push('move-aside');
    this.faults.throwIf('files.moveAside');
    return { moves: dirs.map((dir) => ({ dir, asideDir: `${dir}.aside`, entries: ['x'] })) };
  }

  async place(files: readonly StagedFile[]): Promise<void> {
    this.log.push(`place ${files.map((f) => f.destination).join(',')}`);
    this.faults.throwIf('files.place');
    this.liveSnap = this.placedSnap ?? this.liveSnap;
  }

  async putBack(): Promise<void> {
    this.log.push('put-back');
    this.faults.throwIf('files.putBack');
    this.liveSnap = 100;
  }

  async findAside(): Promise<AsideSet | undefined> {
    return undefined;
  }

  async countExisting(paths: readonly string[]): Promise<number> {
    return paths.length;
  }

  async discard(): Promise<void> {
    this.log.push('discard');
    this.faults.throwIf('files.discard');
  }

  async removeDir(dir: string): Promise<void> {
    this.log.push(`rm ${dir}`);
  }
}

/** The repository calls the driver makes; `restore` "stages" the snapshot's checkpoint in the fake shard. */
export function fakeRepository(shard: FakeShard, snapSignatureInRepo: number): Repository {
  const repo: Partial<Repository> = {
    displayUrl: '/repo',
    async restore(request: RestoreRequest): Promise<RestoreSummary> {
      shard.faults.throwIf('repository.restore');
      shard.placedSnap = snapSignatureInRepo;
      return { snapshotId: request.snapshotId, targetDir: request.targetDir, filesRestored: 2, bytesRestored: 10, durationSeconds: 0 };
    },
    async backupFiles(request: BackupFilesRequest): Promise<BackupSummary> {
      shard.log.push(`backup ${request.paths.join(',')}`);
      shard.faults.throwIf('repository.backupFiles');
      return {
        snapshotId: 'a'.repeat(64),
        filesNew: request.paths.length,
        filesChanged: 0,
        filesUnmodified: 0,
        dirsNew: 0,
        dirsChanged: 0,
        dirsUnmodified: 0,
        dataAddedBytes: 5,
        totalFilesProcessed: request.paths.length,
        totalBytesProcessed: 10,
        durationSeconds: 0,
        complete: true,
        itemErrors: [],
        missingPaths: [],
      };
    },
  };
  return repo as Repository;
}
