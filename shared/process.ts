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
