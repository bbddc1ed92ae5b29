/**
 * `restic backup` in its two shapes: a list of files (passed through a NUL-separated temp list file,
 * `--files-from-raw`, so names with spaces, newlines or any UTF-8 survive) and a stream piped into
 * `--stdin` (no temp file; the snapshot is committed only when the source ended cleanly and
 * `sourceComplete` resolved). Progress lines become typed events. The snapshot's full id comes from the
 * backup's own summary and restic's files (restic-snapshot-id.ts); only when they cannot tell it does a
 * second run list snapshots.
 */
import type { ResultPromise } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CancelledError, IllegalStateError, ValidationError } from '../errors.js';
import { BackupSourceFailedError, RepositoryCommandError, RepositoryDataDamagedError } from './errors.js';
import type {
  BackupCommon,
  BackupFilesRequest,
  BackupStreamHead,
  BackupStreamRequest,
  BackupSummary,
  OpenedBackupStream,
  ProgressItemError,
  ProgressOptions,
} from './repository.js';
import { redact } from './restic-errors.js';
import { parseBackupLine, type ResticBackupSummary } from './restic-json.js';
import { cancelWhenIdle, interruptOn, parentDeathGuard, settle, startRestic, stdinOf, type ResticContext, type RunResult, type RunSpec } from './restic-run.js';
import { savedSnapshotId } from './restic-snapshot-id.js';
import { checkSnapshotId, checkTags } from './restic-validate.js';

/** Backup settings of the adapter that are not per call. */
export interface BackupSettings {
  compression: 'auto' | 'max' | 'off';
  tmpDir: string | undefined;
}

export function commonArgs(request: BackupCommon, settings: BackupSettings): string[] {
  const args = ['backup', '--json', '--compression', settings.compression];
  for (const tag of checkTags(request.tags ?? [])) args.push('--tag', tag);
  if (request.host !== undefined) {
    if (!/^[^\s,]+$/.test(request.host)) throw new ValidationError(`invalid backup host '${request.host}'`, { field: 'host' });
    args.push('--host', request.host);
  }
  if (request.parentId !== undefined) args.push('--parent', checkSnapshotId(request.parentId, 'parentId'));
  return args;
}

/** Collects what restic reports while a backup runs and forwards it to the progress callback. */
export class BackupCollector {
  summary: ResticBackupSummary | undefined;
  readonly itemErrors: ProgressItemError[] = [];

  constructor(private readonly onProgress: ProgressOptions['onProgress']) {}

  readonly line = (line: string): void => {
    const parsed = parseBackupLine(line);
    if (parsed.type === 'progress') this.onProgress?.(parsed.event);
    else if (parsed.type === 'error') {
      this.itemErrors.push(parsed.event);
      this.onProgress?.(parsed.event);
    } else if (parsed.type === 'summary') this.summary = parsed.summary;
  };
}

/** Paths restic 0.14 skipped with "<path> does not exist, skipping" (matched against what we asked for). */
function missingPaths(stderr: string, requested: readonly string[]): string[] {
  return requested.filter((p) => stderr.includes(`${p} does not exist, skipping\n`));
}

export interface FinishInput {
  ctx: ResticContext;
  collector: BackupCollector;
  result: RunResult;
  requested: readonly string[];
  onProgress: ProgressOptions['onProgress'];
  resolveId: (shortId: string) => Promise<string>;
  /** When restic was started (Date.now()): the snapshot file it saved is no older. */
  startedMs: number;
}

/** The full id of the saved snapshot: from restic's own files when they tell it, else by listing. */
async function fullId(input: FinishInput, reported: string): Promise<string> {
  return (await savedSnapshotId(input.ctx, reported, input.startedMs)) ?? (await input.resolveId(reported));
}

export async function finishBackup(input: FinishInput): Promise<BackupSummary> {
  const { collector, result } = input;
  const raw = collector.summary;
  if (raw === undefined || raw.shortSnapshotId === '') {
    throw new RepositoryCommandError({
      url: input.ctx.url.display,
      operation: 'backup',
      exitCode: result.exitCode,
      stderrTail: 'restic reported no snapshot',
    });
  }
  const missing = missingPaths(result.stderr, input.requested);
  for (const p of missing) input.onProgress?.({ kind: 'error', path: p, message: 'does not exist (vanished before it was read)' });
  const { shortSnapshotId, ...counts } = raw;
  const summary: BackupSummary = {
    ...counts,
    snapshotId: await fullId(input, shortSnapshotId),
    complete: result.exitCode === 0 && missing.length === 0 && collector.itemErrors.length === 0,
    itemErrors: collector.itemErrors.map(({ path: p, message }) => ({ path: p, message })),
    missingPaths: missing,
  };
  // restic does not always print a final 100% status line; close the progress stream from the summary.
  const { totalBytesProcessed: bytes, totalFilesProcessed: files } = summary;
  input.onProgress?.({ kind: 'progress', bytesDone: bytes, bytesTotal: bytes, filesDone: files, filesTotal: files, etaSeconds: 0 });
  input.onProgress?.({ kind: 'summary', summary });
  return summary;
}

function checkPaths(paths: readonly string[], cwd: string | undefined): void {
  if (paths.length === 0) throw new ValidationError('backup needs at least one path', { field: 'paths' });
  for (const p of paths) {
    if (p.length === 0 || p.includes('\0')) throw new ValidationError(`invalid backup path '${p}'`, { field: 'paths' });
    if (!path.isAbsolute(p) && cwd === undefined) {
      throw new ValidationError(`relative backup path '${p}' needs a cwd`, { field: 'paths' });
    }
  }
}

/**
 * Runs of a files backup when restic, loading the repository's index as a backup starts, finds an index
 * file that does not match its id. On a backend that writes files in place rather than by rename (rclone
 * serve restic before 1.63 — Debian 12 ships 1.60 —, some SFTP servers) that is most often an index file
 * another process is still writing: another component's upload of the same cut, into the same
 * repository. The backup is run again after a pause (nothing was read from the source yet); an index that
 * stays damaged fails the last run, as damage.
 */
export const INDEX_LOAD_RUNS = 3;
const INDEX_LOAD_PAUSE_MS = 1_000;

/** Whether a backup failed loading an index file that did not match its id (see INDEX_LOAD_RUNS). */
export function isIndexLoadDamage(err: unknown): boolean {
  return err instanceof RepositoryDataDamagedError && /^load <index\//.test(err.detail);
}

/** Runs `restic backup --files-from-raw <temp list>`; the temp list is removed whatever happens. */
export async function backupFiles(input: {
  ctx: ResticContext;
  settings: BackupSettings;
  request: BackupFilesRequest;
  options: ProgressOptions;
  resolveId: (shortId: string) => Promise<string>;
}): Promise<BackupSummary> {
  const { ctx, request, options } = input;
  checkPaths(request.paths, request.cwd);
  const args = commonArgs(request, input.settings);
  for (const pattern of request.excludes ?? []) args.push('--exclude', pattern);
  const listDir = await mkdtemp(path.join(input.settings.tmpDir ?? os.tmpdir(), 'ffk-restic-list-'));
  try {
    const listFile = path.join(listDir, 'paths');
    await writeFile(listFile, request.paths.map((p) => `${p}\0`).join(''), { mode: 0o600 });
    args.push('--files-from-raw', listFile);
    for (let run = 1; ; run++) {
      const collector = new BackupCollector(options.onProgress);
      const spec = {
        operation: 'backup',
        args,
        onStdoutLine: collector.line,
        okExitCodes: [0, 3],
        errorContext: { paths: request.paths },
        ...(options.signal ? { signal: options.signal } : {}),
        ...(request.cwd !== undefined ? { cwd: request.cwd } : {}),
      };
      const startedMs = Date.now();
      let result: RunResult;
      try {
        result = await settle(ctx, spec, await startRestic(ctx, spec));
      } catch (err) {
        if (run >= INDEX_LOAD_RUNS || !isIndexLoadDamage(err) || options.signal?.aborted) throw err;
        await new Promise((r) => setTimeout(r, INDEX_LOAD_PAUSE_MS * run));
        continue;
      }
      return await finishBackup({ ...input, collector, result, requested: request.paths, onProgress: options.onProgress, startedMs });
    }
  } finally {
    await rm(listDir, { recursive: true, force: true });
  }
}

function checkFilename(filename: string): void {
  if (filename.length === 0 || filename === '.' || filename === '..' || /[/\0\n\r]/.test(filename)) {
    throw new ValidationError(`invalid stream file name '${filename}': one plain file name expected`, {
      field: 'filename',
    });
  }
}

/**
 * Pipes the source into restic's stdin and ends stdin only once the source ended and `sourceComplete`
 * resolved. On a source error (or a rejected `sourceComplete`) restic is interrupted BEFORE stdin
 * closes, so it cannot commit a truncated snapshot. Returns a getter of that failure, if any.
 */
function feedSource(subprocess: ResultPromise, request: Pick<BackupStreamRequest, 'stream' | 'sourceComplete'>): () => unknown {
  const stdin = stdinOf(subprocess);
  const source = request.stream;
  let failure: unknown;
  const abandon = (err: unknown): void => {
    if (failure !== undefined) return;
    failure = err ?? new Error('source failed');
    subprocess.kill('SIGINT');
  };
  source.once('error', abandon);
  source.once('end', () => {
    Promise.resolve()
      .then(() => request.sourceComplete?.())
      .then(() => {
        if (failure === undefined) stdin.end();
      }, abandon);
  });
  stdin.on('error', () => undefined); // EPIPE when restic exits early; its exit code tells why
  source.pipe(stdin, { end: false });
  return () => failure;
}

/** The part of a stream backup's input that is the same whether restic starts now or was opened ahead. */
interface StreamInput {
  ctx: ResticContext;
  settings: BackupSettings;
  resolveId: (shortId: string) => Promise<string>;
}

function streamSpec(input: StreamInput, head: BackupStreamHead, line: (line: string) => void, extra: string[] = []): RunSpec {
  checkFilename(head.filename);
  return {
    operation: 'backup',
    args: [...commonArgs(head, input.settings), '--stdin', '--stdin-filename', head.filename, ...extra],
    stdin: 'pipe',
    onStdoutLine: line,
  };
}

/**
 * Feeds a started `restic backup --stdin` and commits: see `feedSource`. `cancelled` tells whether the
 * caller's signal stopped it (a subprocess opened ahead was not started with that signal).
 */
async function feedAndFinish(
  input: StreamInput & { spec: RunSpec; subprocess: ResultPromise; collector: BackupCollector; startedMs: number; onProgress: ProgressOptions['onProgress'] },
  source: Pick<BackupStreamRequest, 'stream' | 'sourceComplete' | 'filename'>,
  cancelled: () => boolean = () => false,
): Promise<BackupSummary> {
  const { ctx, spec, subprocess } = input;
  const sourceFailure = feedSource(subprocess, source);
  const settled = await subprocess;
  source.stream.unpipe();
  const failure = sourceFailure();
  if (failure !== undefined) {
    await settle(ctx, spec, settled).catch(() => undefined); // removes a lock the interrupted run may leave
    throw new BackupSourceFailedError({ url: ctx.url.display, filename: source.filename, cause: failure });
  }
  try {
    const result = await settle(ctx, spec, settled).catch((err: unknown) => {
      if (cancelled()) throw new CancelledError(`${spec.operation} on repository ${ctx.url.display} was cancelled`);
      throw err;
    });
    return await finishBackup({ ...input, result, requested: [], startedMs: input.startedMs });
  } catch (err) {
    source.stream.destroy(); // nobody will read it any more; let the producer see EPIPE rather than hang
    throw err;
  }
}

/** Runs `restic backup --stdin`, fed from the request's stream; see `BackupStreamRequest`. */
export async function backupStream(input: StreamInput & { request: BackupStreamRequest; options: ProgressOptions }): Promise<BackupSummary> {
  const { ctx, request, options } = input;
  const collector = new BackupCollector(options.onProgress);
  const spec = { ...streamSpec(input, request, collector.line), ...(options.signal ? { signal: options.signal } : {}) };
  const startedMs = Date.now();
  const subprocess = startRestic(ctx, spec);
  return feedAndFinish({ ...input, spec, subprocess, collector, startedMs, onProgress: options.onProgress }, request);
}

/** How long a stream backup opened ahead waits for its data before it cancels itself (default). */
export const OPENED_STREAM_IDLE_MS = 10 * 60_000;

/**
 * `restic backup --stdin` started ahead of its data (see `OpenedBackupStream`). With `--verbose`, restic
 * 0.14 prints its first line (the scan of its one stdin file finished) only after it opened the
 * repository, locked it and loaded its index: that line is the sign it is open. Until the data comes
 * it reads nothing and holds a shared lock (refreshed by restic itself).
 */
export async function openStream(input: StreamInput & { head: BackupStreamHead; idleMs?: number }): Promise<OpenedBackupStream> {
  const { ctx, head } = input;
  let onProgress: ProgressOptions['onProgress'];
  const collector = new BackupCollector((event) => onProgress?.(event));
  let opened!: () => void;
  const open = new Promise<'open'>((resolve) => (opened = () => resolve('open')));
  const guard = await parentDeathGuard();
  const spec = {
    ...streamSpec(input, head, (line) => {
      opened();
      collector.line(line);
    }, ['--verbose']),
    ...(guard.length > 0 ? { wrapper: guard } : {}),
  };
  const startedMs = Date.now();
  const subprocess = startRestic(ctx, spec);
  let state: 'opening' | 'open' | 'written' | 'cancelled' | 'ended' = 'opening';
  const ended = (): boolean => state === 'ended';
  const exit = subprocess.then((r) => {
    if (state === 'open') {
      clearTimeout(idle);
      const stderr = typeof r.stderr === 'string' ? r.stderr.slice(-300) : '';
      ctx.logger.warn({ filename: head.filename, exitCode: r.exitCode, stderr: redact(stderr, ctx.url.raw, ctx.url.display, ctx.secrets) }, 'a stream backup opened ahead ended before its data came; the upload starts a new one');
    }
    if (state === 'opening' || state === 'open') state = 'ended';
    return r;
  });
  if ((await Promise.race([open, exit.then(() => 'ended' as const)])) === 'ended') {
    await settle(ctx, spec, await exit); // throws the typed error (password, unreachable, …)
    throw new RepositoryCommandError({ url: ctx.url.display, operation: 'backup', stderrTail: 'restic ended before it was sent any data' });
  }
  if (!ended()) state = 'open'; // restic may have ended right after its first line
  const cancel = async (): Promise<void> => {
    if (state !== 'open') return;
    state = 'cancelled';
    clearTimeout(idle);
    subprocess.kill('SIGINT'); // before stdin closes: restic commits nothing
    await settle(ctx, spec, await exit).catch(() => undefined);
  };
  const idle = cancelWhenIdle(ctx.logger, input.idleMs ?? OPENED_STREAM_IDLE_MS, { filename: head.filename }, 'a stream backup opened ahead got no data in time: stopped', cancel);
  return {
    get usable() {
      return state === 'open';
    },
    async write(source, options = {}) {
      if (state !== 'open') throw new IllegalStateError(`the stream backup of '${head.filename}' opened ahead was ${state === 'ended' ? 'ended by restic' : state}`);
      state = 'written';
      clearTimeout(idle);
      onProgress = options.onProgress;
      const signal = options.signal;
      const unlisten = interruptOn(subprocess, signal);
      try {
        const fed = { ...input, spec, subprocess, collector, startedMs, onProgress };
        return await feedAndFinish(fed, { ...source, filename: head.filename }, () => signal?.aborted === true);
      } finally {
        unlisten();
      }
    },
    cancel,
  };
}
