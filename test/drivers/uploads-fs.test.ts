/**
 * The uploads driver's node:fs adapters on real directories: the streamed walk (entry kinds, reserved
 * names, link targets, roots last), the shielded walk (live tree and shield side by side), the restore
 * area's swap, its undo, its refusals to clobber, and the fold of a restored shield.
 */
import { execFileSync } from 'node:child_process';
import { chmod, link, lstat, mkdir, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { FsRestoreArea } from '../../agent/adapters/uploads/fs-restore-area.js';
import { FsUploadTree } from '../../agent/adapters/uploads/fs-tree.js';
import { SHIELD_NAME, isReservedName } from '../../agent/domain/drivers/uploads/layout.js';
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
    const real = await stat(path.join(dir, 'real'));
    // identity: the directory itself (device and inode), also through the symlink
    expect(await new FsUploadTree().rootStatus(path.join(dir, 'alias'))).toEqual({ kind: 'dir', realPath: path.join(dir, 'real'), identity: `${real.dev}:${real.ino}` });
    expect(await new FsUploadTree().rootStatus(missing)).toEqual({ kind: 'missing' });
  });
});

describe('FsUploadTree: the shielded walk', () => {
  /** A root and its shield: one file linked, one replaced since, one never linked, one gone, one now a directory. */
  async function pairedTree(): Promise<string> {
    const root = path.join(dir, 'root');
    const sh = path.join(root, SHIELD_NAME);
    await writeTree(root, { 'a/same.jpg': 'same', 'a/replaced.jpg': 'old', 'a/unshielded.jpg': 'u', 'gone/x.jpg': 'x', 'b/now-a-dir': 'f' });
    await mkdir(path.join(root, 'empty'));
    await mkdir(path.join(sh, 'a'), { recursive: true });
    await mkdir(path.join(sh, 'gone'));
    await mkdir(path.join(sh, 'b'));
    for (const rel of ['a/same.jpg', 'a/replaced.jpg', 'gone/x.jpg', 'b/now-a-dir']) await link(path.join(root, rel), path.join(sh, rel));
    await writeFile(path.join(root, 'a/replaced.jpg.new'), 'new');
    await rename(path.join(root, 'a/replaced.jpg.new'), path.join(root, 'a/replaced.jpg')); // another inode
    await rm(path.join(root, 'gone'), { recursive: true });
    await rm(path.join(root, 'b/now-a-dir'));
    await mkdir(path.join(root, 'b/now-a-dir'));
    return root;
  }

  function brief(root: string, entries: TreeEntry[]): string[] {
    return entries.map((e) => {
      const rel = (p: string): string => path.relative(root, p);
      if (e.type === 'file') return `file ${rel(e.path)}${e.shieldPath ? ` via ${rel(e.shieldPath)}` : ''}`;
      if (e.type === 'linked') return e.names.map((n) => `linked ${rel(path.join(e.path, n))} via ${rel(path.join(e.shieldDir, n))}`).join('\n');
      if (e.type === 'shield-only') return `shield-only ${rel(e.path)} for ${rel(e.livePath)} (live ${e.live.kind})`;
      return e.type === 'dir' ? `dir ${rel(e.path)} ${e.empty}` : `${e.type} ${rel(e.path)}`;
    });
  }

  const DIRS = ['dir  false', 'dir a false', 'dir b false', 'dir b/now-a-dir true', 'dir empty true'];
  const ONE_SIDED = [
    'file a/unshielded.jpg',
    `shield-only ${SHIELD_NAME}/gone/x.jpg for gone/x.jpg (live absent)`,
    `shield-only ${SHIELD_NAME}/b/now-a-dir for b/now-a-dir (live other)`,
  ];

  it('pairs each live file with its shield link, and reports shield files the live tree no longer holds', async () => {
    const root = await pairedTree();
    const entries = await collect(new FsUploadTree().walk([root], { skipRootChild: isReservedName, shield: SHIELD_NAME }));
    const got = brief(root, entries);
    expect([...got].sort()).toEqual(
      [
        ...DIRS,
        ...ONE_SIDED,
        `file a/same.jpg via ${SHIELD_NAME}/a/same.jpg`,
        'file a/replaced.jpg',
        `shield-only ${SHIELD_NAME}/a/replaced.jpg for a/replaced.jpg (live file)`,
      ].sort(),
    );
    expect(got.at(-1)).toBe('dir  false');
    const stale = entries.find((e) => e.type === 'shield-only' && e.livePath.endsWith('replaced.jpg'));
    const liveNow = await stat(path.join(root, 'a/replaced.jpg'), { bigint: true });
    expect(stale).toMatchObject({ size: 3, live: { kind: 'file', mtimeNs: liveNow.mtimeNs } });
  });

  it('trusting a watching shield, takes a regular file on both sides as linked unstat\'ed, except the paths it saw change', async () => {
    const root = await pairedTree();
    const walk = (changed?: Set<string>): Promise<TreeEntry[]> =>
      collect(new FsUploadTree().walk([root], { skipRootChild: isReservedName, shield: SHIELD_NAME, trustShield: true, ...(changed ? { changed } : {}) }));
    const trusted = brief(root, await walk()).flatMap((l) => l.split('\n'));
    expect([...trusted].sort()).toEqual(
      [...DIRS, ...ONE_SIDED, `linked a/same.jpg via ${SHIELD_NAME}/a/same.jpg`, `linked a/replaced.jpg via ${SHIELD_NAME}/a/replaced.jpg`].sort(),
    );
    expect(trusted.at(-1)).toBe('dir  false');
    // The replacement the watcher reported since the cut is stat'ed as in the full walk.
    const told = brief(root, await walk(new Set([path.join(root, 'a/replaced.jpg')]))).flatMap((l) => l.split('\n'));
    expect([...told].sort()).toEqual(
      [
        ...DIRS,
        ...ONE_SIDED,
        `linked a/same.jpg via ${SHIELD_NAME}/a/same.jpg`,
        'file a/replaced.jpg',
        `shield-only ${SHIELD_NAME}/a/replaced.jpg for a/replaced.jpg (live file)`,
      ].sort(),
    );
  });

  it('walks a root without a shield directory like the plain walk', async () => {
    const root = path.join(dir, 'root');
    await writeTree(root, { 'a/1.jpg': '1', '.ffk-aside-x/y': 'skipped' });
    const shielded = await collect(new FsUploadTree().walk([root], { skipRootChild: isReservedName, shield: SHIELD_NAME }));
    const plain = await collect(new FsUploadTree().walk([root], { skipRootChild: isReservedName }));
    expect(shielded).toEqual(plain);
    expect(plain.map((e) => e.type)).toEqual(['file', 'dir', 'dir']);
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

  it('after an agent restart, undoes a swap interrupted at any point, judged from the disk', async () => {
    // Interrupted: before the swap, while the previous entries moved aside, while the staged ones moved in, after it.
    for (const cut of ['never', 'out', 'in', 'done'] as const) {
      await rm(path.join(dir, 'live'), { recursive: true, force: true });
      const { live, staged, aside } = await layout();
      const before = await treeHash(live);
      const stagedNames = (await readdir(staged)).sort(); // ['keep', 'new.jpg'], journalled as the switch began
      if (cut !== 'never') {
        await mkdir(aside);
        await rename(path.join(live, 'old.jpg'), path.join(aside, 'old.jpg'));
      }
      if (cut === 'in' || cut === 'done') {
        await rename(path.join(live, 'keep'), path.join(aside, 'keep'));
        await rename(path.join(staged, 'new.jpg'), path.join(live, 'new.jpg'));
      }
      if (cut === 'done') await rename(path.join(staged, 'keep'), path.join(live, 'keep'));
      expect(await area.recoverSwap({ live, staged, aside, stagedNames }), cut).toBe(cut === 'never' ? 'nothing' : 'put back');
      expect(await treeHash(live), cut).toEqual(before);
    }
  });

  it('a recovered swap refuses to put back over a name in the way, moving nothing back', async () => {
    const { live, staged, aside } = await layout();
    await mkdir(aside);
    await writeFile(path.join(aside, 'old.jpg'), 'the previous one');
    await expect(area.recoverSwap({ live, staged, aside, stagedNames: ['keep', 'new.jpg'] })).rejects.toThrow(
      `cannot put back 'old.jpg' from '${aside}': '${path.join(live, 'old.jpg')}' exists; nothing of '${aside}' was moved back`,
    );
    expect(await readdir(aside)).toEqual(['old.jpg']);
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

describe('FsRestoreArea.fold', () => {
  const area = new FsRestoreArea();

  it('moves whole directories where the staged tree has none, merges where it has, keeps its own entries, removes the shield', async () => {
    const staged = path.join(dir, 'staged');
    await writeTree(staged, {
      'kept/live.jpg': 'live copy',
      [`${SHIELD_NAME}/kept/live.jpg`]: 'shield copy (dropped)',
      [`${SHIELD_NAME}/kept/deleted.jpg`]: 'only in the shield',
      [`${SHIELD_NAME}/gone/a/1.jpg`]: '1',
      [`${SHIELD_NAME}/gone/a/2.jpg`]: '2',
      [`${SHIELD_NAME}/top.jpg`]: 'top',
    });
    await chmod(path.join(staged, SHIELD_NAME, 'gone'), 0o750);
    expect(await area.fold(path.join(staged, SHIELD_NAME), staged)).toEqual({ moved: 3, dropped: 1 });
    expect(await treeHash(staged)).toEqual([
      'gone/a/1.jpg 1 ' + sha('1'),
      'gone/a/2.jpg 1 ' + sha('2'),
      'kept/deleted.jpg 18 ' + sha('only in the shield'),
      'kept/live.jpg 9 ' + sha('live copy'),
      'top.jpg 3 ' + sha('top'),
    ]);
    expect((await stat(path.join(staged, 'gone'))).mode & 0o777).toBe(0o750); // the directory itself moved, with its mode
    expect(await area.fold(path.join(staged, SHIELD_NAME), staged)).toEqual({ moved: 0, dropped: 0 });
  });

  it('never follows a symlink: not one in the staged tree, not a shield that is a symlink', async () => {
    const staged = path.join(dir, 'staged');
    const outside = path.join(dir, 'outside');
    await writeTree(outside, { 'secret': 's' });
    await writeTree(staged, { [`${SHIELD_NAME}/sub/x.jpg`]: 'x' });
    await symlink(outside, path.join(staged, 'sub'));
    expect(await area.fold(path.join(staged, SHIELD_NAME), staged)).toEqual({ moved: 0, dropped: 1 });
    expect(await readdir(outside)).toEqual(['secret']);
    expect((await lstat(path.join(staged, 'sub'))).isSymbolicLink()).toBe(true);

    const staged2 = path.join(dir, 'staged2');
    await mkdir(staged2);
    await symlink(outside, path.join(staged2, SHIELD_NAME));
    expect(await area.fold(path.join(staged2, SHIELD_NAME), staged2)).toEqual({ moved: 0, dropped: 0 });
    expect(await readdir(staged2)).toEqual([]);
    expect(await readdir(outside)).toEqual(['secret']);
  });
});

function sha(s: string): string {
  return execFileSync('sha256sum', { input: s, encoding: 'utf8' }).split(' ')[0] ?? '';
}
