/**
 * FsShardFiles on a real filesystem: only Tarantool's data files move aside and come back; an aside
 * directory left by an interrupted restore is never mixed into; a failed move is undone.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsShardFiles } from '../../agent/adapters/tarantool/fs-shard-files.js';
import { ConflictError, IllegalStateError } from '../../shared/errors.js';

let root: string | undefined;
afterEach(() => {
  if (root) rmSync(root, { recursive: true, force: true });
  root = undefined;
});

/** A shard directory layout with data files and bystanders (instance file, log, a stray dir). */
function layout(): { root: string; memtx: string; wal: string; vinyl: string } {
  root = mkdtempSync(path.join(os.tmpdir(), 'ffk-tnt-files-'));
  const memtx = path.join(root, 'snapshots');
  const wal = path.join(root, 'xlogs');
  const vinyl = path.join(root, 'index');
  for (const d of [memtx, wal, path.join(vinyl, '512', '0'), path.join(vinyl, 'notes')]) mkdirSync(d, { recursive: true });
  const files: Record<string, string> = {
    [path.join(memtx, '00000000000000000100.snap')]: 'old snap',
    [path.join(memtx, '00000000000000000120.snap.inprogress')]: 'partial',
    [path.join(memtx, 'README')]: 'keep me',
    [path.join(wal, '00000000000000000100.xlog')]: 'old xlog',
    [path.join(wal, 'tarantool.log')]: 'keep me too',
    [path.join(vinyl, '00000000000000000100.vylog')]: 'old vylog',
    [path.join(vinyl, '512', '0', '00000000000000000003.run')]: 'run',
  };
  for (const [f, text] of Object.entries(files)) writeFileSync(f, text);
  return { root, memtx, wal, vinyl };
}

const ls = (dir: string): string[] => readdirSync(dir).sort();

describe('FsShardFiles', () => {
  it('moves only data files aside, places new ones, and puts the old ones back', async () => {
    const l = layout();
    const fsf = new FsShardFiles();
    const aside = await fsf.moveAside([l.memtx, l.wal, l.vinyl, l.memtx], 'job1');
    expect(aside.moves.map((m) => [path.basename(m.dir), m.entries])).toEqual([
      ['snapshots', ['00000000000000000100.snap', '00000000000000000120.snap.inprogress']],
      ['xlogs', ['00000000000000000100.xlog']],
      ['index', ['00000000000000000100.vylog', '512']],
    ]);
    expect(ls(l.memtx)).toEqual(['README']);
    expect(ls(l.wal)).toEqual(['tarantool.log']);
    expect(ls(l.vinyl)).toEqual(['notes']);

    const staging = await fsf.makeStaging(l.memtx, 'job1');
    mkdirSync(path.join(staging, 'x'), { recursive: true });
    writeFileSync(path.join(staging, 'x', 'a.snap'), 'new');
    writeFileSync(path.join(staging, 'x', 'b.run'), 'new run');
    await fsf.place([
      { staged: path.join(staging, 'x', 'a.snap'), destination: path.join(l.memtx, '00000000000000000090.snap') },
      { staged: path.join(staging, 'x', 'b.run'), destination: path.join(l.vinyl, '513', '0', '00000000000000000001.run') },
    ]);
    expect(ls(l.memtx)).toEqual(['00000000000000000090.snap', 'README']);
    expect(existsSync(path.join(l.vinyl, '513', '0', '00000000000000000001.run'))).toBe(true);

    await fsf.putBack(aside);
    expect(ls(l.memtx)).toEqual(['00000000000000000100.snap', '00000000000000000120.snap.inprogress', 'README']);
    expect(ls(l.vinyl)).toEqual(['00000000000000000100.vylog', '512', 'notes']);
    expect(ls(l.wal)).toEqual(['00000000000000000100.xlog', 'tarantool.log']);
    await fsf.removeDir(staging);
    expect(ls(l.root)).toEqual(['index', 'snapshots', 'xlogs']);
  });

  it('refuses an aside directory left by an interrupted restore, moving nothing', async () => {
    const l = layout();
    mkdirSync(`${l.wal}.ffk-aside-job2`);
    const run = new FsShardFiles().moveAside([l.memtx, l.wal], 'job2');
    await expect(run).rejects.toThrow(ConflictError);
    await expect(run).rejects.toThrow(`${l.wal}.ffk-aside-job2 exists (left by an interrupted restore?)`);
    expect(ls(l.memtx)).toContain('00000000000000000100.snap');
    expect(existsSync(`${l.memtx}.ffk-aside-job2`)).toBe(false);
  });

  it('undoes a partial move when a directory is missing', async () => {
    const l = layout();
    const missing = path.join(l.root, 'nope');
    const run = new FsShardFiles().moveAside([l.memtx, missing], 'job3');
    await expect(run).rejects.toThrow(IllegalStateError);
    await expect(run).rejects.toThrow(`data directory ${missing} does not exist`);
    expect(ls(l.memtx)).toEqual(['00000000000000000100.snap', '00000000000000000120.snap.inprogress', 'README']);
    expect(ls(l.root)).toEqual(['index', 'snapshots', 'xlogs']);
  });

  it('after an agent restart, finds what an interrupted move aside left and puts only the moved files back', async () => {
    const l = layout();
    const fsf = new FsShardFiles();
    expect(await fsf.findAside([l.memtx, l.wal], 'job5')).toBeUndefined();
    // A move aside killed half-way: the snap moved, the partial checkpoint and the xlog still in place.
    mkdirSync(`${l.memtx}.ffk-aside-job5`);
    renameSync(path.join(l.memtx, '00000000000000000100.snap'), path.join(`${l.memtx}.ffk-aside-job5`, '00000000000000000100.snap'));
    const aside = await fsf.findAside([l.memtx, l.wal, l.memtx], 'job5');
    expect(aside?.moves.map((m) => [path.basename(m.dir), m.entries])).toEqual([['snapshots', ['00000000000000000100.snap']]]);
    await fsf.putBack(aside!, { removeLive: false });
    expect(ls(l.memtx)).toEqual(['00000000000000000100.snap', '00000000000000000120.snap.inprogress', 'README']);
    expect(ls(l.wal)).toEqual(['00000000000000000100.xlog', 'tarantool.log']);
    expect(ls(l.root)).toEqual(['index', 'snapshots', 'xlogs']);
    expect(await fsf.countExisting([path.join(l.memtx, 'README'), path.join(l.memtx, 'nope')])).toBe(1);
  });

  it('discard removes the aside directories', async () => {
    const l = layout();
    const fsf = new FsShardFiles();
    const aside = await fsf.moveAside([l.memtx], 'job4');
    expect(existsSync(`${l.memtx}.ffk-aside-job4`)).toBe(true);
    await fsf.discard(aside);
    expect(ls(l.root)).toEqual(['index', 'snapshots', 'xlogs']);
  });
});
