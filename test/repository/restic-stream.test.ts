/** Stream backups (stdin) and dumps against the real restic: round trip, and no snapshot on a failed source. */
import { readdir } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../../shared/errors.js';
import { BackupSourceFailedError, RepositoryWrongPasswordError } from '../../shared/repository/errors.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { TempDirs, eventually, hashStream, locks, newRepository, pseudoRandomStream } from './helpers.js';

const temp = new TempDirs();
let repo: ResticRepository;
let repoDir: string;
let listDir: string;

beforeAll(async () => {
  listDir = await temp.make('ffk-repo-tmp-');
  ({ repo, dir: repoDir } = await newRepository(temp, { tmpDir: listDir }));
  await repo.init();
});
afterAll(() => temp.cleanup());

const SIZE = 50 * 1024 * 1024;
let dumpedId = '';

describe('ResticRepository: stream backup and dump', () => {
  it('backs up a 50 MB stream without temp files and dumps it back byte for byte', async () => {
    const expected = await hashStream(pseudoRandomStream('dump', SIZE));
    let completeCalled = false;
    const started = Date.now();
    const summary = await repo.backupStream({
      stream: pseudoRandomStream('dump', SIZE),
      filename: 'ffsecurity.sql',
      tags: ['ffk-component=postgres:main'],
      sourceComplete: async () => {
        completeCalled = true;
      },
    });
    const backupMs = Date.now() - started;
    expect(completeCalled).toBe(true);
    expect(summary.totalBytesProcessed).toBe(SIZE);
    expect(summary.complete).toBe(true);
    expect(await readdir(listDir)).toEqual([]);
    const dumpStart = Date.now();
    const got = await hashStream(repo.dump({ snapshotId: summary.snapshotId, path: '/ffsecurity.sql' }));
    console.info(`stream 50 MiB: backup ${backupMs} ms, dump ${Date.now() - dumpStart} ms`);
    expect(got).toEqual(expected);
    const [snap] = await repo.listSnapshots({ tags: ['ffk-component=postgres:main'] });
    expect(snap?.paths).toEqual(['/ffsecurity.sql']);
    dumpedId = summary.snapshotId;
  });

  it('stops restic when the reader of a dump goes away, leaving no lock', async () => {
    const stream = repo.dump({ snapshotId: dumpedId, path: '/ffsecurity.sql' });
    let first = 0;
    for await (const chunk of stream) {
      first = (chunk as Buffer).length;
      break; // destroys the stream
    }
    expect(first).toBeGreaterThan(0);
    expect(await eventually(async () => (await locks(repoDir)).length === 0)).toBe(true);
  });

  it('creates no snapshot when the source stream errors midway', async () => {
    const before = (await repo.listSnapshots()).length;
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1024 * 1024, 1);
      await new Promise((r) => setTimeout(r, 200));
      throw new Error('pg_dump exited with code 1');
    }
    const attempt = repo.backupStream({ stream: Readable.from(failing()), filename: 'broken.sql' });
    await expect(attempt).rejects.toThrow(BackupSourceFailedError);
    await expect(attempt).rejects.toThrow(
      `source of 'broken.sql' failed (pg_dump exited with code 1); no snapshot was created in ${repoDir}`,
    );
    expect((await repo.listSnapshots()).length).toBe(before);
    expect(await locks(repoDir)).toEqual([]);
  });

  it('creates no snapshot when sourceComplete rejects after a clean end of stream', async () => {
    const before = (await repo.listSnapshots()).length;
    const attempt = repo.backupStream({
      stream: Readable.from([Buffer.from('-- partial dump\n')]),
      filename: 'partial.sql',
      sourceComplete: () => Promise.reject(new Error('producer exited with code 2')),
    });
    await expect(attempt).rejects.toThrow("source of 'partial.sql' failed (producer exited with code 2)");
    expect((await repo.listSnapshots()).length).toBe(before);
  });

  it('is cancelled by its AbortSignal, leaving no snapshot and no lock', async () => {
    const before = (await repo.listSnapshots()).length;
    const source = new PassThrough();
    source.write(Buffer.alloc(1024, 7)); // and never ended
    const controller = new AbortController();
    const attempt = repo.backupStream({ stream: source, filename: 'never.sql' }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 1500);
    await expect(attempt).rejects.toThrow(CancelledError);
    await expect(attempt).rejects.toThrow(`backup on repository ${repoDir} was cancelled`);
    expect(source.destroyed).toBe(true);
    expect((await repo.listSnapshots()).length).toBe(before);
    expect(await locks(repoDir)).toEqual([]);
  });
});

describe('ResticRepository: a stream backup opened before its data', () => {
  it('opens the repository first, then takes the data like a stream backup', async () => {
    const opened = await repo.openBackupStream({ filename: 'ahead.sql', tags: ['ffk-cut=ahead'] });
    expect(opened.usable).toBe(true);
    // open means locked and waiting: restic holds the repository's shared lock and has read nothing
    expect((await locks(repoDir)).length).toBe(1);
    const expected = await hashStream(pseudoRandomStream('ahead', 5 << 20));
    const progress: string[] = [];
    const summary = await opened.write(
      { stream: pseudoRandomStream('ahead', 5 << 20), sourceComplete: () => Promise.resolve() },
      { onProgress: (e) => progress.push(e.kind) },
    );
    expect(opened.usable).toBe(false);
    expect(summary.totalBytesProcessed).toBe(5 << 20);
    expect(progress).toContain('summary');
    expect(await hashStream(repo.dump({ snapshotId: summary.snapshotId, path: '/ahead.sql' }))).toEqual(expected);
    const [snap] = await repo.listSnapshots({ tags: ['ffk-cut=ahead'] });
    expect(snap?.id).toBe(summary.snapshotId);
    expect(await locks(repoDir)).toEqual([]);
    await expect(opened.write({ stream: Readable.from([Buffer.from('again')]) })).rejects.toThrow("the stream backup of 'ahead.sql' opened ahead was written");
  });

  it('fails to open with a wrong password, naming the repository', async () => {
    const wrong = new ResticRepository({ url: repoDir, password: 'not-the-password' });
    const attempt = wrong.openBackupStream({ filename: 'never.sql' });
    await expect(attempt).rejects.toThrow(RepositoryWrongPasswordError);
    await expect(attempt).rejects.toThrow(repoDir);
  });

  it('cancelled, or left without data past its idle time, it stops without a snapshot or a lock', async () => {
    const before = (await repo.listSnapshots()).length;
    const cancelled = await repo.openBackupStream({ filename: 'cancelled.sql' });
    await cancelled.cancel();
    expect(cancelled.usable).toBe(false);
    await cancelled.cancel(); // idempotent
    const idle = await repo.openBackupStream({ filename: 'idle.sql' }, { idleMs: 300 });
    expect(await eventually(() => Promise.resolve(!idle.usable))).toBe(true);
    expect(await eventually(async () => (await locks(repoDir)).length === 0)).toBe(true);
    expect((await repo.listSnapshots()).length).toBe(before);
  });

  it('creates no snapshot when its source fails, and is cancelled by the write\'s AbortSignal', async () => {
    const before = (await repo.listSnapshots()).length;
    const failed = await repo.openBackupStream({ filename: 'broken.sql' });
    const attempt = failed.write({ stream: Readable.from([Buffer.from('-- partial\n')]), sourceComplete: () => Promise.reject(new Error('pg_dump exited with code 1')) });
    await expect(attempt).rejects.toThrow(`source of 'broken.sql' failed (pg_dump exited with code 1); no snapshot was created in ${repoDir}`);
    const aborted = await repo.openBackupStream({ filename: 'aborted.sql' });
    const source = new PassThrough();
    source.write(Buffer.alloc(1024, 7)); // and never ended
    const controller = new AbortController();
    const writing = aborted.write({ stream: source }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await expect(writing).rejects.toThrow(CancelledError);
    await expect(writing).rejects.toThrow(`backup on repository ${repoDir} was cancelled`);
    expect((await repo.listSnapshots()).length).toBe(before);
    expect(await locks(repoDir)).toEqual([]);
  });
});
