/** What every ffkeeper daemon's main does around its work: stop cleanly on a signal, fail in one line. */
import { describeError } from './errors.js';
import { exitCodeFor } from './exit-codes.js';
import type { Logger } from './logger.js';

/** Calls `stop` once on SIGTERM/SIGINT, then exits 0 (or 1 if stopping failed). */
export function stopOnSignals(stop: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/**
 * Names the process as `ps`, `top` and process accounting show it (`ffkeeper-agent --config …`, not one
 * `node` among many; the kernel's short name keeps the first 15 characters). The arguments stay visible.
 */
export function setProcessTitle(title: string): void {
  process.title = [title, ...process.argv.slice(2)].join(' ');
}

/** Runs a main; a failure prints `<program>: <message>` on stderr and exits with its documented code. */
export function runMain(program: string, main: () => Promise<void>): void {
  setProcessTitle(program);
  main().catch((err: unknown) => {
    process.stderr.write(`${program}: ${describeError(err)}\n`);
    process.exit(exitCodeFor(err));
  });
}

/** Whether process `pid` exists (one we may not signal counts: it exists). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** How long a daemon's start may stay in one stage before it says so (and again at each further interval). */
const SLOW_STAGE_MS = 10_000;

/** What a starting daemon is doing (startupProgress). */
export interface StartupProgress {
  /** The next stage begins (logged at debug). */
  stage(name: string): void;
  /** Started: no more reports. */
  done(): void;
}

/**
 * Reports a daemon's start: each stage at debug, and a warning naming the stage every `slowMs` while
 * one lasts (a NATS server that does not answer JetStream, say), so that a start that hangs is never a
 * silent process: its log says where it waits and for how long.
 */
export function startupProgress(logger: Logger, slowMs = SLOW_STAGE_MS): StartupProgress {
  let timer: NodeJS.Timeout | undefined;
  return {
    stage(name) {
      clearInterval(timer);
      const since = Date.now();
      logger.debug({ stage: name }, `starting: ${name}`);
      timer = setInterval(() => {
        const forMs = Date.now() - since;
        logger.warn({ stage: name, forMs }, `still starting: ${name} for ${Math.round(forMs / 1000)} s`);
      }, slowMs);
      timer.unref();
    },
    done: () => clearInterval(timer),
  };
}

/** `start(progress)` with its stages reported (startupProgress) until it has resolved or failed. */
export async function reportingStart<T>(logger: Logger, start: (progress: StartupProgress) => Promise<T>): Promise<T> {
  const progress = startupProgress(logger);
  try {
    return await start(progress);
  } finally {
    progress.done();
  }
}
