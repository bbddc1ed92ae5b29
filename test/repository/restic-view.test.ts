/**
 * `backupTrees` against the real restic: directories stored under fixed names by private bind mounts
 * (one path per directory in the snapshot record, `/<name>/…` in its tree, nothing left mounted, the
 * password never in argv), and the fallback when mounts are refused (each directory at its own path).
 * `openTreesBackup`: restic opened ahead (repository open, locked, nothing read) until it is run.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IllegalStateError, ValidationError } from '../../shared/errors.js';
import { RepositoryWrongPasswordError } from '../../shared/repository/errors.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { forgetMountCheck } from '../../shared/repository/restic-view.js';
import { PASSWORD, TempDirs, eventually, locks, newRepository, writeTree } from './helpers.js';

const temp = new TempDirs();
afterAll(() => temp.cleanup());
const originalPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = originalPath;
  forgetMountCheck(); // a test that refused mounts must not decide for the next one
});

const isRoot = process.getuid?.() === 0;

/** Puts a `mount` running `body` (a sh script) first on PATH; afterEach puts PATH back. */
async function mountFirstOnPath(body: string): Promise<void> {
  const bin = await temp.make('ffk-fake-mount-');
  await writeFile(path.join(bin, 'mount'), `#!/bin/sh\n${body}`);
  await chmod(path.join(bin, 'mount'), 0o755);
  process.env.PATH = `${bin}:${originalPath ?? ''}`;
}

function resticLs(repoDir: string, id: string): string[] {
  const env = { ...process.env, RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: PASSWORD };
  return execFileSync('restic', ['--no-cache', 'ls', id], { env, encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('/'));
}

async function twoTrees(): Promise<{ a: string; b: string; view: string }> {
  const base = await temp.make();
  const a = path.join(base, 'site', 'one', '.ffk-shield');
  const b = path.join(base, 'site', 'two', '.ffk-shield');
  await writeTree(a, { 'x/1.jpg': 'one', '2.jpg': 'two' });
  await writeTree(b, { 'y/3.jpg': 'three' });
  return { a, b, view: path.join(base, 'view') };
}

describe('ResticRepository.backupTrees', () => {
  it.runIf(isRoot)('stores each directory under its name: one path each, /<name>/… in the tree, nothing left mounted', async () => {
    const { repo, dir } = await newRepository(temp);
    await repo.init();
    const { a, b, view } = await twoTrees();
    const summary = await repo.backupTrees({ trees: [{ name: 'uploads', dir: a }, { name: 'ffupload', dir: b }], viewDir: view, tags: ['t=1'] });
    expect(summary).toMatchObject({ layout: 'named', paths: { uploads: '/uploads', ffupload: '/ffupload' }, totalFilesProcessed: 3, complete: true });
    const [snapshot] = await repo.listSnapshots();
    expect(snapshot?.paths).toEqual(['/ffupload', '/uploads']); // rooted: restic ran chrooted into its view, given absolute targets
    expect(resticLs(dir, summary.snapshotId)).toEqual(['/ffupload', '/ffupload/y', '/ffupload/y/3.jpg', '/uploads', '/uploads/2.jpg', '/uploads/x', '/uploads/x/1.jpg']);
    // The view is a skeleton of mount points (empty), the mounts lived in restic's namespace only, and the
    // fstab files its mounts were made from are gone.
    const skeleton = await readdir(view, { withFileTypes: true });
    expect(skeleton.map((d) => d.name)).toEqual(expect.arrayContaining(['uploads', 'ffupload', 'etc', 'tmp']));
    for (const d of skeleton) {
      if (d.isDirectory()) expect(await readdir(path.join(view, d.name)), d.name).toEqual([]);
      else if (!d.isSymbolicLink()) expect((await stat(path.join(view, d.name))).size, d.name).toBe(0);
    }
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(view);
    expect((await readdir(path.dirname(view))).filter((n) => n.endsWith('.fstab'))).toEqual([]);

    // The next backup with it as parent reads nothing again through the mounts.
    const again = await repo.backupTrees({ trees: [{ name: 'uploads', dir: a }, { name: 'ffupload', dir: b }], viewDir: view, parentId: summary.snapshotId });
    expect(again).toMatchObject({ filesNew: 0, filesChanged: 0, filesUnmodified: 3 });
  });

  it.runIf(isRoot)('mounts a tree whose path holds a space, a tab and a backslash (escaped in its fstab line)', async () => {
    const { repo, dir } = await newRepository(temp);
    await repo.init();
    const base = await temp.make();
    const odd = path.join(base, 'site one', 'tab\there', 'back\\slash');
    await writeTree(odd, { 'x/1.jpg': 'one' });
    const summary = await repo.backupTrees({ trees: [{ name: 'uploads', dir: odd }], viewDir: path.join(base, 'view dir') });
    expect(summary).toMatchObject({ layout: 'named', paths: { uploads: '/uploads' }, totalFilesProcessed: 1 });
    expect(resticLs(dir, summary.snapshotId)).toEqual(['/uploads', '/uploads/x', '/uploads/x/1.jpg']);
  });

  it.runIf(isRoot)('names the trees as relative targets when a root cannot be made for restic, or a name is also an entry of /; either way\'s snapshot is the other\'s parent', async () => {
    // A `mount` that refuses the root of a rooted run only (its binds of `/`, one `mount -a` of their fstab).
    await mountFirstOnPath('case "$*" in *.root.fstab*) echo "mount: root refused" >&2; exit 32;; esac\nexec /usr/bin/mount "$@"\n');
    const { repo, dir } = await newRepository(temp);
    await repo.init();
    const { a, b, view } = await twoTrees();
    const trees = [{ name: 'uploads', dir: a }, { name: 'ffupload', dir: b }];
    const relative = await repo.backupTrees({ trees, viewDir: view, tags: ['way=relative'] });
    expect(relative).toMatchObject({ layout: 'named', paths: { uploads: '/uploads', ffupload: '/ffupload' }, totalFilesProcessed: 3 });
    expect((await repo.listSnapshots({ tags: ['way=relative'] }))[0]?.paths).toEqual([path.join(view, 'ffupload'), path.join(view, 'uploads')]);

    process.env.PATH = originalPath;
    forgetMountCheck();
    const rootedRepo = new ResticRepository({ url: dir, password: PASSWORD }); // restic's environment is taken when it is made
    const rooted = await rootedRepo.backupTrees({ trees, viewDir: view, parentId: relative.snapshotId, tags: ['way=rooted'] });
    expect(rooted).toMatchObject({ layout: 'named', filesNew: 0, filesChanged: 0, filesUnmodified: 3 });
    expect((await rootedRepo.listSnapshots({ tags: ['way=rooted'] }))[0]?.paths).toEqual(['/ffupload', '/uploads']);
    expect(resticLs(dir, rooted.snapshotId)).toEqual(resticLs(dir, relative.snapshotId));

    // 'tmp' is a top-level entry of /: a rooted run would hide it, so restic is given relative targets.
    const clash = await rootedRepo.backupTrees({ trees: [{ name: 'tmp', dir: a }], viewDir: view, tags: ['way=clash'] });
    expect(clash).toMatchObject({ layout: 'named', paths: { tmp: '/tmp' } });
    expect((await rootedRepo.listSnapshots({ tags: ['way=clash'] }))[0]?.paths).toEqual([path.join(view, 'tmp')]);
    expect(resticLs(dir, clash.snapshotId)).toContain('/tmp/x/1.jpg');
  });

  it.runIf(isRoot)('backs the trees up at their own paths when a tree\'s bind fails in a rooted run (its root made)', async () => {
    // Refused: a rooted run's trees (their fstab) and a relative run's binds.
    await mountFirstOnPath('case "$*" in *--bind*|*.trees.fstab*) echo "mount: bind refused" >&2; exit 32;; esac\nexec /usr/bin/mount "$@"\n');
    const { repo } = await newRepository(temp);
    await repo.init();
    const { a, b, view } = await twoTrees();
    const summary = await repo.backupTrees({ trees: [{ name: 'uploads', dir: a }, { name: 'ffupload', dir: b }], viewDir: view });
    expect(summary).toMatchObject({ layout: 'direct', paths: { uploads: a, ffupload: b }, totalFilesProcessed: 3 });
  });

  it('falls back to the directories\' own paths when the mounts are refused, and says so', async () => {
    // A `mount` that fails like an unprivileged one, first on restic's PATH.
    await mountFirstOnPath('echo "mount: only root can do that" >&2\nexit 32\n');
    const { repo, dir } = await newRepository(temp);
    await repo.init();
    const { a, b, view } = await twoTrees();
    const summary = await repo.backupTrees({ trees: [{ name: 'uploads', dir: a }, { name: 'ffupload', dir: b }], viewDir: view });
    expect(summary).toMatchObject({ layout: 'direct', paths: { uploads: a, ffupload: b }, totalFilesProcessed: 3 });
    const [snapshot] = await repo.listSnapshots();
    expect(snapshot?.paths.sort()).toEqual([a, b].sort());
    expect(resticLs(dir, summary.snapshotId)).toContain(path.join(a, 'x', '1.jpg'));
  });

  it('refuses names that are not plain, repeated names and relative directories', async () => {
    const { repo } = await newRepository(temp);
    const view = '/tmp/v';
    await expect(repo.backupTrees({ trees: [{ name: '../x', dir: '/a' }], viewDir: view })).rejects.toThrow(ValidationError);
    await expect(repo.backupTrees({ trees: [{ name: 'u', dir: '/a' }, { name: 'u', dir: '/b' }], viewDir: view })).rejects.toThrow("invalid or repeated tree name 'u'");
    await expect(repo.backupTrees({ trees: [{ name: 'u', dir: 'a' }], viewDir: view })).rejects.toThrow("tree directory 'a' must be absolute");
  });
});

describe('ResticRepository.openTreesBackup', () => {
  // One repository for these tests (each restic process pays its key derivation: fewer inits, a faster suite).
  let repo: ResticRepository;
  let dir: string;
  let gates: string;
  beforeAll(async () => {
    gates = await temp.make('ffk-gates-');
    ({ repo, dir } = await newRepository(temp, { tmpDir: gates }));
    await repo.init();
  });

  it.runIf(isRoot)('opens the repository first and reads the trees only when run, as they are then', async () => {
    const { a, b, view } = await twoTrees();
    const opened = await repo.openTreesBackup({ trees: [{ name: 'uploads', dir: a }, { name: 'ffupload', dir: b }], viewDir: view, tags: ['ffk-cut=ahead'] });
    expect(opened.usable).toBe(true);
    // open means locked and waiting: restic holds the repository's shared lock and has stored nothing
    expect((await locks(dir)).length).toBe(1);
    expect(await repo.listSnapshots()).toEqual([]);
    // what changes before the run is what the snapshot holds
    await writeTree(a, { 'late/4.jpg': 'four' });
    await rm(path.join(b, 'y', '3.jpg'));
    const progress: string[] = [];
    const summary = await opened.run({ onProgress: (e) => progress.push(e.kind) });
    expect(opened.usable).toBe(false);
    expect(summary).toMatchObject({ layout: 'named', paths: { uploads: '/uploads', ffupload: '/ffupload' }, totalFilesProcessed: 3, complete: true });
    expect(progress).toContain('summary');
    expect(resticLs(dir, summary.snapshotId)).toEqual(['/ffupload', '/ffupload/y', '/uploads', '/uploads/2.jpg', '/uploads/late', '/uploads/late/4.jpg', '/uploads/x', '/uploads/x/1.jpg']);
    const [snapshot] = await repo.listSnapshots({ tags: ['ffk-cut=ahead'] });
    expect(snapshot?.id).toBe(summary.snapshotId);
    expect(await locks(dir)).toEqual([]);
    expect(await readdir(gates)).toEqual([]); // the FIFO restic waited on is gone
    await expect(opened.run()).rejects.toThrow(IllegalStateError);

    // With a parent, like the next upload of a cut: nothing is read again.
    const next = await repo.openTreesBackup({ trees: [{ name: 'uploads', dir: a }, { name: 'ffupload', dir: b }], viewDir: view, parentId: summary.snapshotId });
    expect(await next.run()).toMatchObject({ filesNew: 0, filesChanged: 0, filesUnmodified: 3 });
  });

  it('fails to open with a wrong password, naming the repository, and leaves no FIFO behind', async () => {
    const wrong = new ResticRepository({ url: dir, password: 'not-the-password', tmpDir: gates });
    const { a, view } = await twoTrees();
    const attempt = wrong.openTreesBackup({ trees: [{ name: 'uploads', dir: a }], viewDir: view });
    await expect(attempt).rejects.toThrow(RepositoryWrongPasswordError);
    await expect(attempt).rejects.toThrow(dir);
    expect(await readdir(gates)).toEqual([]);
  });

  it('cancelled, or left unrun past its idle time, it stops without a snapshot or a lock', async () => {
    const before = (await repo.listSnapshots()).length;
    const { a, view } = await twoTrees();
    const trees = [{ name: 'uploads', dir: a }];
    const cancelled = await repo.openTreesBackup({ trees, viewDir: view });
    await cancelled.cancel();
    expect(cancelled.usable).toBe(false);
    await cancelled.cancel(); // idempotent
    await expect(cancelled.run()).rejects.toThrow('the tree backup opened ahead was cancelled');
    const idle = await repo.openTreesBackup({ trees, viewDir: view }, { idleMs: 300 });
    expect(await eventually(() => Promise.resolve(!idle.usable))).toBe(true);
    expect(await eventually(async () => (await locks(dir)).length === 0 && (await readdir(gates)).length === 0)).toBe(true);
    expect((await repo.listSnapshots()).length).toBe(before);
  });

  it('falls back to the directories\' own paths when the mounts are refused', async () => {
    await mountFirstOnPath('echo "mount: only root can do that" >&2\nexit 32\n');
    const refused = new ResticRepository({ url: dir, password: PASSWORD, tmpDir: gates }); // restic's environment is taken when it is made
    const { a, b, view } = await twoTrees();
    const opened = await refused.openTreesBackup({ trees: [{ name: 'uploads', dir: a }, { name: 'ffupload', dir: b }], viewDir: view });
    expect(await opened.run()).toMatchObject({ layout: 'direct', paths: { uploads: a, ffupload: b }, totalFilesProcessed: 3 });
    expect(await readdir(gates)).toEqual([]);
  });
});
