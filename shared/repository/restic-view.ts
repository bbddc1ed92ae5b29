/**
 * `restic backup` of whole directories stored under fixed names (`BackupTreesRequest`), in one restic
 * process. restic keeps relative targets relative, so restic runs in `viewDir` with the names as its
 * targets, each name a bind mount of its directory made in a mount namespace of restic's own
 * (`unshare --mount --propagation private`): the mounts are invisible to every other process and vanish
 * with restic. The snapshot records `<viewDir>/<name>` as its paths (one per tree) and its tree is
 * `/<name>/…`. `viewDir` stays the same from one backup to the next, so restic's own parent choice (by
 * paths) also works. Inodes, ctimes and the device are those of the directories themselves, so restic's
 * change detection works through the mounts.
 *
 * Private mounts need CAP_SYS_ADMIN (the agent runs as root on FindFace hosts). Without it, the
 * directories are backed up at their own absolute paths instead (`layout: 'direct'`: still one path per
 * tree, the tree under those paths); the summary says which, so a restore knows where to look.
 */
import { execa } from 'execa';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../errors.js';
import type { BackupTreesRequest, ProgressOptions, TreesSummary } from './repository.js';
import { BackupCollector, commonArgs, finishBackup, type BackupSettings } from './restic-backup.js';
import { settle, startRestic, type ResticContext, type RunSpec } from './restic-run.js';

const UNSHARE = 'unshare';
/** The wrapper's exit code when a bind mount failed (restic itself never exits with it). */
const MOUNT_FAILED = 97;
/** Mounts each `<dir> <mount point>` pair given after their count, then runs the rest of argv (restic). */
const MOUNT_SCRIPT = 'n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind "$1" "$2" || exit 97; shift 2; n=$((n - 1)); done; exec "$@"';

let privateMounts: Promise<boolean> | undefined;

/** Whether this process may make private mounts (asked once per process lifetime). */
function canMountPrivately(): Promise<boolean> {
  privateMounts ??= execa(UNSHARE, ['--mount', '--propagation', 'private', 'true'], { reject: false, stdin: 'ignore' }).then(
    (r) => r.exitCode === 0,
    () => false,
  );
  return privateMounts;
}

function checkTrees(request: BackupTreesRequest): void {
  if (request.trees.length === 0) throw new ValidationError('a tree backup needs at least one directory', { field: 'trees' });
  const names = new Set<string>();
  for (const t of request.trees) {
    if (t.name === '' || t.name === '.' || t.name === '..' || /[/\0\n\r]/.test(t.name) || names.has(t.name)) {
      throw new ValidationError(`invalid or repeated tree name '${t.name}'`, { field: 'trees' });
    }
    names.add(t.name);
    if (!path.isAbsolute(t.dir) || t.dir.includes('\0')) throw new ValidationError(`tree directory '${t.dir}' must be absolute`, { field: 'trees' });
  }
  if (!path.isAbsolute(request.viewDir)) throw new ValidationError(`view directory '${request.viewDir}' must be absolute`, { field: 'viewDir' });
}

interface TreesInput {
  ctx: ResticContext;
  settings: BackupSettings;
  request: BackupTreesRequest;
  options: ProgressOptions;
  resolveId: (shortId: string) => Promise<string>;
}

/** One restic backup run of `targets`; `undefined` when the wrapper's mounts failed (nothing was backed up). */
async function run(input: TreesInput, targets: string[], extra: Pick<RunSpec, 'cwd' | 'wrapper'>): Promise<Awaited<ReturnType<typeof finishBackup>> | undefined> {
  const { ctx, request, options } = input;
  const collector = new BackupCollector(options.onProgress);
  const spec: RunSpec = {
    operation: 'backup',
    args: [...commonArgs(request, input.settings), ...targets],
    onStdoutLine: collector.line,
    okExitCodes: extra.wrapper ? [0, 3, MOUNT_FAILED] : [0, 3],
    errorContext: { paths: request.trees.map((t) => t.dir) },
    ...(options.signal ? { signal: options.signal } : {}),
    ...extra,
  };
  const startedMs = Date.now();
  const result = await settle(ctx, spec, await startRestic(ctx, spec));
  if (extra.wrapper && result.exitCode === MOUNT_FAILED) {
    ctx.logger.warn({ stderr: result.stderr.slice(-500) }, 'private bind mounts failed: trees are backed up at their own paths');
    return undefined;
  }
  return finishBackup({ ...input, collector, result, requested: targets, onProgress: options.onProgress, startedMs });
}

/** See the module comment. */
export async function backupTrees(input: TreesInput): Promise<TreesSummary> {
  const { request } = input;
  checkTrees(request);
  if (await canMountPrivately()) {
    const pairs: string[] = [];
    for (const t of request.trees) {
      const point = path.join(request.viewDir, t.name);
      await mkdir(point, { recursive: true, mode: 0o700 });
      pairs.push(t.dir, point);
    }
    const wrapper = [UNSHARE, '--mount', '--propagation', 'private', 'sh', '-c', MOUNT_SCRIPT, 'ffk-view', String(request.trees.length), ...pairs];
    const names = request.trees.map((t) => t.name);
    const named = await run(input, names, { cwd: request.viewDir, wrapper });
    if (named) return { ...named, layout: 'named', paths: Object.fromEntries(names.map((n) => [n, `/${n}`])) };
    privateMounts = Promise.resolve(false);
  }
  const direct = await run(input, request.trees.map((t) => t.dir), {});
  if (!direct) throw new ValidationError('unreachable: a direct backup has no wrapper', { field: 'trees' });
  return { ...direct, layout: 'direct', paths: Object.fromEntries(request.trees.map((t) => [t.name, t.dir])) };
}
