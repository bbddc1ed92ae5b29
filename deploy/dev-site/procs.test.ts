/**
 * A unit's pid file never loses track of its process when two `systemctl` calls of the dev site run at
 * once (as systemd, which tracks a unit by its cgroup, never does): a stop does not remove the pid a start
 * recorded meanwhile, and a second start does not replace the process the first one recorded.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isOwnedAlive, pidFileOf, readPid, spawnDetached, stopUnitProcess, unitPid } from './procs.js';

const UNIT = 'tarantool@shard-001';

describe('dev site unit processes', () => {
  let siteDir = '';
  let runDir = '';
  const started: number[] = [];

  beforeEach(() => {
    siteDir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'ffk-procs-test-')));
    runDir = path.join(siteDir, 'run');
    mkdirSync(runDir);
  });

  afterEach(() => {
    for (const pid of started.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(siteDir, { recursive: true, force: true });
  });

  /** Starts the unit's process (working directory in the site) as the dev site does. */
  function startOwn(command: string, ...args: string[]): number {
    const pid = spawnDetached({ unit: UNIT, runDir, command, args, cwd: siteDir, logFile: path.join(runDir, 'unit.log') });
    started.push(pid);
    return pid;
  }

  it('a stop keeps the pid file a start wrote while it waited for the old process to exit', async () => {
    // The old process takes 300 ms to exit after SIGTERM.
    const old = startOwn('sh', '-c', 'trap "sleep 0.3; exit 0" TERM; while :; do sleep 0.05; done');
    const stopping = stopUnitProcess(runDir, siteDir, UNIT, { graceMs: 5_000 });
    // Meanwhile another systemctl call started the unit again and recorded its process.
    const next = spawn('sleep', ['30'], { cwd: siteDir, detached: true, stdio: 'ignore' });
    next.unref();
    started.push(next.pid!);
    writeFileSync(pidFileOf(runDir, UNIT), `${next.pid}\n`);
    expect(await stopping).toBe(true);
    expect(isOwnedAlive(old, siteDir)).toBe(false);
    expect(unitPid(runDir, siteDir, UNIT)).toBe(next.pid);
  });

  it('a stop removes the pid file of the process it stopped, and a stale one', async () => {
    startOwn('sleep', '30');
    expect(await stopUnitProcess(runDir, siteDir, UNIT)).toBe(true);
    expect(readPid(runDir, UNIT)).toBeUndefined();
    writeFileSync(pidFileOf(runDir, UNIT), '999999999\n');
    expect(await stopUnitProcess(runDir, siteDir, UNIT)).toBe(false);
    expect(readPid(runDir, UNIT)).toBeUndefined();
  });

  it("a second start while the first one's process runs keeps that process and ends its own", async () => {
    const first = startOwn('sleep', '30');
    const second = spawnDetached({ unit: UNIT, runDir, command: 'sleep', args: ['30'], cwd: siteDir, logFile: path.join(runDir, 'unit.log') });
    expect(second).toBe(first);
    expect(unitPid(runDir, siteDir, UNIT)).toBe(first);
    // No other `sleep 30` of the site is left running: the one the second start spawned was killed.
    const deadline = Date.now() + 5_000;
    while (ownSleepers(siteDir).length > 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    expect(ownSleepers(siteDir)).toEqual([first]);
  });
});

/** The live (not zombie) processes whose working directory is `siteDir`. */
function ownSleepers(siteDir: string): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => pid !== process.pid && isOwnedAlive(pid, siteDir));
}
