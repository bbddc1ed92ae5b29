/**
 * `backupTrees` against the real restic: directories stored under fixed names by private bind mounts
 * (one path per directory in the snapshot record, `/<name>/…` in its tree, nothing left mounted, the
 * password never in argv), and the fallback when mounts are refused (each directory at its own path).
 */
import { execFileSync } from 'node:child_process';
import { chmod, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.js';
import { PASSWORD, TempDirs, newRepository, writeTree } from './helpers.js';

const temp = new TempDirs();
afterAll(() => temp.cleanup());
const originalPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = originalPath;
});

const isRoot = process.getuid?.() === 0;

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
    expect(snapshot?.paths).toEqual([path.join(view, 'ffupload'), path.join(view, 'uploads')]);
    expect(resticLs(dir, summary.snapshotId)).toEqual(['/ffupload', '/ffupload/y', '/ffupload/y/3.jpg', '/uploads', '/uploads/2.jpg', '/uploads/x', '/uploads/x/1.jpg']);
    expect(await readdir(path.join(view, 'uploads'))).toEqual([]); // the mount lived in restic's namespace only

    // The next backup with it as parent reads nothing again through the mounts.
    const again = await repo.backupTrees({ trees: [{ name: 'uploads', dir: a }, { name: 'ffupload', dir: b }], viewDir: view, parentId: summary.snapshotId });
    expect(again).toMatchObject({ filesNew: 0, filesChanged: 0, filesUnmodified: 3 });
  });

  it('falls back to the directories\' own paths when the mounts are refused, and says so', async () => {
    // A `mount` that fails like an unprivileged one, first on restic's PATH.
    const bin = await temp.make('ffk-fake-mount-');
    await writeFile(path.join(bin, 'mount'), '#!/bin/sh\necho "mount: only root can do that" >&2\nexit 32\n');
    await chmod(path.join(bin, 'mount'), 0o755);
    process.env.PATH = `${bin}:${originalPath ?? ''}`;
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
