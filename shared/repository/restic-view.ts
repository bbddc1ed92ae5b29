/**
 * `restic backup` of whole directories stored under fixed names (`BackupTreesRequest`), in one restic
 * process, each directory a bind mount made in a mount namespace of restic's own (`unshare --mount
 * --propagation private`): the mounts are invisible to every other process and vanish with restic. The
 * snapshot's tree is `/<name>/…`. Inodes, ctimes and the device are those of the directories themselves,
 * so restic's change detection works through the mounts. Two ways to get there (`named` layout both):
 *
 * - rooted (first choice): restic runs chrooted into `viewDir`, a skeleton on disk of mount points only
 *   (rootSkeleton), where its namespace holds each name's bind mount beside a recursive bind of every
 *   top-level entry of the host's `/` (so the repository, its cache, ssh, certificates and the gate FIFO
 *   are where they always are), and is given the absolute targets `/<name>`: the snapshot records
 *   `/<name>` as its paths. Not when a name is also a top-level entry of `/`.
 * - relative: restic runs in `viewDir`, each name a mount point there, with the names as relative
 *   targets (restic keeps them relative): the snapshot records `<viewDir>/<name>` as its paths. restic 0.14
 *   resolves every relative path it reads to an absolute one (Go's `os.Getwd`: two stats per file), ~10%
 *   slower than rooted on 200,000 unchanged files (9.0 s against 7.9–8.4 s, 3 runs each, interleaved).
 *
 * A rooted run whose namespace could not be set up falls back to relative, and that one to `direct`.
 * Parents carry across both ways (the same tree), so a snapshot made one way is the next one's parent.
 *
 * Private mounts need CAP_SYS_ADMIN (the agent runs as root on FindFace hosts). Without it, the
 * directories are backed up at their own absolute paths instead (`layout: 'direct'`: still one path per
 * tree, the tree under those paths); the summary says which, so a restore knows where to look.
 */
import { execa } from 'execa';
import { constants as fsConstants } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readlink, rm, rmdir, symlink, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CancelledError, IllegalStateError, InternalError, ValidationError, describeError } from '../errors.js';
import { RepositoryCommandError } from './errors.js';
import type { BackupTreesRequest, OpenedTreesBackup, ProgressOptions, TreesSummary } from './repository.js';
import { BackupCollector, OPENED_STREAM_IDLE_MS, commonArgs, finishBackup, type BackupSettings } from './restic-backup.js';
import { redact } from './restic-errors.js';
import { cancelWhenIdle, interruptOn, parentDeathGuard, settle, startRestic, type ResticContext, type RunSpec } from './restic-run.js';

const UNSHARE = 'unshare';
/** The wrapper's exit code when a bind mount failed (restic itself never exits with it). */
const MOUNT_FAILED = 97;
/** The rooted wrapper's exit code when its root (the binds of `/`) could not be made (restic never ran); a tree's own bind failing is MOUNT_FAILED, as for a relative run. */
const ROOT_FAILED = 98;
/** Mounts each `<dir> <mount point>` pair given after their count, then runs the rest of argv (restic). */
const MOUNT_SCRIPT = 'n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind "$1" "$2" || exit 97; shift 2; n=$((n - 1)); done; exec "$@"';
/**
 * `<viewDir> <root fstab> <trees fstab>`: mounts what the two fstab files list (the top-level entries of
 * `/`, recursively, then each tree at `/<name>`) onto the skeleton at viewDir (rootSkeleton: a mount point
 * for each), then runs the rest of argv chrooted into it. One `mount -a` per file: a `mount` per entry
 * (each reading the whole mount table again, which grows with every bind) cost ~60 ms of CPU a backup on a
 * fast 2-core machine, ~0.2 s on a slow one.
 */
const ROOTED_SCRIPT = [
  'command -v chroot >/dev/null || exit 98',
  'v=$1',
  'mount -a -T "$2" || exit 98',
  'mount -a -T "$3" || exit 97',
  'shift 3',
  'exec chroot "$v" "$@"',
].join('\n');

/** A path as an fstab field: space, tab, newline and backslash octal-escaped (libmount reads them back). */
function fstabField(p: string): string {
  return p.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/**
 * Makes viewDir the skeleton of a rooted run's root, on disk (mount points only; the mounts are made in
 * restic's namespace): a directory for each top-level directory of `/` and each tree name, an empty file
 * for each other entry, each symlink copied. What an earlier run left that is no longer wanted (an empty
 * mount point, a symlink or an empty file) is removed. Returns the two fstab files' contents.
 */
async function rootSkeleton(request: BackupTreesRequest): Promise<{ root: string; trees: string }> {
  const v = request.viewDir;
  await mkdir(v, { recursive: true, mode: 0o700 });
  const have = new Map((await readdir(v, { withFileTypes: true })).map((d) => [d.name, d] as const));
  const wanted = new Set<string>();
  const root: string[] = [];
  for (const e of await readdir('/', { withFileTypes: true })) {
    const at = path.join(v, e.name);
    const source = path.join('/', e.name);
    wanted.add(e.name);
    const present = have.get(e.name);
    const clear = async (): Promise<void> => {
      if (present) await (present.isDirectory() ? rmdir(at) : rm(at));
    };
    if (e.isSymbolicLink()) {
      const target = await readlink(source);
      if (present?.isSymbolicLink() && (await readlink(at)) === target) continue;
      await clear();
      await symlink(target, at);
      continue;
    }
    if (e.isDirectory()) {
      if (present && !present.isDirectory()) await clear();
      await mkdir(at, { recursive: true, mode: 0o755 });
    } else if (!present || present.isDirectory() || present.isSymbolicLink()) {
      await clear();
      await writeFile(at, '', { mode: 0o600 });
    }
    root.push(`${fstabField(source)} ${fstabField(at)} none ${e.isDirectory() ? 'rbind' : 'bind'} 0 0`);
  }
  const trees: string[] = [];
  for (const t of request.trees) {
    wanted.add(t.name);
    const at = path.join(v, t.name);
    await mkdir(at, { recursive: true, mode: 0o700 });
    trees.push(`${fstabField(t.dir)} ${fstabField(at)} none bind 0 0`);
  }
  for (const [name, d] of have) {
    if (wanted.has(name)) continue;
    const at = path.join(v, name);
    // Only what a skeleton holds (rmdir: an empty directory); a file is one of its empty ones.
    await (d.isDirectory() ? rmdir(at) : rm(at)).catch(() => undefined);
  }
  return { root: `${root.join('\n')}\n`, trees: `${trees.join('\n')}\n` };
}

let fstabCounter = 0;
/** A new name beside viewDir for one run's fstab file (the placement's cleanup removes it). */
function fstabFile(viewDir: string, kind: 'root' | 'trees'): string {
  return `${viewDir}.${process.pid}-${(fstabCounter += 1)}.${kind}.fstab`;
}

let privateMounts: Promise<boolean> | undefined;
/** False once a rooted run could not make its root (asked again after a restart). */
let rootedWorks = true;

/** Whether this process may make private mounts (asked once per process lifetime). */
function canMountPrivately(): Promise<boolean> {
  privateMounts ??= execa(UNSHARE, ['--mount', '--propagation', 'private', 'true'], { reject: false, stdin: 'ignore' }).then(
    (r) => r.exitCode === 0,
    () => false,
  );
  return privateMounts;
}

/** Forgets whether private mounts and rooted runs work (tests: a refused mount must not decide for the next test). */
export function forgetMountCheck(): void {
  privateMounts = undefined;
  rootedWorks = true;
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

/** Where restic finds the trees: by name under private mounts (`named`: rooted or relative), or at their own paths (`direct`). */
interface Placement {
  mode: 'rooted' | 'relative' | 'direct';
  layout: 'named' | 'direct';
  targets: string[];
  extra: Pick<RunSpec, 'cwd' | 'wrapper'>;
  paths: Record<string, string>;
  /** Removes what the placement wrote for its run (a rooted run's fstab files), once its mounts are made. */
  cleanup?: () => Promise<void>;
}

/** Whether a rooted run can hold the names: none of them may be a top-level entry of `/` it binds too. */
async function rootable(request: BackupTreesRequest): Promise<boolean> {
  if (!rootedWorks) return false;
  const top = new Set(await readdir('/').catch(() => [] as string[]));
  return top.size > 0 && request.trees.every((t) => !top.has(t.name));
}

async function placement(request: BackupTreesRequest, mode: Placement['mode']): Promise<Placement> {
  if (mode === 'direct') {
    return { mode, layout: 'direct', targets: request.trees.map((t) => t.dir), extra: {}, paths: Object.fromEntries(request.trees.map((t) => [t.name, t.dir])) };
  }
  const names = request.trees.map((t) => t.name);
  const paths = Object.fromEntries(names.map((n) => [n, `/${n}`]));
  if (mode === 'rooted') {
    const fstab = await rootSkeleton(request);
    const files = [fstabFile(request.viewDir, 'root'), fstabFile(request.viewDir, 'trees')];
    const cleanup = (): Promise<void> => Promise.all(files.map((f) => rm(f, { force: true }))).then(() => undefined);
    await Promise.all([writeFile(files[0] as string, fstab.root, { mode: 0o600 }), writeFile(files[1] as string, fstab.trees, { mode: 0o600 })]).catch(async (err: unknown) => {
      await cleanup();
      throw err;
    });
    const wrapper = [UNSHARE, '--mount', '--propagation', 'private', 'sh', '-c', ROOTED_SCRIPT, 'ffk-view', request.viewDir, ...files];
    return { mode, layout: 'named', targets: names.map((n) => `/${n}`), extra: { wrapper }, paths, cleanup };
  }
  await mkdir(request.viewDir, { recursive: true, mode: 0o700 });
  const pairs: string[] = [];
  for (const t of request.trees) {
    const point = path.join(request.viewDir, t.name);
    await mkdir(point, { recursive: true, mode: 0o700 });
    pairs.push(t.dir, point);
  }
  return {
    mode,
    layout: 'named',
    targets: names,
    extra: { cwd: request.viewDir, wrapper: [UNSHARE, '--mount', '--propagation', 'private', 'sh', '-c', MOUNT_SCRIPT, 'ffk-view', String(request.trees.length), ...pairs] },
    paths,
  };
}

function specOf(input: Omit<TreesInput, 'options'>, place: Placement, collector: BackupCollector, extraArgs: string[] = []): RunSpec {
  return {
    operation: 'backup',
    args: [...commonArgs(input.request, input.settings), ...extraArgs, ...place.targets],
    onStdoutLine: collector.line,
    okExitCodes: place.mode === 'rooted' ? [0, 3, MOUNT_FAILED, ROOT_FAILED] : place.mode === 'relative' ? [0, 3, MOUNT_FAILED] : [0, 3],
    errorContext: { paths: input.request.trees.map((t) => t.dir) },
    ...place.extra,
  };
}

/**
 * Whether restic never ran because its wrapper could not mount; the next placement is then tried: after a
 * root that could not be made, relative (and rooted runs not again); after a tree's bind that failed,
 * direct (and private mounts not again).
 */
function mountsFailed(ctx: ResticContext, place: Placement, result: { exitCode?: number | undefined; stderr?: unknown }): boolean {
  const stderr = typeof result.stderr === 'string' ? result.stderr.slice(-500) : '';
  if (place.mode === 'rooted' && result.exitCode === ROOT_FAILED) {
    ctx.logger.warn({ stderr }, 'a root of private mounts for restic could not be made: trees are named as relative targets');
    rootedWorks = false;
    return true;
  }
  if (place.mode === 'direct' || result.exitCode !== MOUNT_FAILED) return false;
  ctx.logger.warn({ stderr }, 'private bind mounts failed: trees are backed up at their own paths');
  privateMounts = Promise.resolve(false);
  return true;
}

/** One restic backup run of the trees; `undefined` when the wrapper's mounts failed (nothing was backed up). */
async function run(input: TreesInput, place: Placement): Promise<TreesSummary | undefined> {
  const { ctx, options } = input;
  const collector = new BackupCollector(options.onProgress);
  const spec: RunSpec = { ...specOf(input, place, collector), ...(options.signal ? { signal: options.signal } : {}) };
  const startedMs = Date.now();
  const result = await settle(ctx, spec, await startRestic(ctx, spec));
  if (mountsFailed(ctx, place, result)) return undefined;
  const summary = await finishBackup({ ...input, collector, result, requested: place.targets, onProgress: options.onProgress, startedMs });
  return { ...summary, layout: place.layout, paths: place.paths };
}

/**
 * `attempt` with the trees under their names (private mounts: rooted where it can be, else relative)
 * where this process may mount, else — or when the mounts failed (`attempt` gives `undefined`) — at
 * their own paths.
 */
async function namedElseDirect<T>(ctx: ResticContext, request: BackupTreesRequest, attempt: (place: Placement) => Promise<T | undefined>): Promise<T> {
  checkTrees(request);
  if ((await canMountPrivately()) && (await rootable(request))) {
    const place = await placement(request, 'rooted').catch((err: unknown) => {
      ctx.logger.warn({ err: describeError(err), viewDir: request.viewDir }, 'the skeleton of a root for restic could not be made: trees are named as relative targets');
      rootedWorks = false;
      return undefined;
    });
    // The fstab files are read by the wrapper's mounts, done once attempt returns (restic ended, or opened ahead).
    const rooted = place ? await attempt(place).finally(() => place.cleanup?.()) : undefined;
    if (rooted) return rooted;
  }
  if (await canMountPrivately()) {
    const named = await attempt(await placement(request, 'relative'));
    if (named) return named;
  }
  const direct = await attempt(await placement(request, 'direct'));
  if (!direct) throw new ValidationError('unreachable: a direct backup has no wrapper', { field: 'trees' });
  return direct;
}

/** See the module comment. */
export function backupTrees(input: TreesInput): Promise<TreesSummary> {
  return namedElseDirect(input.ctx, input.request, (place) => run(input, place));
}

/** How often a tree backup opened ahead is looked at while restic opens the repository. */
const GATE_POLL_MS = 5;

/**
 * The write end of `gate` (a FIFO) once restic opened it to read, or `undefined` when restic ended first.
 * A non-blocking open for writing fails with ENXIO until a reader has the FIFO open.
 */
async function gateWriter(gate: string, ended: () => boolean): Promise<FileHandle | undefined> {
  for (;;) {
    if (ended()) return undefined;
    try {
      return await open(gate, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
    }
    await new Promise((r) => setTimeout(r, GATE_POLL_MS));
  }
}

/**
 * `restic backup` of the trees started ahead of them (see `OpenedTreesBackup`). restic 0.14 reads its
 * exclude files right after it opened and locked the repository and before it looks at any target; the
 * exclude file here is a FIFO (the gate) that stays open for writing until `run`: restic waits in that
 * read, and its open of the FIFO is the sign that the repository is open. `run` closes the gate (an empty
 * exclude list); restic then finds its parent, loads the index and reads the trees as they are then.
 */
export function openTrees(input: Omit<TreesInput, 'options'> & { idleMs?: number }): Promise<OpenedTreesBackup> {
  return namedElseDirect(input.ctx, input.request, (place) => openWith(input, place));
}

async function openWith(input: Omit<TreesInput, 'options'> & { idleMs?: number }, place: Placement): Promise<OpenedTreesBackup | undefined> {
  const { ctx } = input;
  const gateDir = await mkdtemp(path.join(input.settings.tmpDir ?? os.tmpdir(), 'ffk-restic-gate-'));
  const removeGate = (): Promise<void> => rm(gateDir, { recursive: true, force: true }).catch(() => undefined);
  const gate = path.join(gateDir, 'excludes');
  try {
    await execa('mkfifo', ['-m', '600', gate], { stdin: 'ignore' });
  } catch (err) {
    await removeGate();
    throw new InternalError(`could not make the FIFO a tree backup waits on: ${describeError(err)}`, { cause: err });
  }
  let onProgress: ProgressOptions['onProgress'];
  const collector = new BackupCollector((event) => onProgress?.(event));
  const guarded = [...(place.extra.wrapper ?? []), ...(await parentDeathGuard())];
  const spec = { ...specOf(input, place, collector, ['--exclude-file', gate]), ...(guarded.length > 0 ? { wrapper: guarded } : {}) };
  const startedMs = Date.now();
  const subprocess = startRestic(ctx, spec);
  let state: 'opening' | 'open' | 'running' | 'cancelled' | 'ended' = 'opening';
  let writer: FileHandle | undefined;
  const exit = subprocess.then((r) => {
    if (state === 'open') {
      clearTimeout(idle);
      const stderr = typeof r.stderr === 'string' ? r.stderr.slice(-300) : '';
      ctx.logger.warn({ exitCode: r.exitCode, stderr: redact(stderr, ctx.url.raw, ctx.url.display, ctx.secrets) }, 'a tree backup opened ahead ended before it was run; the upload starts a new one');
      void writer?.close().catch(() => undefined);
      void removeGate();
    }
    if (state === 'opening' || state === 'open') state = 'ended';
    return r;
  });
  try {
    writer = await gateWriter(gate, () => state === 'ended');
  } catch (err) {
    subprocess.kill('SIGINT');
    await settle(ctx, spec, await exit).catch(() => undefined);
    await removeGate();
    throw new InternalError(`could not open the FIFO a tree backup waits on: ${describeError(err)}`, { cause: err });
  }
  if (!writer) {
    const result = await exit;
    await removeGate();
    if (mountsFailed(ctx, place, result)) return undefined;
    await settle(ctx, spec, result); // throws the typed error (password, unreachable, …)
    throw new RepositoryCommandError({ url: ctx.url.display, operation: 'backup', stderrTail: 'restic ended before it read its exclude list' });
  }
  // From here to the return nothing awaits: `exit`'s handler sees `idle` set whenever the state is open.
  const gateEnd = writer;
  if (state === 'opening') state = 'open';
  const cancel = async (): Promise<void> => {
    if (state !== 'open') return;
    state = 'cancelled';
    clearTimeout(idle);
    subprocess.kill('SIGINT'); // before the gate closes: restic reads no tree and commits nothing
    await settle(ctx, spec, await exit).catch(() => undefined);
    await gateEnd.close().catch(() => undefined);
    await removeGate();
  };
  const idle = cancelWhenIdle(ctx.logger, input.idleMs ?? OPENED_STREAM_IDLE_MS, {}, 'a tree backup opened ahead was not run in time: stopped', cancel);
  return {
    get usable() {
      return state === 'open';
    },
    async run(options = {}) {
      if (state !== 'open') throw new IllegalStateError(`the tree backup opened ahead was ${state === 'ended' ? 'ended by restic' : state}`);
      state = 'running';
      clearTimeout(idle);
      onProgress = options.onProgress;
      const signal = options.signal;
      const unlisten = interruptOn(subprocess, signal);
      try {
        await gateEnd.close(); // an empty exclude list: restic goes on
        const result = await settle(ctx, spec, await exit).catch((err: unknown) => {
          if (signal?.aborted) throw new CancelledError(`backup on repository ${ctx.url.display} was cancelled`);
          throw err;
        });
        const summary = await finishBackup({ ...input, collector, result, requested: place.targets, onProgress: options.onProgress, startedMs });
        return { ...summary, layout: place.layout, paths: place.paths };
      } finally {
        unlisten();
        await removeGate();
      }
    },
    cancel,
  };
}
