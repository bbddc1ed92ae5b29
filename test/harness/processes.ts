/**
 * Runs ffkeeper's own bins (built into dist/ by the global setup) as real processes, the way a user
 * starts them: agents and controllers that can be killed with SIGKILL, and the CLI as typed.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { nodeFlagsFor } from '../../deploy/node-flags.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The bins as shipped: bundled into dist/bin/ by scripts/bundle.mjs after tsc. */
export const BIN = {
  agent: path.join(REPO_ROOT, 'dist/bin/ffkeeper-agent.mjs'),
  controller: path.join(REPO_ROOT, 'dist/bin/ffkeeper-controller.mjs'),
  cli: path.join(REPO_ROOT, 'dist/bin/ffkeeper.mjs'),
};

export interface TestProcess {
  child: ChildProcess;
  /** Everything written to stderr so far (logs). */
  logs(): string;
  /** SIGKILL, no goodbye. */
  kill(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>;
  /** Resolves with the exit code (null: ended by a signal) once the process has ended. */
  exited: Promise<number | null>;
  /** Whether the process has not ended yet. */
  running(): boolean;
}

export interface RunOptions {
  /**
   * Run inside this network namespace (test/harness/netns.ts): spawned as `ip netns exec NETNS node
   * SCRIPT ...`, which execs node, so `child.pid` is the node process and kill()/stop() signal it.
   */
  netns?: string;
  /** A directory to write a CPU profile into when the process exits on its own (`node --cpu-prof`); FFK_CPU_PROF_DIR sets it for every process. */
  cpuProfDir?: string;
}

export function runProcess(script: string, args: string[], env: NodeJS.ProcessEnv = {}, options: RunOptions = {}): TestProcess {
  const profDir = options.cpuProfDir ?? process.env.FFK_CPU_PROF_DIR;
  const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  const flags = [...nodeFlagsFor(script), ...prof];
  const [file, argv] = options.netns ? ['ip', ['netns', 'exec', options.netns, process.execPath, ...flags, script, ...args]] : [process.execPath, [...flags, script, ...args]];
  const child = spawn(file, argv, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stdout?.on('data', (d: Buffer) => (logs += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const done = (): boolean => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    logs: () => logs,
    exited,
    running: () => !done(),
    async kill() {
      if (!done()) child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (!done()) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** A process's last log lines under `label`, saying whether it still runs: for a failure's message (its files may go with the test). */
export function logTailOf(label: string, p: TestProcess, lines = 25): string {
  const state = p.running() ? 'running' : `exited ${p.child.exitCode ?? p.child.signalCode}`;
  return `--- ${label} (${state}), last lines:\n${p.logs().trimEnd().split('\n').slice(-lines).join('\n')}`;
}

/** A temp dir for config files; `cleanup()` removes it. */
export function tempDir(prefix = 'ffk-test-'): { dir: string; write(name: string, value: unknown): string; cleanup(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    write(name, value) {
      const file = path.join(dir, name);
      writeFileSync(file, typeof value === 'string' ? value : stringify(value));
      return file;
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `ffkeeper ARGS` as a user would type it. The process is killed after 300 s (a snapshot or
 * restore with `--wait` on a loaded 2-core machine can take well over 30 s); each test has its own
 * timeout too. A killed CLI says so in `stderr`.
 */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const timeoutMs = 300_000;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN.cli, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      const killed = err && err.killed ? `\n(test harness: ffkeeper ${args.join(' ')} killed after ${timeoutMs / 1000} s)` : '';
      resolve({ code, stdout, stderr: stderr + killed });
    });
  });
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes; returns the value and the time taken. */
export async function waitFor<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, stepMs = 100): Promise<{ value: T; elapsedMs: number }> {
  const start = Date.now();
  let last: unknown;
  while (Date.now() - start < timeoutMs) {
    try {
      const v = await fn();
      if (v) return { value: v, elapsedMs: Date.now() - start };
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/** Asks a child to stop with `signal`, SIGKILLs it after `graceMs`, and resolves once it has exited. */
export async function stopChild(child: ChildProcess, exited: Promise<unknown>, signal: NodeJS.Signals, graceMs = 5000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Runs `call` and returns the error it fails with, printed on one line (the test fails if it succeeds). */
export async function failure(what: string, call: () => Promise<unknown>): Promise<Error> {
  const err = await call().then(() => undefined, (e: unknown) => e as Error);
  if (!err) throw new Error(`${what}: the call succeeded`);
  console.log(`${what}: ${err.name}: ${err.message.split('\n')[0]}`);
  return err;
}
