/**
 * `restic backup` of whole directories stored under fixed names (`BackupTreesRequest`), in one restic
 * process, each directory a bind mount made in a mount namespace of restic's own (`unshare --mount
 * --propagation private`): the mounts are invisible to every other process and vanish with restic. The
 * snapshot's tree is `/<name>/…`. Inodes, ctimes and the device are those of the directories themselves,
 * so restic's change detection works through the mounts. Two ways to get there (`named` layout both):
 *
 * - rooted (first choice): restic runs chrooted into a tmpfs mounted over `viewDir` in its namespace,
 *   holding each name's bind mount beside a recursive bind of every top-level entry of the host's `/` (so
 *   the repository, its cache, ssh, certificates and the gate FIFO are where they always are), and is given
 *   the absolute targets `/<name>`: the snapshot records `/<name>` as its paths. Not when a name is also a
 *   top-level entry of `/`.
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
import { mkdir, mkdtemp, open, readdir, rm, type FileHandle } from 'node:fs/promises';
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
/** The rooted wrapper's exit code when its root (tmpfs, binds of `/`) could not be made (restic never ran); a tree's own bind failing is MOUNT_FAILED, as for a relative run. */
const ROOT_FAILED = 98;
/** Mounts each `<dir> <mount point>` pair given after their count, then runs the rest of argv (restic). */
const MOUNT_SCRIPT = 'n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind "$1" "$2" || exit 97; shift 2; n=$((n - 1)); done; exec "$@"';
/**
 * `<viewDir> <count> <dir> <name>…`: a tmpfs over viewDir holding a recursive bind of each top-level entry
 * of `/` (symlinks copied) and each `<dir>` bound at `/<name>`, then the rest of argv chrooted into it.
 */
const ROOTED_SCRIPT = [
  'command -v chroot >/dev/null || exit 98',
  'v=$1; n=$2; shift 2',
  'mount -t tmpfs -o mode=0755 ffk-view "$v" || exit 98',
  'for e in /*; do b=${e#/}',
  '  if [ -L "$e" ]; then ln -s "$(readlink "$e")" "$v/$b" || exit 98',
  '  elif [ -d "$e" ]; then mkdir "$v/$b" && mount --rbind "$e" "$v/$b" || exit 98',
  '  elif [ -e "$e" ]; then : > "$v/$b" && mount --bind "$e" "$v/$b" || exit 98; fi',
  'done',
  'while [ "$n" -gt 0 ]; do mkdir "$v/$2" || exit 98; mount --bind "$1" "$v/$2" || exit 97; shift 2; n=$((n - 1)); done',
  'exec chroot "$v" "$@"',
].join('\n');

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
  await mkdir(request.viewDir, { recursive: true, mode: 0o700 });
  if (mode === 'rooted') {
    const pairs = request.trees.flatMap((t) => [t.dir, t.name]);
    const wrapper = [UNSHARE, '--mount', '--propagation', 'private', 'sh', '-c', ROOTED_SCRIPT, 'ffk-view', request.viewDir, String(request.trees.length), ...pairs];
    return { mode, layout: 'named', targets: names.map((n) => `/${n}`), extra: { wrapper }, paths };
  }
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
async function namedElseDirect<T>(request: BackupTreesRequest, attempt: (place: Placement) => Promise<T | undefined>): Promise<T> {
  checkTrees(request);
  if ((await canMountPrivately()) && (await rootable(request))) {
    const rooted = await attempt(await placement(request, 'rooted'));
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
  return namedElseDirect(input.request, (place) => run(input, place));
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
  return namedElseDirect(input.request, (place) => openWith(input, place));
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
