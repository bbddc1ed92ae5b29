/**
 * Background processes of a dev site: started detached with their output in a log file, tracked by a
 * pid file per unit in `<siteDir>/run/`, and stopped by pid only — and only when the process is
 * provably the site's own (its working directory lies inside the site directory), so a recycled pid is
 * never signalled.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { UnavailableError } from '../../shared/errors.js';
import { isListening } from '../../shared/net.js';

export interface SpawnSpec {
  /** Unit name; the pid file is `<runDir>/<unit>.pid`. */
  unit: string;
  runDir: string;
  command: string;
  args: readonly string[];
  /** Working directory; must lie inside the site directory (that is how ownership is proven). */
  cwd: string;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Run as this uid/gid (pgbouncer refuses root). */
  uid?: number;
  gid?: number;
}

export function pidFileOf(runDir: string, unit: string): string {
  return path.join(runDir, `${unit.replace(/[^A-Za-z0-9_.-]/g, '_')}.pid`);
}

/**
 * Starts a detached process, writes its pid file and returns the pid. When another start of the same unit
 * (a concurrent `systemctl start`) recorded its live process meanwhile, the one just spawned is killed and
 * that pid is returned: a unit has one process, and its pid file never loses track of it.
 */
export function spawnDetached(spec: SpawnSpec): number {
  const out = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', out, out],
      ...(spec.uid === undefined ? {} : { uid: spec.uid }),
      ...(spec.gid === undefined ? {} : { gid: spec.gid }),
    });
    if (child.pid === undefined) throw new UnavailableError(`cannot start ${spec.unit}: ${spec.command} did not start`);
    child.on('error', () => undefined);
    child.unref();
    const other = readPid(spec.runDir, spec.unit);
    // The run dir is `<siteDir>/run`.
    if (other !== undefined && isOwnedAlive(other, path.dirname(spec.runDir))) {
      signal(child.pid, 'SIGKILL');
      return other;
    }
    writeFileSync(pidFileOf(spec.runDir, spec.unit), `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(out);
  }
}

/** The pid recorded for a unit, if any. */
export function readPid(runDir: string, unit: string): number | undefined {
  const file = pidFileOf(runDir, unit);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** True when `pid` runs (a zombie counts as dead) with its working directory inside `siteDir`. */
export function isOwnedAlive(pid: number, siteDir: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const cwd = readlinkSync(`/proc/${pid}/cwd`);
    return cwd === siteDir || cwd.startsWith(`${siteDir}${path.sep}`);
  } catch {
    return false;
  }
}

/** The unit's pid when its process is alive and the site's own. */
export function unitPid(runDir: string, siteDir: string, unit: string): number | undefined {
  const pid = readPid(runDir, unit);
  return pid !== undefined && isOwnedAlive(pid, siteDir) ? pid : undefined;
}

export interface StopOptions {
  signal?: NodeJS.Signals;
  /** After this long, SIGKILL. Default 10 s. */
  graceMs?: number;
}

/**
 * Stops a unit's process (if alive and owned), waits for it to exit and removes its pid file, unless a
 * start that ran meanwhile recorded a live process of its own there (that one stays tracked).
 */
export async function stopUnitProcess(runDir: string, siteDir: string, unit: string, options: StopOptions = {}): Promise<boolean> {
  const pid = unitPid(runDir, siteDir, unit);
  let stopped = false;
  if (pid !== undefined) {
    signal(pid, options.signal ?? 'SIGTERM');
    if (!(await waitExit(pid, siteDir, options.graceMs ?? 10_000))) {
      signal(pid, 'SIGKILL');
      await waitExit(pid, siteDir, 5_000);
    }
    stopped = true;
  }
  const recorded = readPid(runDir, unit);
  if (recorded === undefined || recorded === pid || !isOwnedAlive(recorded, siteDir)) rmSync(pidFileOf(runDir, unit), { force: true });
  return stopped;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function waitExit(pid: number, siteDir: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isOwnedAlive(pid, siteDir)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !isOwnedAlive(pid, siteDir);
}

/** Waits until the unit's process listens on `port`; fails fast if the process exits first. */
export async function waitUnitListening(spec: { runDir: string; siteDir: string; unit: string; port: number; timeoutMs: number }): Promise<void> {
  const deadline = Date.now() + spec.timeoutMs;
  for (;;) {
    if (await isListening(spec.port)) return;
    if (unitPid(spec.runDir, spec.siteDir, spec.unit) === undefined) throw new UnavailableError(`${spec.unit} exited before listening on port ${spec.port}`);
    if (Date.now() > deadline) throw new UnavailableError(`${spec.unit} not listening on port ${spec.port} after ${spec.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Tail of a log file, for error messages when a process fails to start. */
export function tailOf(file: string, lines = 8): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
