/**
 * Runs the restic binary: builds its environment (the repository location and password travel ONLY
 * there, never in argv), applies the cache policy, streams stdout line by line when asked, stops it on
 * an AbortSignal with SIGINT (restic 0.14 removes its lock on SIGINT, not on SIGTERM), and turns a
 * failed exit into a typed error with secrets removed.
 */
import { execa, type ResultPromise } from 'execa';
import type { Readable, Writable } from 'node:stream';
import { CancelledError, InternalError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { classifyFailure, redact, type FailureContext } from './restic-errors.js';
import { RepositoryCommandError } from './errors.js';
import { LineSplitter } from './restic-json.js';
import type { ParsedRepositoryUrl } from './url.js';

/** Everything needed to start restic against one repository. */
export interface ResticContext {
  binary: string;
  url: ParsedRepositoryUrl;
  env: Record<string, string>;
  /** Global flags (cache policy) put before every command. */
  globalArgs: string[];
  /** restic's cache directory, when it keeps one (`--cache-dir`); absent with `--no-cache`. */
  cacheDir?: string;
  /** Strings that must never appear in messages or logs. */
  secrets: string[];
  logger: Logger;
}

/** Names of extra environment variables whose values are treated as secrets. */
const SECRET_ENV = /SECRET|PASSWORD|TOKEN|KEY|CREDENTIAL|AUTH/i;

/** Builds the child environment: the parent's minus any RESTIC_*, plus repository, password, extras. */
export function buildEnv(options: {
  url: string;
  password: string;
  extraEnv: Record<string, string>;
  progressFps: number;
}): { env: Record<string, string>; secrets: string[] } {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('RESTIC_')) env[key] = value;
  }
  const secrets = [options.password];
  for (const [key, value] of Object.entries(options.extraEnv)) {
    env[key] = value;
    if (SECRET_ENV.test(key) && value.length > 0) secrets.push(value);
  }
  env.RESTIC_REPOSITORY = options.url;
  env.RESTIC_PASSWORD = options.password;
  env.RESTIC_PROGRESS_FPS = String(options.progressFps);
  return { env, secrets };
}

/** One restic invocation. */
export interface RunSpec {
  /** Short name for messages and logs: 'backup', 'restore', … */
  operation: string;
  args: string[];
  signal?: AbortSignal;
  /** Receives each stdout line; stdout is then not buffered in the result. */
  onStdoutLine?: (line: string) => void;
  /** Receives raw stdout instead (dump); stdout is then not buffered. */
  rawStdout?: boolean;
  /** `'pipe'` to write to restic's stdin (stream backup). */
  stdin?: 'ignore' | 'pipe';
  /** Working directory (relative backup paths). */
  cwd?: string;
  /**
   * A command that runs restic (given as its trailing arguments: binary, then restic's argv), e.g.
   * `unshare … sh -c '…; exec "$@"'`. The environment is the same; secrets stay out of argv.
   */
  wrapper?: string[];
  /** Exit codes that are not failures (default [0]). */
  okExitCodes?: number[];
  /** Names for error messages (snapshot, path, backup paths). */
  errorContext?: Pick<FailureContext, 'snapshotId' | 'path' | 'paths'>;
}

/** What a successful (or tolerated) run produced. */
export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Starts restic; the caller awaits the returned subprocess and passes the result to `settle`. */
export function startRestic(ctx: ResticContext, spec: RunSpec): ResultPromise {
  const args = [...ctx.globalArgs, ...spec.args];
  ctx.logger.debug({ operation: spec.operation, args }, 'restic start');
  const streamed = spec.onStdoutLine !== undefined || spec.rawStdout === true;
  const [command, ...wrapped] = spec.wrapper !== undefined && spec.wrapper.length > 0 ? [...spec.wrapper, ctx.binary, ...args] : [ctx.binary, ...args];
  const subprocess = execa(command as string, wrapped, {
    env: ctx.env,
    extendEnv: false,
    stdin: spec.stdin ?? 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: !streamed, stderr: true },
    stripFinalNewline: false,
    reject: false,
    ...(spec.signal ? { cancelSignal: spec.signal } : {}),
    ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
    killSignal: 'SIGINT',
    forceKillAfterDelay: 15_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  const onLine = spec.onStdoutLine;
  if (onLine) {
    const splitter = new LineSplitter();
    stdoutOf(subprocess).on('data', (chunk: Buffer) => splitter.push(chunk).forEach(onLine));
    stdoutOf(subprocess).on('end', () => splitter.flush().forEach(onLine));
  }
  return subprocess;
}

let deathGuard: Promise<string[]> | undefined;

/**
 * The command (a `RunSpec.wrapper`, or its tail) that makes restic get SIGKILL when this process dies:
 * `setpriv --pdeathsig KILL`. For a restic started ahead of its work, waiting on input from this process
 * (a stream backup's stdin, a tree backup's FIFO): this process's death ends that input, which restic
 * would take as the go-ahead and store a snapshot of nothing, or of trees of a cut long given up. The
 * kernel sends the signal right after it closed the dead process's files, before restic can have stored
 * anything; SIGINT would not do (restic's clean exit on SIGINT takes longer than a small backup). Its
 * lock is left behind, stale: `restic unlock` removes it (maintenance does). Empty where setpriv cannot
 * do it (asked once per process lifetime).
 */
export function parentDeathGuard(): Promise<string[]> {
  const guard = ['setpriv', '--pdeathsig', 'KILL'];
  deathGuard ??= execa(guard[0] as string, [...guard.slice(1), 'true'], { reject: false, stdin: 'ignore' }).then(
    (r) => (r.exitCode === 0 ? guard : []),
    () => [],
  );
  return deathGuard;
}

/**
 * Stops a started restic with SIGINT (it removes its lock then) when `signal` aborts, at once if it has;
 * returns what removes the listener. For a restic started ahead of its work, without the work's signal.
 */
export function interruptOn(subprocess: ResultPromise, signal: AbortSignal | undefined): () => void {
  const stop = (): void => void subprocess.kill('SIGINT');
  signal?.addEventListener('abort', stop, { once: true });
  if (signal?.aborted) stop();
  return () => signal?.removeEventListener('abort', stop);
}

/**
 * Cancels a restic started ahead that nobody used within `idleMs` (its lock would keep prune out),
 * logging `message`; unref'd, so it keeps no process alive. Clear it once the run is used.
 */
export function cancelWhenIdle(logger: Logger, idleMs: number, fields: Record<string, unknown>, message: string, cancel: () => Promise<void>): NodeJS.Timeout {
  const idle = setTimeout(() => {
    logger.warn({ ...fields, idleMs }, message);
    void cancel();
  }, idleMs);
  idle.unref();
  return idle;
}

/** The subprocess's stdin (started with `stdin: 'pipe'`). */
export function stdinOf(subprocess: ResultPromise): Writable {
  if (subprocess.stdin === null) throw new InternalError('restic was started without a stdin pipe');
  return subprocess.stdin;
}

/** The subprocess's stdout (always piped by `startRestic`). */
export function stdoutOf(subprocess: ResultPromise): Readable {
  if (subprocess.stdout === null) throw new InternalError('restic was started without a stdout pipe');
  return subprocess.stdout;
}

/** The subset of execa's result `settleRun` looks at. */
export interface SettledSubprocess {
  exitCode?: number | undefined;
  isCanceled: boolean;
  isTerminated: boolean;
  failed: boolean;
  stdout?: unknown;
  stderr?: unknown;
  originalMessage?: string | undefined;
}

/** Checks a finished run: returns it when its exit code is tolerated, else throws the typed error. */
function settleRun(ctx: ResticContext, spec: RunSpec, result: SettledSubprocess): RunResult {
  const stderr = typeof result.stderr === 'string' ? result.stderr : '';
  const stdout = typeof result.stdout === 'string' ? result.stdout : '';
  const exitCode = result.exitCode;
  ctx.logger.debug({ operation: spec.operation, exitCode }, 'restic end');
  if (result.isCanceled) {
    throw new CancelledError(`${spec.operation} on repository ${ctx.url.display} was cancelled`);
  }
  if (exitCode !== undefined && (spec.okExitCodes ?? [0]).includes(exitCode)) return { exitCode, stdout, stderr };
  if (exitCode === undefined) {
    const detail = redact(result.originalMessage ?? 'restic did not run', ctx.url.raw, ctx.url.display, ctx.secrets);
    throw new RepositoryCommandError({ url: ctx.url.display, operation: spec.operation, stderrTail: detail });
  }
  throw classifyFailure({
    url: ctx.url.display,
    rawUrl: ctx.url.raw,
    operation: spec.operation,
    secrets: ctx.secrets,
    exitCode,
    stderr,
    ...spec.errorContext,
  });
}

/**
 * Removes stale locks (`restic unlock` without `--remove-all`): locks of processes on this host that no
 * longer run, and locks older than 30 minutes. restic 0.14 does not ignore such locks when it takes an
 * exclusive lock, so one left behind blocks check, forget and prune until removed.
 */
export async function removeStaleLocks(ctx: ResticContext, signal?: AbortSignal): Promise<void> {
  await runRestic(ctx, { operation: 'unlock', args: ['unlock'], ...(signal ? { signal } : {}) });
}

/**
 * `settleRun` for a subprocess that may have been killed. restic 0.14 writes its lock file and only
 * registers it for removal ~200 ms later, so a SIGINT in that window leaves the lock behind: after any
 * killed run we remove stale locks (best effort) before reporting.
 */
export async function settle(ctx: ResticContext, spec: RunSpec, result: SettledSubprocess): Promise<RunResult> {
  // restic exits 130 after handling SIGINT itself, so it is not "terminated by a signal" for execa
  const killed = result.isCanceled || result.isTerminated || result.exitCode === 130;
  if (killed && spec.operation !== 'unlock') {
    await removeStaleLocks(ctx).catch((err: unknown) =>
      ctx.logger.warn({ operation: spec.operation, err: describeError(err) }, 'could not remove stale locks after a killed restic run'),
    );
  }
  return settleRun(ctx, spec, result);
}

/** Runs restic to completion and returns its output, or throws the typed error. */
export async function runRestic(ctx: ResticContext, spec: RunSpec): Promise<RunResult> {
  const result = await startRestic(ctx, spec);
  return settle(ctx, spec, result);
}
