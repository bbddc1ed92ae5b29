/**
 * A restic started ahead of its work (a tree backup waiting on its FIFO, a stream backup waiting on its
 * stdin) whose agent dies meanwhile: the death ends restic's input, and restic must not take that end as
 * the go-ahead. It gets SIGKILL with its parent's death (`parentDeathGuard`) and stores nothing; the lock
 * it leaves is stale and `restic unlock` removes it.
 */
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, TempDirs, eventually, locks, newRepository, writeTree } from './helpers.js';
import type { ResticRepository } from '../../shared/repository/restic.js';

const temp = new TempDirs();
let repo: ResticRepository;
let dir: string;
beforeAll(async () => {
  ({ repo, dir } = await newRepository(temp));
  await repo.init();
});
afterAll(() => temp.cleanup());

const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'open-ahead.ts');

/** Whether any process's command line names `marker` (restic's does: its FIFO, or its temp directory). */
function running(marker: string): boolean {
  try {
    return execFileSync('pgrep', ['-f', marker], { encoding: 'utf8' }).trim().length > 0;
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
}

describe('a restic opened ahead, its agent killed', () => {
  it.each(['trees', 'stream'])('%s: restic stops with it and stores no snapshot, leaving no lock', async (kind) => {
    const tmp = await temp.make('ffk-ahead-tmp-');
    const tree = await temp.make('ffk-ahead-tree-');
    await writeTree(tree, { 'a/1.jpg': 'one', '2.jpg': 'two' });
    const name = `dead-${path.basename(tmp)}.sql`;
    const env = { ...process.env, FFK_AHEAD_KIND: kind, FFK_AHEAD_NAME: name, FFK_AHEAD_REPO: dir, FFK_AHEAD_PASSWORD: PASSWORD, FFK_AHEAD_TMP: tmp, FFK_AHEAD_DIR: tree, FFK_AHEAD_VIEW: path.join(tmp, 'view') };
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await eventually(() => out.includes('open') || child.exitCode !== null, 60_000);
    expect(out).toContain('open');
    // restic is waiting, holding its lock; its command line names its FIFO (in `tmp`) or the stream's name
    const marker = kind === 'trees' ? tmp : name;
    expect(running(marker)).toBe(true);
    expect(await locks(dir)).toHaveLength(1);
    child.kill('SIGKILL');
    expect(await eventually(() => !running(marker), 30_000)).toBe(true);
    expect(await repo.listSnapshots({ tags: ['ffk-cut=dead'] })).toEqual([]);
    // The killed restic's lock is stale once its process is reaped (here PID 1 reaps orphans late).
    const unlocked = await eventually(async () => {
      await repo.releaseStaleLocks();
      return (await locks(dir)).length === 0;
    }, 30_000);
    expect(unlocked).toBe(true);
  });
});
