/**
 * In-memory fakes of the uploads driver's ports (UploadTree, RestoreArea, DeletionShield, and the few
 * Repository calls the driver makes), for the domain's unit tests. Fakes record what they were asked,
 * in order, into a shared `log` when given one, so tests can assert sequences across ports.
 */
import type {
  BackupFilesRequest,
  BackupSummary,
  BackupTreesRequest,
  OpenedTreesBackup,
  Repository,
  RepositoryInfo,
  RestoreRequest,
  RestoreSummary,
  SnapshotFilter,
  SnapshotInfo,
  TreesSummary,
} from '../../../../shared/repository/repository.js';
import type {
  DeletionShield,
  RestoreArea,
  RootStatus,
  ShieldCounts,
  ShieldHealth,
  ShieldScan,
  ShieldSettle,
  SwapHandle,
  TreeEntry,
  UploadTree,
  WalkOptions,
} from './ports.js';

/** A tree of fixed entries; records the options of each walk. */
export class FakeTree implements UploadTree {
  walks: WalkOptions[] = [];
  /** Makes the next walks fail with it. */
  failWalk: Error | undefined;
  /** What `rootStatus` says of a path, where not an existing directory of its own name. */
  statuses = new Map<string, RootStatus>();
  constructor(private readonly entries: TreeEntry[]) {}
  async rootStatus(root: string): Promise<RootStatus> {
    return this.statuses.get(root) ?? { kind: 'dir', realPath: root };
  }
  async *walk(roots: readonly string[], options: WalkOptions = {}): AsyncGenerator<TreeEntry> {
    this.walks.push(options);
    if (this.failWalk) throw this.failWalk;
    yield* this.entries.filter((e) => roots.some((r) => e.path === r || e.path.startsWith(`${r}/`)));
  }
}

/** Records what the driver does; `failSwapOf` makes the swap of that root fail. */
export class FakeArea implements RestoreArea {
  log: string[] = [];
  failSwapOf: string | undefined;
  /** What `freeBytes` says for any directory. */
  free = 1e12;
  async freeBytes(): Promise<number> {
    return this.free;
  }
  async ensureDir(dir: string): Promise<void> {
    this.log.push(`ensure ${dir}`);
  }
  async list(): Promise<string[] | undefined> {
    return undefined;
  }
  async remove(target: string): Promise<void> {
    this.log.push(`remove ${target}`);
  }
  async swap(req: { live: string; aside: string }): Promise<SwapHandle> {
    if (req.live === this.failSwapOf) throw new Error(`rename in ${req.live} failed`);
    this.log.push(`swap ${req.live}`);
    return {
      asideDir: req.aside,
      undo: async () => void this.log.push(`undo ${req.live}`),
    };
  }
  async recoverSwap(req: { live: string }): Promise<'nothing' | 'put back'> {
    this.log.push(`recover ${req.live}`);
    return 'put back';
  }

  async moveChildren(from: string, to: string): Promise<void> {
    this.log.push(`move ${from} -> ${to}`);
  }
  /** Directories (by prefix) on another filesystem than the rest: moving into them is refused. */
  otherFilesystem: string[] = [];
  async moveEntry(from: string, to: string): Promise<'moved' | 'other-filesystem'> {
    if (this.otherFilesystem.some((d) => to.startsWith(d))) return 'other-filesystem';
    this.log.push(`move ${from} -> ${to}`);
    return 'moved';
  }
  async fold(shieldDir: string, into: string): Promise<{ moved: number; dropped: number }> {
    this.log.push(`fold ${shieldDir} -> ${into}`);
    return { moved: 2, dropped: 0 };
  }
}

/** A backup summary with test defaults. */
export function summary(over: Partial<BackupSummary> = {}): BackupSummary {
  return {
    snapshotId: 'f'.repeat(64), filesNew: 1, filesChanged: 0, filesUnmodified: 0, dirsNew: 1, dirsChanged: 0, dirsUnmodified: 0,
    dataAddedBytes: 10, totalFilesProcessed: 1, totalBytesProcessed: 10, durationSeconds: 0.1, complete: true,
    itemErrors: [], missingPaths: [], ...over,
  };
}

/** Only what the driver calls; anything else is a test failure. */
export class FakeRepository implements Partial<Repository> {
  backups: BackupFilesRequest[] = [];
  treeBackups: BackupTreesRequest[] = [];
  /** How `backupTrees` says it stored the trees. */
  layout: 'named' | 'direct' = 'named';
  restores: RestoreRequest[] = [];
  filters: SnapshotFilter[] = [];
  constructor(private readonly snapshots: Partial<SnapshotInfo>[] = [], private readonly result = summary()) {}
  async listSnapshots(filter: SnapshotFilter = {}): Promise<SnapshotInfo[]> {
    this.filters.push(filter);
    return this.snapshots as SnapshotInfo[];
  }
  /** Shared sequence log (optional); `gate` makes backupFiles wait for it. */
  log: string[] | undefined;
  gate: Promise<void> | undefined;
  failWith: Error | undefined;
  async backupFiles(request: BackupFilesRequest): Promise<BackupSummary> {
    this.backups.push(request);
    this.log?.push('backup');
    await this.gate;
    if (this.failWith) throw this.failWith;
    return this.result;
  }
  async backupTrees(request: BackupTreesRequest): Promise<TreesSummary> {
    this.treeBackups.push(request);
    this.log?.push('backup trees');
    await this.gate;
    if (this.failWith) throw this.failWith;
    const paths = Object.fromEntries(request.trees.map((t) => [t.name, this.layout === 'named' ? `/${t.name}` : t.dir]));
    return { ...this.result, layout: this.layout, paths };
  }
  /** `openTreesBackup` calls: what each was opened with and what became of it. */
  opened: { request: BackupTreesRequest; fate: 'open' | 'run' | 'cancelled' }[] = [];
  displayUrl = '/repo';
  async describe(): Promise<RepositoryInfo> {
    this.log?.push('describe');
    return { id: 'r'.repeat(64), formatVersion: 2 };
  }
  async openTreesBackup(request: BackupTreesRequest): Promise<OpenedTreesBackup> {
    this.log?.push('open trees');
    const entry = { request, fate: 'open' as 'open' | 'run' | 'cancelled' };
    this.opened.push(entry);
    return {
      get usable() {
        return entry.fate === 'open';
      },
      run: async () => {
        entry.fate = 'run';
        this.log?.push('run opened trees');
        if (this.failWith) throw this.failWith;
        const paths = Object.fromEntries(request.trees.map((t) => [t.name, `/${t.name}`]));
        return { ...this.result, layout: 'named', paths };
      },
      cancel: async () => {
        if (entry.fate === 'open') entry.fate = 'cancelled';
      },
    };
  }
  async restore(request: RestoreRequest): Promise<RestoreSummary> {
    this.restores.push(request);
    return { snapshotId: request.snapshotId, targetDir: request.targetDir, filesRestored: 1, bytesRestored: 1, durationSeconds: 0 };
  }
}

const SCAN: ShieldScan = { files: 0, dirs: 0, linked: 0, relinked: 0, removed: 0, deferred: 0, failed: 0, durationMs: 0 };

/** A shield that records its calls into `log`; `degrade()` makes it report a degraded watcher. */
export class FakeShield implements DeletionShield {
  state: ShieldHealth = { state: 'closed' };
  isHeld = false;
  released: ShieldCounts = { linked: 0, relinked: 1, removed: 2, deferred: 0, failed: 0 };
  /** Changes the next settles leave pending (0: they settle). */
  behind = 0;
  constructor(readonly log: string[] = []) {}
  async open(roots: readonly string[]): Promise<ShieldScan> {
    this.log.push(`open ${roots.join(' ')}`);
    if (this.state.state === 'closed') this.state = { state: 'watching', dirs: roots.length };
    return SCAN;
  }
  async settle(options: { graceMs: number; capMs: number }): Promise<ShieldSettle> {
    this.log.push(`settle ${options.graceMs}/${options.capMs}`);
    return { waitedMs: 21, settled: this.behind === 0, pending: this.behind };
  }
  cutMs: number | undefined;
  hold(cutMs: number): void {
    this.log.push('hold');
    this.cutMs = cutMs;
    this.isHeld = true;
  }
  async adopt(livePaths: readonly string[]): Promise<number> {
    this.log.push(`adopt [${livePaths.join(' ')}]`);
    return livePaths.length;
  }
  changedSinceCut(): ReadonlySet<string> {
    return new Set();
  }

  held(): boolean {
    return this.isHeld;
  }
  async release(recheck: readonly string[] = []): Promise<ShieldCounts> {
    this.log.push(`release [${recheck.join(' ')}]`);
    this.isHeld = false;
    return this.released;
  }
  async rescan(): Promise<ShieldScan> {
    this.log.push('rescan');
    return { ...SCAN, linked: 3 };
  }
  health(): ShieldHealth {
    return this.state;
  }
  async close(): Promise<void> {
    this.log.push('close');
    this.state = { state: 'closed' };
  }
  degrade(reason: string): void {
    this.state = { state: 'degraded', dirs: 1, reason };
  }
}
