/**
 * Reading data back: `restic restore` into a directory and `restic dump` of one file as a stream.
 *
 * restic 0.14 reports no restore progress at all (no `--json` for restore), so we measure it ourselves:
 * totals come from the caller when it knows them (`RestoreRequest.expected`: one restic run, and whether
 * every include path exists is seen in the target afterwards), else from `restic ls --json` (which also
 * tells us, before writing anything, whether every include path exists); while restic runs we poll the
 * target directory. restic 0.14 preallocates each file when it creates it, so the polled byte count
 * advances file by file, not byte by byte.
 */
import { lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { SnapshotPathNotFoundError } from './errors.js';
import type { DumpRequest, OperationOptions, ProgressOptions, RestoreRequest, RestoreSummary } from './repository.js';
import { parseJsonObject } from './restic-json.js';
import { runRestic, settle, startRestic, stdoutOf, type ResticContext } from './restic-run.js';
import { checkSnapshotId, checkSnapshotPath, escapePattern, isWithin } from './restic-validate.js';

interface Totals {
  files: number;
  bytes: number;
  unmatched: string[];
}

/** Sums the files of a snapshot below `includes` (all when empty) and lists includes that match nothing. */
async function snapshotTotals(ctx: ResticContext, id: string, includes: string[], signal?: AbortSignal): Promise<Totals> {
  const totals: Totals = { files: 0, bytes: 0, unmatched: [] };
  const matched = new Set<string>();
  const onLine = (line: string): void => {
    const node = parseJsonObject(line);
    if (node?.struct_type !== 'node' || typeof node.path !== 'string') return;
    const roots = includes.length === 0 ? ['/'] : includes.filter((inc) => isWithin(node.path as string, inc));
    if (roots.length === 0) return;
    roots.forEach((r) => matched.add(r));
    if (node.type === 'file') {
      totals.files += 1;
      totals.bytes += typeof node.size === 'number' ? node.size : 0;
    }
  };
  await runRestic(ctx, {
    operation: 'restore',
    args: ['ls', '--json', id],
    onStdoutLine: onLine,
    errorContext: { snapshotId: id },
    ...(signal ? { signal } : {}),
  });
  totals.unmatched = includes.filter((inc) => !matched.has(inc));
  return totals;
}

/**
 * Files and bytes currently under `dir` (regular files only; symlinks are not followed). `stop()` true
 * ends the walk early (undefined then): a poll whose restore has finished need not read on.
 */
async function measureDir(dir: string, stop: () => boolean = () => false): Promise<{ files: number; bytes: number } | undefined> {
  const acc = { files: 0, bytes: 0 };
  const walk = async (d: string): Promise<boolean> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return true; // not created yet, or removed under us
    }
    for (const entry of entries) {
      if (stop()) return false;
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) {
        if (!(await walk(full))) return false;
      } else if (entry.isFile()) {
        acc.files += 1;
        acc.bytes += await lstat(full).then((s) => s.size, () => 0);
      }
    }
    return true;
  };
  return (await walk(dir)) ? acc : undefined;
}

/** Files and bytes under `dir`, the whole of it. */
async function countDir(dir: string): Promise<{ files: number; bytes: number }> {
  return (await measureDir(dir)) ?? { files: 0, bytes: 0 };
}

/** Files and bytes below each restored path of `target` (all of `target` without includes). */
async function measureRestored(target: string, includes: string[]): Promise<{ files: number; bytes: number }> {
  if (includes.length === 0) return countDir(target);
  const outer = includes.filter((inc) => !includes.some((other) => other !== inc && isWithin(inc, other)));
  const acc = { files: 0, bytes: 0 };
  for (const inc of outer) {
    const where = path.join(target, inc);
    const st = await lstat(where).catch(() => undefined);
    const found = st?.isDirectory() ? await countDir(where) : { files: st?.isFile() ? 1 : 0, bytes: st?.isFile() ? st.size : 0 };
    acc.files += found.files;
    acc.bytes += found.bytes;
  }
  return acc;
}

/** Whether `target` holds the snapshot path `inc` (restored paths keep their full path below the target). */
function holds(target: string, inc: string): Promise<boolean> {
  return lstat(path.join(target, inc)).then(
    () => true,
    () => false,
  );
}

/** The first include path absent from `target` (restic restores nothing, silently, for one that matches nothing). */
async function firstAbsent(target: string, includes: string[]): Promise<string | undefined> {
  for (const inc of includes) if (!(await holds(target, inc))) return inc;
  return undefined;
}

async function anyPresent(target: string, includes: string[]): Promise<boolean> {
  for (const inc of includes) if (await holds(target, inc)) return true;
  return false;
}

/**
 * The progress totals, and whether the include paths are left to check after the restore: the caller's
 * `expected` when the target holds none of the include paths yet (so their presence afterwards proves
 * the snapshot had them), else a listing that checks them first.
 */
async function totalsBefore(ctx: ResticContext, id: string, includes: string[], request: RestoreRequest & { target: string; signal?: AbortSignal }): Promise<{ totals: Totals; checkAfter: boolean }> {
  const { expected, target } = request;
  if (expected !== undefined && !(await anyPresent(target, includes))) {
    return { totals: { files: expected.files, bytes: expected.bytes, unmatched: [] }, checkAfter: true };
  }
  const totals = await snapshotTotals(ctx, id, includes, request.signal);
  const firstUnmatched = totals.unmatched[0];
  if (firstUnmatched !== undefined) throw new SnapshotPathNotFoundError({ url: ctx.url.display, snapshotId: id, path: firstUnmatched });
  return { totals, checkAfter: false };
}

/**
 * A poll walks the whole target, and on a big tree the walk is itself work: the next one waits this
 * many times as long as the last took, so the polls take at most 1/(1 + this) of the restore's time.
 * With a walk after every interval, a million-file restore (bench uploads-many) spent most of a core
 * walking the staging directory beside restic: the agent's stage took 117 s where `restic restore`
 * alone took 70 s.
 */
const POLL_PAUSE_PER_WALK = 9;

/**
 * Polls the target directory and reports progress, capped at the totals: every `intervalMs`, or less
 * often when a walk takes long (POLL_PAUSE_PER_WALK). The returned function stops it, a walk under way too.
 */
function startPolling(target: string, totals: Totals, intervalMs: number, options: ProgressOptions): () => void {
  const onProgress = options.onProgress;
  if (!onProgress) return () => undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async (): Promise<void> => {
    const started = Date.now();
    const now = await measureDir(target, () => stopped);
    if (stopped || !now) return;
    onProgress({
      kind: 'progress',
      bytesDone: Math.min(now.bytes, totals.bytes),
      bytesTotal: totals.bytes,
      filesDone: Math.min(now.files, totals.files),
      filesTotal: totals.files,
    });
    timer = setTimeout(() => void poll(), Math.max(intervalMs, POLL_PAUSE_PER_WALK * (Date.now() - started)));
  };
  timer = setTimeout(() => void poll(), intervalMs);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Restores a snapshot (or the include paths of it) below `targetDir`. */
export async function restore(input: {
  ctx: ResticContext;
  request: RestoreRequest;
  options: ProgressOptions;
  pollIntervalMs: number;
}): Promise<RestoreSummary> {
  const { ctx, request, options } = input;
  const id = checkSnapshotId(request.snapshotId);
  const includes = (request.includePaths ?? []).map((p) => checkSnapshotPath(p, 'includePaths'));
  const target = path.resolve(request.targetDir);
  const started = Date.now();
  const { totals, checkAfter } = await totalsBefore(ctx, id, includes, { ...request, target, ...(options.signal ? { signal: options.signal } : {}) });
  options.onProgress?.({ kind: 'progress', bytesDone: 0, bytesTotal: totals.bytes, filesDone: 0, filesTotal: totals.files });
  await mkdir(target, { recursive: true });
  const args = ['restore', id, '--target', target];
  for (const inc of includes) args.push('--include', escapePattern(inc));
  const stop = startPolling(target, totals, input.pollIntervalMs, options);
  try {
    await runRestic(ctx, {
      operation: 'restore',
      args,
      errorContext: { snapshotId: id },
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    stop();
  }
  let written: { files: number; bytes: number } = totals;
  if (checkAfter) {
    const absent = await firstAbsent(target, includes);
    if (absent !== undefined) throw new SnapshotPathNotFoundError({ url: ctx.url.display, snapshotId: id, path: absent });
    written = await measureRestored(target, includes);
  }
  const done = { bytesDone: written.bytes, bytesTotal: written.bytes, filesDone: written.files, filesTotal: written.files };
  options.onProgress?.({ kind: 'progress', ...done, etaSeconds: 0 });
  return {
    snapshotId: id,
    targetDir: target,
    filesRestored: written.files,
    bytesRestored: written.bytes,
    durationSeconds: (Date.now() - started) / 1000,
  };
}

/** Streams one file of a snapshot; the stream ends only after restic exited successfully. */
export function dump(ctx: ResticContext, request: DumpRequest, options: OperationOptions): Readable {
  const id = checkSnapshotId(request.snapshotId);
  const filePath = checkSnapshotPath(request.path);
  const out = new PassThrough();
  const spec = {
    operation: 'dump',
    args: ['dump', id, filePath],
    rawStdout: true,
    errorContext: { snapshotId: id, path: filePath },
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const subprocess = startRestic(ctx, spec);
  let finished = false;
  stdoutOf(subprocess).pipe(out, { end: false });
  out.once('close', () => {
    if (!finished) subprocess.kill('SIGINT'); // the reader went away: stop restic instead of blocking it
  });
  subprocess
    .then((result) => {
      finished = true;
      return settle(ctx, spec, result);
    })
    .then(
      () => out.end(),
      (err: unknown) => {
        finished = true;
        out.destroy(err instanceof Error ? err : new Error(String(err)));
      },
    );
  return out;
}
