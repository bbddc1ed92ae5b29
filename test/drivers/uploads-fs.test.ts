/**
 * The uploads driver's node:fs adapters on real directories: the streamed walk (entry kinds, reserved
 * names, link targets, roots last) and the restore area's swap, its undo, and its refusals to clobber.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FsRestoreArea } from '../../agent/adapters/uploads/fs-restore-area.js';
import { FsUploadTree } from '../../agent/adapters/uploads/fs-tree.js';
import { isReservedName } from '../../agent/domain/drivers/uploads/layout.js';
import type { TreeEntry } from '../../agent/domain/drivers/uploads/ports.js';
import { ConflictError, NotFoundError } from '../../shared/errors.js';
import { Temp, treeHash, writeTree } from './uploads-helpers.js';

const temp = new Temp();
afterAll(() => temp.cleanup());

let dir: string;
beforeEach(async () => {
  dir = await temp.make('ffk-uploads-fs-');
});

async function collect(it: AsyncIterable<TreeEntry>): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe('FsUploadTree', () => {
  it('walks every entry once, skips reserved root children, reads links when asked, ends with the root', async () => {
    const root = path.join(dir, 'root');
    await writeTree(root, { 'a/1.jpg': '1', 'a/b/2.jpg': '22', '.ffk-aside-old/x': 'skipped', 'c.jpg': '333' });
    await mkdir(path.join(root, 'empty'));
    await symlink('a/1.jpg', path.join(root, 'link'));
    execFileSync('mkfifo', [path.join(root, 'pipe')]);
    const entries = await collect(new FsUploadTree().walk([root], { skipRootChild: isReservedName, readLinks: true }));
    const brief = entries.map((e) => `${e.type} ${path.relative(dir, e.path)}${e.type === 'dir' ? ` ${e.empty}` : ''}${e.type === 'symlink' ? ` ${e.target}` : ''}`);
    expect([...brief].sort()).toEqual(
      [
        'dir root false',
        'dir root/a false',
        'dir root/a/b false',
        'dir root/empty true',
        'file root/a/1.jpg',
        'file root/a/b/2.jpg',
        'file root/c.jpg',
        'other root/pipe',
        'symlink root/link a/1.jpg',
      ].sort(),
    );
    expect(brief.at(-1)).toBe('dir root false');
    const file = entries.find((e) => e.type === 'file' && e.path.endsWith('2.jpg'));
    const st = await stat(path.join(root, 'a/b/2.jpg'), { bigint: true });
    expect(file).toEqual({ type: 'file', path: path.join(root, 'a/b/2.jpg'), size: 2, mtimeNs: st.mtimeNs });
  });

  it('reports a missing root as NotFoundError and resolves a symlinked root', async () => {
    const missing = path.join(dir, 'nope');
    await expect(collect(new FsUploadTree().walk([missing]))).rejects.toThrow(NotFoundError);
    await expect(collect(new FsUploadTree().walk([missing]))).rejects.toThrow(`upload directory '${missing}' does not exist`);
    await mkdir(path.join(dir, 'real'));
    await symlink(path.join(dir, 'real'), path.join(dir, 'alias'));
    expect(await new FsUploadTree().rootStatus(path.join(dir, 'alias'))).toEqual({ kind: 'dir', realPath: path.join(dir, 'real') });
    expect(await new FsUploadTree().rootStatus(missing)).toEqual({ kind: 'missing' });
  });
});

describe('FsRestoreArea', () => {
  const area = new FsRestoreArea();

  async function layout(): Promise<{ live: string; staged: string; aside: string }> {
    const live = path.join(dir, 'live');
    const staged = path.join(live, '.ffk-restore-j', 'snap');
    await writeTree(live, { 'old.jpg': 'old', 'keep/x.jpg': 'x', '.ffk-restore-j/snap/new.jpg': 'new', '.ffk-restore-j/snap/keep/y.jpg': 'y' });
    return { live, staged, aside: path.join(live, '.ffk-aside-j') };
  }

  it('swaps, and undo puts back entries, directory times and mode', async () => {
    const { live, staged, aside } = await layout();
    const before = await treeHash(live);
    const meta = await stat(live);
    const handle = await area.swap({ live, staged, aside, keep: isReservedName });
    expect(await treeHash(live, isReservedName)).toEqual(['keep/y.jpg 1 ' + sha('y'), 'new.jpg 3 ' + sha('new')]);
    expect((await readdir(aside)).sort()).toEqual(['keep', 'old.jpg']);
    await handle.undo();
    expect(await treeHash(live)).toEqual(before);
    expect((await stat(live)).mtimeMs).toBeCloseTo(meta.mtimeMs, 2); // utimes takes a double of seconds
    expect((await stat(live)).mode).toBe(meta.mode);
    expect(await readdir(live)).not.toContain('.ffk-aside-j');
  });

  it('undoes a swap that fails half-way and refuses an existing aside directory', async () => {
    const { live, staged, aside } = await layout();
    await writeFile(path.join(staged, '.ffk-restore-j'), 'a staged name that clashes with a kept one');
    const before = await treeHash(live);
    const failing = area.swap({ live, staged, aside, keep: isReservedName });
    await expect(failing).rejects.toThrow(ConflictError);
    await expect(failing).rejects.toThrow(`'${path.join(live, '.ffk-restore-j')}' already exists`);
    expect(await treeHash(live)).toEqual(before);
    await mkdir(aside);
    await expect(area.swap({ live, staged, aside, keep: isReservedName })).rejects.toThrow(`aside directory '${aside}' already exists`);
  });

  it('moveChildren refuses, before moving anything, a name already in the target', async () => {
    await writeTree(dir, { 'from/a': 'a', 'from/b': 'b', 'to/b': 'existing' });
    const moving = area.moveChildren(path.join(dir, 'from'), path.join(dir, 'to'));
    await expect(moving).rejects.toThrow(ConflictError);
    expect((await readdir(path.join(dir, 'from'))).sort()).toEqual(['a', 'b']);
    await area.remove(path.join(dir, 'to/b'));
    await area.moveChildren(path.join(dir, 'from'), path.join(dir, 'to'));
    expect((await readdir(path.join(dir, 'to'))).sort()).toEqual(['a', 'b']);
  });
});

function sha(s: string): string {
  return execFileSync('sha256sum', { input: s, encoding: 'utf8' }).split(' ')[0] ?? '';
}
