/**
 * Per-file CPU, for `npm test`'s "most CPU" list: the suite is CPU-bound on 2 cores, so a file's cost is
 * the CPU it takes (its worker's and every child process it waited for: agents, controllers, CLI runs,
 * restic, tarantool), not its wall time. Writes one line per file to $FFK_CPU_REPORT_DIR when set.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';

const dir = process.env.FFK_CPU_REPORT_DIR;

/** Seconds of CPU of this process and of its reaped children, from /proc/self/stat (clock ticks of 10 ms). */
function cpuSeconds(): { own: number; children: number } {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  // Fields 14–17 of proc(5) (utime, stime, cutime, cstime) are 11–14 after the name.
  return { own: (f[11]! + f[12]!) / 100, children: (f[13]! + f[14]!) / 100 };
}

if (dir !== undefined) {
  let start = { own: 0, children: 0 };
  beforeAll(() => {
    start = cpuSeconds();
  });
  afterAll(() => {
    const end = cpuSeconds();
    const file = path.relative(process.cwd(), expect.getState().testPath ?? 'unknown');
    appendFileSync(path.join(dir, `${process.pid}.tsv`), `${file}\t${(end.own - start.own).toFixed(2)}\t${(end.children - start.children).toFixed(2)}\n`);
  });
}
