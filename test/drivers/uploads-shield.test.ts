/**
 * The deletion shield (`FsDeletionShield`) on real directories and real inotify: seeding of an existing
 * tree (and of a shield left by an earlier run), the watcher linking new files — in new directories, in
 * trees moved in — within the freeze's settle, unlinking deleted ones, the hold (nothing removed or
 * replaced until release), and the degraded mode when a directory cannot be watched.
 */
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { chmod, link, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FsDeletionShield } from '../../agent/adapters/uploads/fs-shield.js';
import type { WatchFn } from '../../agent/adapters/uploads/fs-watch.js';
import { SHIELD_NAME } from '../../agent/domain/drivers/uploads/layout.js';
import { Temp, shieldMismatch, writeTree } from './uploads-helpers.js';

const temp = new Temp();
afterAll(() => temp.cleanup());

const shields: FsDeletionShield[] = [];
afterEach(async () => {
  await Promise.all(shields.splice(0).map((s) => s.close()));
});

function newShield(watch?: WatchFn): FsDeletionShield {
  const shield = new FsDeletionShield(watch ? { watch } : {});
  shields.push(shield);
  return shield;
}

async function tree(files: Record<string, string>): Promise<string> {
  const root = path.join(await temp.make('ffk-shield-'), 'uploads');
  await writeTree(root, files);
  return root;
}

const inShield = (root: string, rel: string): Promise<string> => readFile(path.join(root, SHIELD_NAME, rel), 'utf8');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** More than the kernel's coarse clock can lag behind the wall clock (one tick, 4 ms at HZ=250). */
const CLOCK_TICK_MS = 15;
const settle = (s: FsDeletionShield): ReturnType<FsDeletionShield['settle']> => s.settle({ graceMs: 0, capMs: 500 });

/** `fs.watch` that fails like the kernel out of inotify watches for directories named `nowatch`. */
const limitedWatch: WatchFn = (dir, options, listener) => {
  if (path.basename(dir) === 'nowatch') {
    throw Object.assign(new Error(`ENOSPC: System limit for number of file watchers reached, watch '${dir}'`), { code: 'ENOSPC' });
  }
  return watch(dir, options, listener);
};

describe('deletion shield: seeding', () => {
  it('links every file of an existing tree, and puts right a shield left by an earlier run', async () => {
    const root = await tree({ 'a/1.jpg': '1', 'a/b/2.jpg': '2', 'c/3.jpg': '3', 'top.jpg': 't', '.ffk-aside-x/skip.jpg': 's' });
    // Left by an earlier run: a link of a file deleted since, a link to an older version, an empty directory.
    await writeTree(path.join(root, SHIELD_NAME), { 'gone/old.jpg': 'deleted while the agent was down', 'c/3.jpg': 'older version' });
    await mkdir(path.join(root, SHIELD_NAME, 'empty-left-over'));
    const shield = newShield();
    const scan = await shield.open([root]);
    expect(scan).toMatchObject({ files: 4, linked: 3, relinked: 1, failed: 0 });
    expect(scan.removed).toBeGreaterThanOrEqual(2); // gone/old.jpg and the empty directory (gone/ may go with its last file)
    expect(await shieldMismatch(root)).toEqual({ unshielded: [], stale: [] });
    expect(await inShield(root, 'c/3.jpg')).toBe('3');
    expect(shield.health()).toEqual({ state: 'watching', dirs: 4 }); // root, a, a/b, c
    console.log(`seeding: ${JSON.stringify(scan)}`);
  });

  it('gives shield directories the mode of their live counterpart, the shield itself that of its root', async () => {
    const root = await tree({ 'private/x.jpg': 'x' });
    await chmod(path.join(root, 'private'), 0o750);
    await chmod(root, 0o751);
    await newShield().open([root]);
    expect((await stat(path.join(root, SHIELD_NAME, 'private'))).mode & 0o777).toBe(0o750);
    // A snapshot of the shield records it as the root (restored onto the root).
    expect((await stat(path.join(root, SHIELD_NAME))).mode & 0o777).toBe(0o751);
  });
});

describe('deletion shield: watching', () => {
  it('links files written just before a settle: in new nested directories, in trees moved in, in existing directories', async () => {
    const root = await tree({ 'a/1.jpg': '1' });
    const outside = path.join(path.dirname(root), 'elsewhere');
    await writeTree(outside, { 'x/moved.jpg': 'moved in', 'x/y/deeper.jpg': 'deeper' });
    const shield = newShield();
    await shield.open([root]);
    await writeTree(root, { 'new/deep/er/n.jpg': 'new', 'a/2.jpg': '2' });
    await rename(outside, path.join(root, 'moved'));
    await writeTree(root, { 'moved/x/after.jpg': 'written into the moved-in tree' });
    const settled = await settle(shield);
    expect(settled.settled).toBe(true);
    expect(await shieldMismatch(root)).toEqual({ unshielded: [], stale: [] });
    expect(await inShield(root, 'moved/x/y/deeper.jpg')).toBe('deeper');
    console.log(`settle after a burst of changes: ${settled.waitedMs} ms`);
  });

  it('a settle catches up with every file written before it (its marker passes after their events), and leaves no marker', async () => {
    const root = await tree({ 'a/1.jpg': '1' });
    const shield = newShield();
    await shield.open([root]);
    const files: Record<string, string> = {};
    for (let i = 0; i < 2000; i += 1) files[`burst/${i % 20}/${i}.jpg`] = `file ${i}`;
    await writeTree(root, files);
    const settled = await shield.settle({ graceMs: 0, capMs: 30_000 });
    expect(settled).toMatchObject({ settled: true, pending: 0 });
    expect(await shieldMismatch(root)).toEqual({ unshielded: [], stale: [] });
    expect((await readdir(root)).filter((n) => n.startsWith('.ffk-barrier-'))).toEqual([]); // its marker is gone
    console.log(`a settle after a burst of 2,000 files: ${settled.waitedMs} ms`);
  });

  it('outside a hold, follows deletions and replacements at once', async () => {
    const root = await tree({ 'a/1.jpg': '1', 'a/2.jpg': '2', 'b/3.jpg': '3' });
    const shield = newShield();
    await shield.open([root]);
    await rm(path.join(root, 'a/1.jpg'));
    await writeFile(path.join(root, 'a/2.new'), 'two, new version');
    await rename(path.join(root, 'a/2.new'), path.join(root, 'a/2.jpg'));
    await rm(path.join(root, 'b'), { recursive: true });
    await settle(shield);
    expect(await shieldMismatch(root)).toEqual({ unshielded: [], stale: [] });
    expect(await inShield(root, 'a/2.jpg')).toBe('two, new version');
    await expect(readFile(path.join(root, SHIELD_NAME, 'b/3.jpg'))).rejects.toThrow('ENOENT');
  });

  it('while held is the tree at the cut: keeps deleted and replaced files, links no file created after the cut; release applies the rest', async () => {
    const root = await tree({ 'a/1.jpg': '1', 'a/2.jpg': 'two at the cut', 'b/3.jpg': '3' });
    const shield = newShield();
    await shield.open([root]);
    shield.hold(Date.now());
    expect(shield.held()).toBe(true);
    await sleep(CLOCK_TICK_MS); // files changed from now on have a ctime after the cut
    await rm(path.join(root, 'a/1.jpg'));
    await writeFile(path.join(root, 'a/2.new'), 'two after the cut');
    await rename(path.join(root, 'a/2.new'), path.join(root, 'a/2.jpg'));
    await rm(path.join(root, 'b'), { recursive: true });
    await writeTree(root, { 'c/4.jpg': 'new after the cut' });
    await settle(shield);
    expect(await inShield(root, 'a/1.jpg')).toBe('1');
    expect(await inShield(root, 'a/2.jpg')).toBe('two at the cut');
    expect(await inShield(root, 'b/3.jpg')).toBe('3');
    await expect(inShield(root, 'c/4.jpg')).rejects.toThrow('ENOENT');
    expect(await shieldMismatch(root)).toEqual({ unshielded: ['a/2.jpg', 'c/4.jpg'], stale: ['a/1.jpg', 'a/2.jpg', 'b/3.jpg'] });

    const released = await shield.release();
    expect(shield.held()).toBe(false);
    expect(released).toMatchObject({ linked: 1, relinked: 1, failed: 0, deferred: 0 });
    expect(released.removed).toBeGreaterThanOrEqual(2);
    expect(await shieldMismatch(root)).toEqual({ unshielded: [], stale: [] });
    expect(await inShield(root, 'a/2.jpg')).toBe('two after the cut');
    expect(await inShield(root, 'c/4.jpg')).toBe('new after the cut');
  });

  it('while held, a scan links a file of the cut it reaches late, not one created after the cut; adopt puts in what it is given', async () => {
    const root = await tree({ 'nowatch/old.jpg': 'old', 'ok/1.jpg': '1' });
    const shield = newShield(limitedWatch);
    await shield.open([root]);
    await writeTree(root, { 'nowatch/before.jpg': 'before the cut, not seen by a watcher' });
    await sleep(CLOCK_TICK_MS);
    shield.hold(Date.now());
    await sleep(CLOCK_TICK_MS);
    await writeTree(root, { 'nowatch/after.jpg': 'after the cut', 'nowatch/late.jpg': 'after the cut too' });
    await symlink('old.jpg', path.join(root, 'nowatch/alias'));
    const scan = await shield.rescan();
    expect(scan).toMatchObject({ linked: 1, failed: 0 });
    expect(await inShield(root, 'nowatch/before.jpg')).toBe('before the cut, not seen by a watcher');
    await expect(inShield(root, 'nowatch/after.jpg')).rejects.toThrow('ENOENT');
    expect(await shield.adopt([path.join(root, 'nowatch/late.jpg'), path.join(root, 'nowatch/alias'), path.join(root, 'ok/1.jpg')])).toBe(2);
    expect(await inShield(root, 'nowatch/late.jpg')).toBe('after the cut too');
    expect(await readlink(path.join(root, SHIELD_NAME, 'nowatch/alias'))).toBe('old.jpg'); // the symlink itself, linked
    const released = await shield.release();
    expect(released).toMatchObject({ linked: 1, failed: 0 }); // after.jpg
    expect(await inShield(root, 'nowatch/after.jpg')).toBe('after the cut');
  });

  it('a file created and deleted while not watched is harmless; a hard-linked file elsewhere is not confused with the shield', async () => {
    const root = await tree({ 'a/1.jpg': '1' });
    await link(path.join(root, 'a/1.jpg'), path.join(root, 'a/1-alias.jpg'));
    const shield = newShield();
    await shield.open([root]);
    await rm(path.join(root, 'a/1.jpg'));
    await settle(shield);
    expect(await shieldMismatch(root)).toEqual({ unshielded: [], stale: [] });
    expect(await inShield(root, 'a/1-alias.jpg')).toBe('1');
  });
});

describe('deletion shield: degraded', () => {
  it('reports a directory it cannot watch, and a rescan links what the watcher could not see', async () => {
    const root = await tree({ 'nowatch/1.jpg': '1', 'ok/2.jpg': '2' });
    const shield = newShield(limitedWatch);
    await shield.open([root]);
    const health = shield.health();
    expect(health.state).toBe('degraded');
    expect(health.state === 'degraded' ? health.reason : '').toBe(`cannot watch '${path.join(root, 'nowatch')}': ENOSPC`);
    expect(await inShield(root, 'nowatch/1.jpg')).toBe('1'); // the scan linked it all the same
    await writeTree(root, { 'nowatch/late.jpg': 'not seen by a watcher', 'ok/seen.jpg': 'seen' });
    await settle(shield);
    expect(await shieldMismatch(root)).toEqual({ unshielded: ['nowatch/late.jpg'], stale: [] });
    const scan = await shield.rescan();
    expect(scan).toMatchObject({ linked: 1, failed: 0 });
    expect(await shieldMismatch(root)).toEqual({ unshielded: [], stale: [] });
    expect(shield.health().state).toBe('degraded'); // the directory still cannot be watched
  });

  it('a shield directory removed (its root emptied) degrades the shield, and the next rescan makes it whole again', async () => {
    const root = await tree({ 'a/1.jpg': '1', 'top.jpg': 't' });
    const shield = newShield();
    await shield.open([root]);
    expect(shield.health().state).toBe('watching');
    await rm(path.join(root, SHIELD_NAME), { recursive: true, force: true });
    await writeTree(root, { 'b/new.jpg': 'written after the shield went' });
    await settle(shield);
    await expect.poll(() => shield.health().state).toBe('degraded');
    const health = shield.health();
    expect(health.state === 'degraded' ? health.reason : '').toBe(`the shield directory '${path.join(root, SHIELD_NAME)}' was removed`);
    await shield.rescan();
    expect(shield.health().state).toBe('watching');
    expect(await shieldMismatch(root)).toEqual({ unshielded: [], stale: [] });
    expect(await inShield(root, 'a/1.jpg')).toBe('1');
  });

  it('a watcher error degrades the shield too', async () => {
    const emitters: EventEmitter[] = [];
    const fakeWatch: WatchFn = () => {
      const e = Object.assign(new EventEmitter(), { close: () => undefined }) as unknown as FSWatcher;
      emitters.push(e as unknown as EventEmitter);
      return e;
    };
    const root = await tree({ 'a/1.jpg': '1' });
    const shield = newShield(fakeWatch);
    await shield.open([root]);
    expect(shield.health()).toEqual({ state: 'watching', dirs: 2 });
    emitters[1]?.emit('error', Object.assign(new Error('watch failed'), { code: 'EIO' }));
    expect(shield.health()).toEqual({ state: 'degraded', dirs: 1, reason: `watch of '${path.join(root, 'a')}' failed: EIO` });
  });
});
