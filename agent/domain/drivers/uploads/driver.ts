/**
 * The uploads driver: FindFace's artifact directories (`/var/lib/findface-security/uploads`,
 * `/var/lib/ffupload`) backed up with version history.
 *
 * - freeze/thaw: nothing to do; cut: records the cut time (ms).
 * - upload: walks the trees (streamed, one stat per entry), keeps what is not newer than the cut
 *   (see selection.ts), and backs the list up with the previous snapshot of this component as parent,
 *   so unchanged files are neither re-read nor stored again. A listed file that vanished before the
 *   repository read it is reported by name in the artifact's `missing`.
 * - restore: see restore.ts (staging, entry checks, swap into place or placement into a target).
 */
import { IllegalStateError, NotFoundError, ValidationError } from '../../../../shared/errors.js';
import type { BackupSummary, Repository } from '../../../../shared/repository/repository.js';
import { componentTag, siteTag, snapshotTags } from '../../../../shared/tags.js';
import type {
  ComponentArtifact,
  ComponentDriver,
  CutPoint,
  RestoreContext,
  RestoreReport,
  UploadContext,
} from '../types.js';
import { isReservedName } from './layout.js';
import type { RestoreArea, UploadTree } from './ports.js';
import { restoreUploads } from './restore.js';
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
  /** Clock (tests). */
  now?: () => Date;
}

type UploadsCut = Extract<CutPoint, { kind: 'uploads' }>;

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
  private pending: UploadsCut | undefined;

  constructor(private readonly options: UploadsDriverOptions) {
    this.name = options.name;
    this.ref = `uploads:${options.name}`;
    this.roots = checkRoots(options.name, options.paths);
  }

  /** Every root must be an existing directory. */
  async prepare(): Promise<void> {
    await this.realRoots();
  }

  async freeze(): Promise<void> {}

  async thaw(): Promise<void> {}

  /** Records the cut time; the upload keeps files whose mtime is not after it. */
  async cut(): Promise<CutPoint> {
    const time = (this.options.now ?? (() => new Date()))();
    this.pending = { kind: 'uploads', component: this.ref, time };
    return this.pending;
  }

  async release(): Promise<void> {
    this.pending = undefined;
  }

  /** Backs up the trees as of the cut; see the module comment. */
  async upload(ctx: UploadContext): Promise<ComponentArtifact> {
    const cut = this.pending;
    if (!cut) throw new IllegalStateError(`${this.ref}: upload called without a cut (or after release)`);
    try {
      return await this.uploadAt(ctx, cut);
    } finally {
      this.pending = undefined;
    }
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

  private async select(ctx: UploadContext, realRoots: string[], cut: UploadsCut): Promise<BackupSelection> {
    const progress = (message: string): void => ctx.onProgress?.({ component: this.ref, step: 'walk', message });
    const entries = this.options.tree.walk(realRoots, {
      skipRootChild: isReservedName,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    const sel = await selectForBackup({
      entries,
      roots: realRoots,
      cutMs: cut.time.getTime(),
      onCount: (n) => progress(`${n} entries walked`),
    });
    progress(`walk done: ${sel.files} files (${sel.bytes} bytes) selected, ${sel.newerThanCut} newer than the cut`);
    return sel;
  }

  private async uploadAt(ctx: UploadContext, cut: UploadsCut): Promise<ComponentArtifact> {
    const log = ctx.logger.child({ component: this.ref, jobId: ctx.jobId });
    const realRoots = await this.realRoots();
    const parentId = await findParent(ctx.repository, ctx.tags, this.options.host);
    const sel = await this.select(ctx, [...realRoots.values()], cut);
    if (sel.newerThanCut > 0) log.info({ count: sel.newerThanCut, sample: sel.newerThanCutSample }, 'entries newer than the cut left out');
    if (sel.otherSkipped.length > 0) log.warn({ entries: sel.otherSkipped.slice(0, 20) }, 'special files (fifo, socket, device) not backed up');
    const summary = await ctx.repository.backupFiles(
      {
        paths: sel.paths,
        excludes: sel.excludes,
        tags: snapshotTags(ctx.tags),
        ...(parentId ? { parentId } : {}),
        ...(this.options.host ? { host: this.options.host } : {}),
      },
      {
        ...(ctx.signal ? { signal: ctx.signal } : {}),
        onProgress: (event) => ctx.onProgress?.({ component: this.ref, step: 'backup', event }),
      },
    );
    const missing = missingOf(summary, sel);
    if (missing.length > 0) log.warn({ missing: missing.slice(0, 50), count: missing.length }, 'files vanished or unreadable; not in the snapshot');
    return this.artifact({ cut, summary, sel, missing, parentId, realRoots });
  }

  private artifact(input: {
    cut: UploadsCut;
    summary: BackupSummary;
    sel: BackupSelection;
    missing: string[];
    parentId: string | undefined;
    realRoots: Map<string, string>;
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
        roots: JSON.stringify(Object.fromEntries(input.realRoots)),
        ...(input.parentId ? { parentId: input.parentId } : {}),
        selectedFiles: sel.files,
        selectedBytes: sel.bytes,
        symlinks: sel.symlinks,
        newerThanCut: sel.newerThanCut,
        emptyDirsKept: sel.emptyDirsKept,
        emptyDirsNotKept: sel.emptyDirsNotKept,
        specialFilesSkipped: sel.otherSkipped.length,
        filesNew: summary.filesNew,
        filesChanged: summary.filesChanged,
        filesUnmodified: summary.filesUnmodified,
      },
    };
  }

  /** Restores into place, or below `ctx.targetDir`; see restore.ts. */
  async restore(ctx: RestoreContext): Promise<RestoreReport> {
    return restoreUploads({
      ctx,
      ref: this.ref,
      roots: this.roots,
      tree: this.options.tree,
      area: this.options.area,
      keepAside: this.options.keepAside ?? false,
    });
  }
}
