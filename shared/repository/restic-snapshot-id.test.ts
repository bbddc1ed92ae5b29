/** When restic's own files tell a saved snapshot's full id, and when the adapter must list snapshots instead. */
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.js';
import type { ResticContext } from './restic-run.js';
import { savedSnapshotId } from './restic-snapshot-id.js';
import { parseRepositoryUrl } from './url.js';

const SHORT = 'ab12cd34';
const ID = `${SHORT}${'0'.repeat(56)}`;
const TWIN = `${SHORT}${'1'.repeat(56)}`;
const STARTED = Date.now();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ffk-snapshot-id-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function ctx(url: string, cacheDir?: string): ResticContext {
  return { binary: 'restic', url: parseRepositoryUrl(url), env: {}, globalArgs: [], secrets: [], logger: silentLogger(), ...(cacheDir ? { cacheDir } : {}) };
}

/** Writes an (empty) snapshot file; `ageMs` back-dates it. */
async function put(file: string, ageMs = 0): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, '');
  const at = (STARTED - ageMs) / 1000;
  await utimes(file, at, at);
}

const cached = (cache: string, repositoryId: string, id: string): string => path.join(cache, repositoryId, 'snapshots', id.slice(0, 2), id);

describe('savedSnapshotId', () => {
  it('takes a full id as reported (restic ≥ 0.17)', async () => {
    expect(await savedSnapshotId(ctx('sftp:backup@host:/srv/r'), ID, STARTED)).toBe(ID);
  });

  it.each([
    { name: 'one cached snapshot file written since the backup started', files: [{ repo: 'r1', id: ID, ageMs: 0 }], want: ID },
    { name: 'the same short id in another repository, written before', files: [{ repo: 'r1', id: ID, ageMs: 0 }, { repo: 'r2', id: TWIN, ageMs: 60_000 }], want: ID },
    { name: 'only a file written before the backup (a deleted snapshot)', files: [{ repo: 'r1', id: TWIN, ageMs: 60_000 }], want: undefined },
    { name: 'two files written since the backup started', files: [{ repo: 'r1', id: ID, ageMs: 0 }, { repo: 'r2', id: TWIN, ageMs: 0 }], want: undefined },
    { name: 'nothing cached', files: [], want: undefined },
  ])('a remote repository with a cache: $name', async ({ files, want }) => {
    const cache = path.join(dir, 'cache');
    await mkdir(cache);
    for (const f of files) await put(cached(cache, f.repo, f.id), f.ageMs);
    expect(await savedSnapshotId(ctx('sftp:backup@host:/srv/r', cache), SHORT, STARTED)).toBe(want);
  });

  it.each(['', 'local:'])('a local repository (%s) tells it from its snapshots directory, without a cache', async (prefix) => {
    const repo = path.join(dir, 'repo');
    await put(path.join(repo, 'snapshots', ID), 3_600_000); // a local repository's own files need no age check
    await put(path.join(repo, 'snapshots', `ff${'0'.repeat(62)}`));
    expect(await savedSnapshotId(ctx(`${prefix}${repo}`), SHORT, STARTED)).toBe(ID);
    await put(path.join(repo, 'snapshots', TWIN));
    expect(await savedSnapshotId(ctx(`${prefix}${repo}`), SHORT, STARTED)).toBeUndefined();
  });

  it('a remote repository without a cache cannot tell', async () => {
    expect(await savedSnapshotId(ctx('s3:https://s3.example.com/bucket'), SHORT, STARTED)).toBeUndefined();
  });
});
