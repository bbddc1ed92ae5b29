/**
 * The entry point of a bench case run as a script (`npx tsx bench/<case>.ts`): `main(argv, io)` with
 * stdout/stderr, and SIGINT/SIGTERM turned into an abort signal so the case stops after its current
 * run and still cleans up. A module imported by a test is not an entry point and runs nothing.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What a case's `main` gets besides its arguments. */
export interface MainIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Stops the bench after the current run (it still cleans up). */
  signal?: AbortSignal;
}

/** True when the module at `moduleUrl` (its `import.meta.url`) is the script node was started with. */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/**
 * Runs `main` with the process's arguments and streams; its result becomes the exit code. `step` names
 * what the case finishes before it stops on a signal (default 'run').
 */
export async function runAsScript(name: string, main: (argv: string[], io: MainIo) => Promise<number>, o: { step?: string } = {}): Promise<void> {
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stop.signal.aborted) return;
      process.stderr.write(`${name}: ${sig}: stopping after the current ${o.step ?? 'run'}, then cleaning up\n`);
      stop.abort();
    });
  }
  const io: MainIo = { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`), signal: stop.signal };
  process.exitCode = await main(process.argv.slice(2), io);
}
