/** ResticRepository against the real restic binary and temp local repositories: the happy paths. */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BackupSourceMissingError,
  RepositoryAlreadyInitialisedError,
  SnapshotNotFoundError,
  SnapshotPathNotFoundError,
} from '../../shared/repository/errors.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { ValidationError } from '../../shared/errors.js';
import { PASSWORD, TempDirs, newRepository, pseudoRandom, treeHash, writeTree } from './helpers.js';

const temp = new TempDirs();
afterAll(() => temp.cleanup());

describe('ResticRepository: init', () => {
  it('initialises a format-v2 repository once; a second init is a typed error, ensureInitialized a no-op', async () => {
    const { repo, dir } = await newRepository(temp);
    const info = await repo.init();
    expect(info.formatVersion).toBe(2);
    expect(info.id).toMatch(/^[0-9a-f]{64}$/);
    const again = repo.init();
    await expect(again).rejects.toThrow(RepositoryAlreadyInitialisedError);
    await expect(again).rejects.toThrow(`a repository is already initialised at ${dir}`);
    expect(await repo.ensureInitialized()).toEqual({ created: false, info });
    expect(await repo.describe()).toEqual(info);
  });

  it('ensureInitialized creates a missing repository, and two concurrent callers agree on one', async () => {
    const { repo, dir } = await newRepository(temp);
    const twin = new ResticRepository({ url: dir, password: PASSWORD });
    const results = await Promise.all([repo.ensureInitialized(), twin.ensureInitialized(), repo.ensureInitialized()]);
    expect(results.map((r) => r.created)).toEqual([true, false, false]);
    expect(new Set(results.map((r) => r.info.id)).size).toBe(1);
    expect(await repo.check()).toEqual({ ok: true, problems: [] });
  });
});

describe('ResticRepository: cache', () => {
  it('keeps its cache in cacheDir, one sub-directory per repository id', async () => {
    const cacheDir = await temp.make('ffk-repo-cache-');
    const { repo, root } = await newRepository(temp, { cacheDir });
    const { info } = await repo.ensureInitialized();
    await writeTree(path.join(root, 's'), { 'x.txt': 'x' });
    await repo.backupFiles({ paths: [path.join(root, 's')] });
    expect(await readdir(cacheDir)).toContain(info.id);
  });
});

describe('ResticRepository: files', () => {
  let repo: ResticRepository;
  let src: string;
  let root: string;
  const tree: Record<string, Buffer | string> = {
    'photos/a.jpg': pseudoRandom('a', 300_000),
    'photos/deep/b.jpg': pseudoRandom('b', 2_000_000),
    'thumbs/c.png': 'small file',
    'name with spaces.txt': 'spaces',
    'new\nline.txt': 'newline in name',
    'ünïcødé ☃ 名前.bin': pseudoRandom('u', 5000),
    'glob*chars?[x].txt': 'glob characters',
    'leading -dash': 'dash',
    'empty': '',
  };

  beforeAll(async () => {
    ({ repo, root } = await newRepository(temp));
    await repo.init();
    src = path.join(root, 'src');
    await writeTree(src, tree);
  });

  it('backs up a file list with odd names, restores it and the bytes match', async () => {
    const paths = Object.keys(tree).map((rel) => path.join(src, rel));
    const summary = await repo.backupFiles({ paths, tags: ['ffk-site=t1', 'ffk-component=uploads:main'], host: 'host-1' });
    expect(summary.complete).toBe(true);
    expect(summary.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    expect(summary.filesNew).toBe(Object.keys(tree).length);
    expect(summary.totalBytesProcessed).toBe(Object.values(tree).reduce((n, c) => n + Buffer.byteLength(c), 0));
    const target = await temp.make();
    const restored = await repo.restore({ snapshotId: summary.snapshotId, targetDir: target });
    expect(restored.filesRestored).toBe(Object.keys(tree).length);
    expect(await treeHash(path.join(target, src))).toEqual(await treeHash(src));
  });

  it('backs up relative paths against a cwd and restores only the include paths', async () => {
    const summary = await repo.backupFiles({ paths: ['photos', 'new\nline.txt', 'glob*chars?[x].txt'], cwd: src, tags: ['rel'] });
    const target = await temp.make();
    const restored = await repo.restore({
      snapshotId: summary.snapshotId,
      targetDir: target,
      includePaths: ['/photos/deep', '/glob*chars?[x].txt'],
    });
    expect(restored.filesRestored).toBe(2);
    expect(Object.keys(await treeHash(target)).sort()).toEqual(['glob*chars?[x].txt', 'photos/deep/b.jpg']);
    expect((await stat(path.join(target, 'photos/deep/b.jpg'))).size).toBe(2_000_000);
  });

  it('honours excludes', async () => {
    const summary = await repo.backupFiles({ paths: [src], excludes: ['*.jpg'] });
    const target = await temp.make();
    await repo.restore({ snapshotId: summary.snapshotId, targetDir: target });
    const names = Object.keys(await treeHash(path.join(target, src)));
    expect(names).toContain('thumbs/c.png');
    expect(names.some((n) => n.endsWith('.jpg'))).toBe(false);
  });

  it('a second backup of the unchanged tree adds (almost) nothing', async () => {
    const first = await repo.backupFiles({ paths: [src], tags: ['twice'] });
    const before = await repo.stats({ measure: 'stored' });
    const second = await repo.backupFiles({ paths: [src], tags: ['twice'], parentId: first.snapshotId });
    const after = await repo.stats({ measure: 'stored' });
    expect(second.filesUnmodified).toBe(Object.keys(tree).length);
    expect(second.filesNew + second.filesChanged).toBe(0);
    expect(second.dataAddedBytes).toBeLessThan(4096);
    expect(after.totalBytes - before.totalBytes).toBeLessThan(4096);
    const size = await repo.stats({ measure: 'restore-size', snapshotIds: [second.snapshotId] });
    expect(size.totalBytes).toBe(Object.values(tree).reduce((n, c) => n + Buffer.byteLength(c), 0));
  });

  it('reports a listed file that vanished before it was read, by name', async () => {
    const gone = path.join(src, 'vanished.jpg');
    const events: string[] = [];
    const summary = await repo.backupFiles(
      { paths: [path.join(src, 'thumbs/c.png'), gone] },
      { onProgress: (e) => e.kind === 'error' && events.push(e.path) },
    );
    expect(summary.complete).toBe(false);
    expect(summary.missingPaths).toEqual([gone]);
    expect(events).toEqual([gone]);
    const none = repo.backupFiles({ paths: [gone] });
    await expect(none).rejects.toThrow(BackupSourceMissingError);
    await expect(none).rejects.toThrow(`'${gone}' do not exist`);
  });
});

describe('ResticRepository: listing, dump, forget, stats', () => {
  let repo: ResticRepository;
  let src: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    let root: string;
    ({ repo, root } = await newRepository(temp));
    await repo.init();
    src = path.join(root, 'data');
    await writeTree(src, { 'one.txt': 'one', 'two.txt': 'two' });
    const tagsOf = { c1a: ['ffk-cut=c1', 'ffk-component=postgres:main'], c1b: ['ffk-cut=c1', 'ffk-component=uploads:u'], c2a: ['ffk-cut=c2', 'ffk-component=postgres:main'] };
    for (const [name, tags] of Object.entries(tagsOf)) {
      ids[name] = (await repo.backupFiles({ paths: [src], tags, host: 'h-list' })).snapshotId;
    }
  });

  it('lists snapshots filtered by all given tags', async () => {
    const c1 = await repo.listSnapshots({ tags: ['ffk-cut=c1'] });
    expect(c1.map((s) => s.id).sort()).toEqual([ids.c1a, ids.c1b].sort());
    const pg = await repo.listSnapshots({ tags: ['ffk-cut=c1', 'ffk-component=postgres:main'] });
    expect(pg.map((s) => s.id)).toEqual([ids.c1a]);
    const first = pg[0];
    expect(first?.host).toBe('h-list');
    expect(first?.paths).toEqual([src]);
    expect(first?.tags.sort()).toEqual(['ffk-component=postgres:main', 'ffk-cut=c1']);
    expect(first?.time.getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(await repo.listSnapshots({ tags: ['ffk-cut=none'] })).toEqual([]);
    expect(await repo.listSnapshots({ host: 'other-host' })).toEqual([]);
    await expect(repo.listSnapshots({ tags: ['a,b'] })).rejects.toThrow(ValidationError);
  });

  it('dumps one file of a snapshot as a stream', async () => {
    const id = ids.c2a ?? '';
    const chunks: Buffer[] = [];
    for await (const chunk of repo.dump({ snapshotId: id, path: path.join(src, 'two.txt') })) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('two');
  });

  it('dump of an unknown path or snapshot errors the stream with a typed error', async () => {
    const id = ids.c2a ?? '';
    const consume = async (s: NodeJS.ReadableStream): Promise<void> => {
      for await (const chunk of s) void chunk;
    };
    const noPath = consume(repo.dump({ snapshotId: id, path: '/no/such/file' }));
    await expect(noPath).rejects.toThrow(SnapshotPathNotFoundError);
    await expect(noPath).rejects.toThrow(`path '/no/such/file' not found in snapshot '${id}'`);
    const noSnap = consume(repo.dump({ snapshotId: 'deadbeef', path: '/x' }));
    await expect(noSnap).rejects.toThrow(SnapshotNotFoundError);
    await expect(noSnap).rejects.toThrow("snapshot 'deadbeef' not found in repository");
  });

  it('restore of an unknown snapshot or include path is a typed error and writes nothing', async () => {
    const target = await temp.make();
    await expect(repo.restore({ snapshotId: 'deadbeef', targetDir: target })).rejects.toThrow(SnapshotNotFoundError);
    const missing = repo.restore({ snapshotId: ids.c1a ?? '', targetDir: target, includePaths: ['/not/there'] });
    await expect(missing).rejects.toThrow(SnapshotPathNotFoundError);
    await expect(missing).rejects.toThrow("path '/not/there' not found in snapshot");
    expect(await readdir(target)).toEqual([]);
  });

  it('forgets snapshots by id (unknown ids reported) and prunes', async () => {
    const before = await repo.stats({ measure: 'stored' });
    const result = await repo.forget({ snapshotIds: [ids.c1a ?? '', '0123456789abcdef'], prune: true });
    expect(result).toEqual({ removed: [ids.c1a], notFound: ['0123456789abcdef'], pruned: true });
    const left = (await repo.listSnapshots()).map((s) => s.id).sort();
    expect(left).toEqual([ids.c1b, ids.c2a].sort());
    expect((await repo.stats({ measure: 'stored' })).snapshotCount).toBe(before.snapshotCount - 1);
    await expect(repo.stats({ measure: 'stored', snapshotIds: [ids.c1a ?? ''] })).rejects.toThrow(SnapshotNotFoundError);
    expect(await repo.check()).toEqual({ ok: true, problems: [] });
  });

  it('rejects bad ids before starting restic', async () => {
    await expect(repo.forget({ snapshotIds: ['--help'] })).rejects.toThrow("invalid snapshot id '--help'");
    expect(() => repo.dump({ snapshotId: 'latest', path: '/x' })).toThrow(ValidationError);
    await expect(repo.backupFiles({ paths: ['relative/path'] })).rejects.toThrow("relative backup path 'relative/path' needs a cwd");
  });
});
