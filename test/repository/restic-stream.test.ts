/** Stream backups (stdin) and dumps against the real restic: round trip, and no snapshot on a failed source. */
import { readdir } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../../shared/errors.js';
import { BackupSourceFailedError } from '../../shared/repository/errors.js';
import type { ResticRepository } from '../../shared/repository/restic.js';
import { TempDirs, hashStream, newRepository, pseudoRandomStream } from './helpers.js';

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

async function eventually(probe: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    if (await probe()) return true;
  }
  return probe();
}


/**
 * The repository's locks. A restic interrupted while it wrote its lock can leave the local backend's
 * temporary file (`<id>-tmp-<n>`): not a lock, restic ignores it (check and prune run beside it).
 */
async function locks(repoDir: string): Promise<string[]> {
  return (await readdir(`${repoDir}/locks`)).filter((name) => !/-tmp-\d+$/.test(name));
}

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
