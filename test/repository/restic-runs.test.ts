/**
 * How many restic runs each operation costs (each run pays ~0.7 s opening the repository): a backup is
 * one run whose snapshot id comes from its own summary, a restore whose totals the caller knows is one
 * run. Counted through a logging wrapper of the real binary (`resticBinary`).
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotPathNotFoundError } from '../../shared/repository/errors.js';
import type { ResticRepository } from '../../shared/repository/restic.js';
import { TempDirs, newRepository, treeHash, writeTree } from './helpers.js';

const temp = new TempDirs();
afterAll(() => temp.cleanup());

/** A wrapper of restic that appends each run's command (global flags left out) to a log file. */
async function loggingRestic(dir: string): Promise<{ binary: string; runs: () => Promise<string[]> }> {
  const log = path.join(dir, 'runs.log');
  const binary = path.join(dir, 'restic-logged');
  await writeFile(log, '');
  await writeFile(binary, `#!/bin/bash\nprintf '%s\\n' "$*" >> '${log}'\nexec restic "$@"\n`);
  await chmod(binary, 0o755);
  const runs = async (): Promise<string[]> =>
    (await readFile(log, 'utf8'))
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.replace(/^(--no-cache|--cache-dir \S+) /, '').split(' ')[0] ?? '');
  return { binary, runs };
}

/** A fresh repository driven through the logging wrapper; `newRuns()` gives the runs since its last call. */
async function loggedRepository(withCache: boolean): Promise<{ repo: ResticRepository; src: string; newRuns: () => Promise<string[]> }> {
  const tools = await temp.make('ffk-restic-runs-');
  const logged = await loggingRestic(tools);
  const { repo, root } = await newRepository(temp, { resticBinary: logged.binary, ...(withCache ? { cacheDir: path.join(tools, 'cache') } : {}) });
  await repo.init();
  const src = path.join(root, 'src');
  await writeTree(src, { 'a/1.jpg': 'one', 'a/2.jpg': 'two', 'b/3.png': 'three' });
  let seen = 0;
  const newRuns = async (): Promise<string[]> => {
    const all = await logged.runs();
    const fresh = all.slice(seen);
    seen = all.length;
    return fresh;
  };
  await newRuns();
  return { repo, src, newRuns };
}

describe.each([
  { cache: 'a cache directory', withCache: true },
  { cache: 'no cache (--no-cache)', withCache: false },
])('ResticRepository: a backup with $cache', ({ withCache }) => {
  let r: Awaited<ReturnType<typeof loggedRepository>>;
  beforeAll(async () => {
    r = await loggedRepository(withCache);
  });

  it('of files is one run, and its full snapshot id is the one the repository lists', async () => {
    const { repo, src, newRuns } = r;
    const paths = [path.join(src, 'a'), path.join(src, 'b')];
    const summary = await repo.backupFiles({ paths, tags: ['runs'] });
    expect(await newRuns()).toEqual(['backup']);
    expect(summary.snapshotId).toMatch(/^[0-9a-f]{64}$/);
    const again = await repo.backupFiles({ paths, tags: ['runs'], parentId: summary.snapshotId });
    expect(await newRuns()).toEqual(['backup']);
    expect(again.filesUnmodified).toBe(3);
    expect((await repo.listSnapshots({ tags: ['runs'] })).map((s) => s.id)).toEqual([summary.snapshotId, again.snapshotId]);
    await newRuns();
  });

  it('of a stream is one run', async () => {
    const { repo, newRuns } = r;
    const summary = await repo.backupStream({ stream: Readable.from([Buffer.from('dump bytes')]), filename: 'db.sql', tags: ['stream'] });
    expect(await newRuns()).toEqual(['backup']);
    expect((await repo.listSnapshots({ tags: ['stream'] })).map((s) => s.id)).toEqual([summary.snapshotId]);
    await newRuns();
  });
});

describe('ResticRepository: a restore with the expected totals', () => {
  let r: Awaited<ReturnType<typeof loggedRepository>>;
  let snapshotId: string;
  beforeAll(async () => {
    r = await loggedRepository(true);
    ({ snapshotId } = await r.repo.backupFiles({ paths: [path.join(r.src, 'a'), path.join(r.src, 'b')] }));
  });

  it('is one run; its progress ends at what was written', async () => {
    const { repo, src, newRuns } = r;
    await newRuns();
    const target = path.join(await temp.make(), 'fresh');
    const events: { bytesDone: number; bytesTotal: number; filesDone: number; filesTotal: number }[] = [];
    const summary = await repo.restore(
      { snapshotId, targetDir: target, includePaths: [path.join(src, 'a'), path.join(src, 'b/3.png')], expected: { files: 3, bytes: 11 } },
      { onProgress: (e) => e.kind === 'progress' && events.push(e) },
    );
    expect(await newRuns()).toEqual(['restore']);
    expect(summary).toMatchObject({ filesRestored: 3, bytesRestored: 11 });
    expect(events[0]).toMatchObject({ bytesDone: 0, bytesTotal: 11, filesDone: 0, filesTotal: 3 });
    expect(events.at(-1)).toMatchObject({ bytesDone: 11, bytesTotal: 11, filesDone: 3, filesTotal: 3 });
    expect(await treeHash(path.join(target, src))).toEqual(await treeHash(src));
  });

  it('finds an include path the snapshot lacks after that one run, naming the path', async () => {
    const { repo, src, newRuns } = r;
    await newRuns();
    const missing = path.join(src, 'c');
    const failing = repo.restore({ snapshotId, targetDir: await temp.make(), includePaths: [path.join(src, 'a'), missing], expected: { files: 2, bytes: 6 } });
    await expect(failing).rejects.toThrow(SnapshotPathNotFoundError);
    await expect(failing).rejects.toThrow(`path '${missing}' not found in snapshot '${snapshotId}'`);
    expect(await newRuns()).toEqual(['restore']);
  });

  it('into a target that already holds an include path lists the snapshot first', async () => {
    const { repo, src, newRuns } = r;
    await newRuns();
    const target = await temp.make();
    await writeTree(path.join(target, src), { 'a/old.jpg': 'old', 'c/old.png': 'old' });
    const missing = repo.restore({ snapshotId, targetDir: target, includePaths: [path.join(src, 'c')], expected: { files: 1, bytes: 5 } });
    await expect(missing).rejects.toThrow(SnapshotPathNotFoundError);
    expect(await newRuns()).toEqual(['ls']); // refused before writing anything
    const summary = await repo.restore({ snapshotId, targetDir: target, includePaths: [path.join(src, 'a')], expected: { files: 2, bytes: 6 } });
    expect(summary).toMatchObject({ filesRestored: 2, bytesRestored: 6 });
    expect(await newRuns()).toEqual(['ls', 'restore']);
  });
});
