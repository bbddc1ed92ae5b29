import { describe, expect, it } from 'vitest';
import { IllegalStateError, ValidationError } from '../../../../shared/errors.js';
import { silentLogger } from '../../../../shared/logger.js';
import type { Repository } from '../../../../shared/repository/repository.js';
import type { ComponentArtifact } from '../types.js';
import { UploadsDriver } from './driver.js';
import { RestoreStepFailedError } from './errors.js';
import { SnapshotNotFoundError } from '../../../../shared/repository/errors.js';
import { FakeArea, FakeRepository, FakeTree, summary } from './fakes.test-support.js';
import type { TreeEntry } from './ports.js';

const VIEW = '/var/cache/ffk/view';
const CUT = new Date(1_795_000_000_000);
const A = '/u/a';
const B = '/u/b';

const file = (p: string, msFromCut: number): TreeEntry => ({ type: 'file', path: p, size: 5, mtimeNs: BigInt(CUT.getTime() + msFromCut) * 1_000_000n });

function driver(entries: TreeEntry[], area = new FakeArea()): UploadsDriver {
  return new UploadsDriver({ name: 'uploads', paths: [A, `${B}/`], viewDir: VIEW, tree: new FakeTree(entries), area, host: 'h1', now: () => CUT });
}

const tags = { site: 'msk-1', cutId: 'c-1', component: 'uploads:uploads' };
/** `catalogParent`: what the controller's catalog says (absent: it did not say). */
const upload = (d: UploadsDriver, repo: FakeRepository, catalogParent?: { snapshotId: string | undefined }): Promise<ComponentArtifact> =>
  d.upload({ jobId: 'j1', tags, repository: repo as unknown as Repository, logger: silentLogger(), ...(catalogParent ? { catalogParent } : {}) });

describe('UploadsDriver: upload', () => {
  it('backs up the files as of the cut, with the newest snapshot of the component on this host as parent', async () => {
    const repo = new FakeRepository([
      { id: 'a'.repeat(64), time: new Date(1000) },
      { id: 'b'.repeat(64), time: new Date(3000) },
      { id: 'c'.repeat(64), time: new Date(2000) },
    ]);
    const d = driver([file(`${A}/x`, -1), file(`${A}/late`, 1), file(`${B}/y`, 0)]);
    expect(await d.cut()).toEqual({ kind: 'uploads', component: 'uploads:uploads', time: CUT });
    const artifact = await upload(d, repo);
    expect(repo.filters).toEqual([{ tags: ['ffk-site=msk-1', 'ffk-component=uploads:uploads'], host: 'h1' }]);
    expect(repo.backups).toEqual([
      {
        paths: [`${A}/x`, `${B}/y`],
        excludes: [],
        tags: ['ffk-site=msk-1', 'ffk-cut=c-1', 'ffk-component=uploads:uploads'],
        parentId: 'b'.repeat(64),
        host: 'h1',
      },
    ]);
    expect(artifact).toMatchObject({ snapshotIds: ['f'.repeat(64)], files: 1, bytes: 10, dataAddedBytes: 10, cut: { time: CUT } });
    expect(artifact.details).toMatchObject({ newerThanCut: 1, selectedFiles: 2, parentId: 'b'.repeat(64), roots: JSON.stringify({ [A]: A, [B]: B }) });
    await expect(upload(d, repo)).rejects.toThrow(IllegalStateError); // the cut is used up
  });

  it('the next upload takes the last snapshot it stored as parent without asking the repository; if it is gone, looks up the newest', async () => {
    const repo = new FakeRepository([{ id: 'b'.repeat(64), time: new Date(3000) }]);
    const d = driver([file(`${A}/x`, -1)]);
    await d.cut();
    await upload(d, repo);
    expect(repo.filters).toHaveLength(1);
    await d.cut();
    await upload(d, repo);
    expect(repo.filters).toHaveLength(1); // no lookup: the parent is the snapshot stored last
    expect(repo.backups.map((b) => b.parentId)).toEqual(['b'.repeat(64), 'f'.repeat(64)]);
    // The remembered snapshot was removed meanwhile (retention): the repository says so, the driver looks up and retries once.
    let calls = 0;
    const original = repo.backupFiles.bind(repo);
    repo.backupFiles = async (req) => {
      calls += 1;
      if (calls === 1) {
        repo.backups.push(req);
        throw new SnapshotNotFoundError({ url: '/repo', snapshotId: req.parentId ?? '' });
      }
      return original(req);
    };
    await d.cut();
    await upload(d, repo);
    expect(repo.filters).toHaveLength(2);
    expect(repo.backups.slice(2).map((b) => b.parentId)).toEqual(['f'.repeat(64), 'b'.repeat(64)]);
  });

  it("takes the parent the controller's catalog names without asking the repository; if it is gone, looks up the newest", async () => {
    const repo = new FakeRepository([{ id: 'b'.repeat(64), time: new Date(3000) }]);
    const d = driver([file(`${A}/x`, -1)]);
    await d.cut();
    const artifact = await upload(d, repo, { snapshotId: 'c'.repeat(64) });
    expect(repo.filters).toEqual([]);
    expect(repo.backups.map((b) => b.parentId)).toEqual(['c'.repeat(64)]);
    expect(artifact.details).toMatchObject({ parentId: 'c'.repeat(64) });
    // The catalog's parent wins over the snapshot this driver stored last (that cut may have been discarded).
    await d.cut();
    await upload(d, repo, { snapshotId: 'd'.repeat(64) });
    expect(repo.backups.map((b) => b.parentId)).toEqual(['c'.repeat(64), 'd'.repeat(64)]);
    const original = repo.backupFiles.bind(repo);
    repo.backupFiles = async (req) => {
      repo.backupFiles = original;
      repo.backups.push(req);
      throw new SnapshotNotFoundError({ url: '/repo', snapshotId: req.parentId ?? '' });
    };
    await d.cut();
    await upload(d, repo, { snapshotId: 'e'.repeat(64) });
    expect(repo.filters).toHaveLength(1);
    expect(repo.backups.slice(2).map((b) => b.parentId)).toEqual(['e'.repeat(64), 'b'.repeat(64)]);
  });

  it('backs up without a parent and without asking the repository when the catalog has no sealed snapshot of it', async () => {
    const repo = new FakeRepository([{ id: 'b'.repeat(64), time: new Date(3000) }]);
    const d = driver([file(`${A}/x`, -1)]);
    await d.cut();
    const artifact = await upload(d, repo, { snapshotId: undefined });
    expect(repo.filters).toEqual([]);
    expect(repo.backups.map((b) => b.parentId)).toEqual([undefined]);
    expect(artifact.details?.parentId).toBeUndefined();
  });

  it('reports by name every file the repository could not read, sorted and without duplicates', async () => {
    const repo = new FakeRepository([], summary({
      complete: false,
      missingPaths: [`${B}/y`, `${A}/x`],
      itemErrors: [{ path: `${A}/x`, message: 'no such file' }, { path: `${A}/z`, message: 'permission denied' }],
    }));
    const d = driver([file(`${A}/x`, 0), file(`${A}/z`, 0), file(`${B}/y`, 0)]);
    await d.cut();
    expect((await upload(d, repo)).missing).toEqual([`${A}/x`, `${A}/z`, `${B}/y`]);
  });

  it('refuses nested or relative roots at construction', () => {
    const make = (paths: string[]) => () => new UploadsDriver({ name: 'u', paths, viewDir: VIEW, tree: new FakeTree([]), area: new FakeArea() });
    expect(make(['/u', '/u/a'])).toThrow(ValidationError);
    expect(make(['/u', '/u/a'])).toThrow("upload paths '/u' and '/u/a' of 'u' overlap");
    expect(make(['u/a'])).toThrow("upload path 'u/a' of 'u' must be absolute");
  });
});

describe('UploadsDriver: restore', () => {
  const artifact: ComponentArtifact = {
    component: 'uploads:uploads', kind: 'uploads', cut: { kind: 'uploads', component: 'uploads:uploads', time: CUT },
    snapshotIds: ['e'.repeat(64)], bytes: 1, files: 1, dataAddedBytes: 1,
    details: { roots: JSON.stringify({ [A]: '/old/a', [B]: B }) },
  };
  const restore = (d: UploadsDriver, repo: FakeRepository, art = artifact): Promise<unknown> =>
    d.restore({ jobId: 'r1', artifact: art, repository: repo as unknown as Repository, logger: silentLogger() });

  it("refuses to stage when a root's filesystem has less room than the snapshot, before fetching anything", async () => {
    const area = new FakeArea();
    area.free = 0;
    const repo = new FakeRepository();
    const err = await restore(driver([], area), repo).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreStepFailedError);
    expect(err).toMatchObject({ step: 'check space', code: 'ILLEGAL_STATE' });
    expect((err as Error).message).toContain(`not enough free space to stage uploads:uploads beside ${A}: the snapshot's copy needs 1 B, the filesystem has 0 B free`);
    expect(repo.restores).toEqual([]);
  });

  it('stages every root from the path it was backed up from in one repository run, swaps all, then deletes what was set aside', async () => {
    const area = new FakeArea();
    const repo = new FakeRepository();
    await restore(driver([], area), repo);
    expect(repo.restores.map((r) => [r.targetDir, r.includePaths, r.expected])).toEqual([[`${A}/.ffk-restore-r1`, ['/old/a', B], { files: 1, bytes: 1 }]]);
    expect(area.log.filter((l) => !l.startsWith('ensure'))).toEqual([
      `remove ${A}/.ffk-restore-r1`,
      `remove ${B}/.ffk-restore-r1`,
      `move ${A}/.ffk-restore-r1${B} -> ${B}/.ffk-restore-r1${B}`,
      `fold ${A}/.ffk-restore-r1/old/a/.ffk-shield -> ${A}/.ffk-restore-r1/old/a`,
      `fold ${B}/.ffk-restore-r1${B}/.ffk-shield -> ${B}/.ffk-restore-r1${B}`,
      `swap ${A}`,
      `swap ${B}`,
      `remove ${A}/.ffk-restore-r1`,
      `remove ${B}/.ffk-restore-r1`,
      `remove ${A}/.ffk-aside-r1`,
      `remove ${B}/.ffk-aside-r1`,
    ]);
  });

  it('restores a root on another filesystem than the first root by a run of its own', async () => {
    const area = new FakeArea();
    area.otherFilesystem = [`${B}/`];
    const repo = new FakeRepository();
    await restore(driver([], area), repo);
    expect(repo.restores.map((r) => [r.targetDir, r.includePaths])).toEqual([
      [`${A}/.ffk-restore-r1`, ['/old/a', B]],
      [`${B}/.ffk-restore-r1`, [B]],
    ]);
    expect(area.log.filter((l) => !l.startsWith('ensure')).slice(0, 4)).toEqual([
      `remove ${A}/.ffk-restore-r1`,
      `remove ${B}/.ffk-restore-r1`,
      `remove ${A}/.ffk-restore-r1${B}`,
      `remove ${B}/.ffk-restore-r1`,
    ]);
  });

  it('undoes the swaps already done when a later swap fails, and names the step', async () => {
    const area = new FakeArea();
    area.failSwapOf = B;
    const failing = restore(driver([], area), new FakeRepository());
    await expect(failing).rejects.toThrow(RestoreStepFailedError);
    await expect(failing).rejects.toThrow(`restore of uploads:uploads stopped at step 'swap ${B}': rename in ${B} failed`);
    expect(area.log.slice(-4)).toEqual([`swap ${A}`, `undo ${A}`, `remove ${A}/.ffk-restore-r1`, `remove ${B}/.ffk-restore-r1`]);
  });

  it('refuses an artifact of another component', async () => {
    const other = { ...artifact, component: 'uploads:other' };
    const refused = restore(driver([]), new FakeRepository(), other);
    await expect(refused).rejects.toThrow(ValidationError);
    await expect(refused).rejects.toThrow('artifact of uploads:other cannot be restored by uploads:uploads');
  });
});
