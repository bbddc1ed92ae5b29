/**
 * The uploads driver against real restic and real directories: back up, change the tree, restore into
 * place and into another directory, compare file-tree hashes; the cut; files vanishing before they are
 * read (kept by the deletion shield; reported by name without it); version history (a second backup
 * reuses the first); failed restores leave the trees as they were. The shield's own behaviour is in
 * uploads-shield.test.ts.
 */
import { rmSync } from 'node:fs';
import { lstat, mkdir, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createUploadsDriver } from '../../agent/adapters/uploads/factory.js';
import { RestoreStepFailedError } from '../../agent/domain/drivers/uploads/errors.js';
import { SHIELD_NAME } from '../../agent/domain/drivers/uploads/layout.js';
import type { UploadsDriver } from '../../agent/domain/drivers/uploads/driver.js';
import type { ComponentArtifact, DriverProgress } from '../../agent/domain/drivers/types.js';
import { IllegalStateError, NotFoundError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { SnapshotPathNotFoundError } from '../../shared/repository/errors.js';
import type { ResticRepository } from '../../shared/repository/restic.js';
import { Temp, backUp, diskBytes, newRepository, pseudoRandom, treeHash, writeTree } from './uploads-helpers.js';

const temp = new Temp();
afterAll(() => temp.cleanup());

const reserved = (n: string): boolean => n.startsWith('.ffk-');
/** A restore's leftovers (staging, aside); the deletion shield stays by design. */
const leftover = (n: string): boolean => reserved(n) && n !== SHIELD_NAME;
/** Every driver a test made, closed after it (their shields watch the trees). */
const drivers: UploadsDriver[] = [];
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.close()));
});

let repo: ResticRepository;
let repoDir: string;
let base: string;

beforeAll(async () => {
  base = await temp.make();
  ({ repo, dir: repoDir } = await newRepository(base));
});

/** Two fresh upload roots with a small FindFace-like tree; a driver over them. */
async function site(name: string): Promise<{ driver: UploadsDriver; uploads: string; ffupload: string }> {
  const uploads = path.join(base, name, 'findface-security', 'uploads');
  const ffupload = path.join(base, name, 'ffupload');
  await writeTree(uploads, {
    'dossier/1/photo.jpg': pseudoRandom(`${name}-p1`, 40_000),
    'dossier/2/photo.jpg': pseudoRandom(`${name}-p2`, 25_000),
    'events/2026/11/21/full frame 1.jpg': pseudoRandom(`${name}-f1`, 60_000),
    'events/2026/11/21/thumb-1.png': pseudoRandom(`${name}-t1`, 3_000),
    'ünïcødé [x]*?.bin': pseudoRandom(`${name}-u`, 1_000),
    'empty.txt': '',
  });
  await writeTree(ffupload, { 'normalized/1.png': pseudoRandom(`${name}-n1`, 20_000), 'normalized/2.png': pseudoRandom(`${name}-n2`, 20_000) });
  await mkdir(path.join(uploads, 'videos', 'pending'), { recursive: true });
  await symlink('../dossier/1/photo.jpg', path.join(uploads, 'events', 'same-photo.jpg'));
  const past = new Date(Date.now() - 60_000); // everything written so far is clearly before any cut
  for (const p of [uploads, ffupload]) await touchTree(p, past);
  const driver = createUploadsDriver({ kind: 'uploads', name, paths: [uploads, ffupload] }, { host: 'test-host' });
  drivers.push(driver);
  return { driver, uploads, ffupload };
}

async function touchTree(dir: string, when: Date): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await touchTree(full, when);
    if (!entry.isSymbolicLink()) await utimes(full, when, when);
  }
  await utimes(dir, when, when);
}

async function hashes(roots: string[]): Promise<string[][]> {
  return Promise.all(roots.map((r) => treeHash(r, reserved)));
}

function restore(driver: UploadsDriver, artifact: ComponentArtifact, jobId: string, targetDir?: string): ReturnType<UploadsDriver['restore']> {
  return driver.restore({ jobId, artifact, repository: repo, logger: silentLogger(), ...(targetDir ? { targetDir } : {}) });
}

describe('uploads driver: back up, change, restore', () => {
  let s: Awaited<ReturnType<typeof site>>;
  beforeEach(async () => {
    s = await site(`s${Math.random().toString(36).slice(2, 8)}`);
  });

  it('restores into place: files added after the backup are gone, changed and deleted ones are back', async () => {
    const before = await hashes([s.uploads, s.ffupload]);
    const artifact = await backUp({ driver: s.driver, repo, cutId: 'c1' });
    expect(artifact).toMatchObject({ component: s.driver.ref, kind: 'uploads', files: 8 });
    expect(artifact.missing).toBeUndefined();
    expect(artifact.bytes).toBe(40_000 + 25_000 + 60_000 + 3_000 + 1_000 + 20_000 + 20_000);
    expect(artifact.snapshotIds).toHaveLength(1);
    expect(artifact.dataAddedBytes).toBeGreaterThan(169_000);
    expect(artifact.details).toMatchObject({ selectedFiles: 8, symlinks: 1, emptyDirsKept: 1, newerThanCut: 0 });

    await writeFile(path.join(s.uploads, 'dossier/1/photo.jpg'), 'changed');
    await rm(path.join(s.uploads, 'events'), { recursive: true });
    await writeTree(s.uploads, { 'dossier/3/new.jpg': 'added later', 'events': 'now a file where a directory was' });
    await rm(path.join(s.ffupload, 'normalized/2.png'));
    expect(await hashes([s.uploads, s.ffupload])).not.toEqual(before);

    const report = await restore(s.driver, artifact, 'r1');
    expect(report.steps.map((x) => [x.step, x.ok])).toEqual([
      ['resolve roots', true],
      ['check space', true],
      ['stage', true],
      [`check ${s.uploads}`, true],
      [`check ${s.ffupload}`, true],
      [`swap ${s.uploads}`, true],
      [`swap ${s.ffupload}`, true],
      ['cleanup', true],
    ]);
    expect(await hashes([s.uploads, s.ffupload])).toEqual(before);
    expect((await readdir(s.uploads)).filter(leftover)).toEqual([]);
    expect((await readdir(s.ffupload)).filter(leftover)).toEqual([]);
  });

  it('restores into another directory, leaving the live trees alone; refuses a non-empty or overlapping target', async () => {
    const artifact = await backUp({ driver: s.driver, repo, cutId: 'c2' });
    await writeTree(s.uploads, { 'later.jpg': 'after the backup' });
    const live = await hashes([s.uploads, s.ffupload]);
    const target = path.join(await temp.make(), 'restored');
    const report = await restore(s.driver, artifact, 'r2', target);
    expect(report.steps.every((x) => x.ok)).toBe(true);
    // Each root lands under its name in the snapshot, as FindFace lays them out.
    const restored = await hashes([path.join(target, 'uploads'), path.join(target, 'ffupload')]);
    expect(restored[0]).toEqual(live[0]?.filter((l) => !l.startsWith('later.jpg')));
    expect(restored[1]).toEqual(live[1]);
    expect(await hashes([s.uploads, s.ffupload])).toEqual(live);

    const again = restore(s.driver, artifact, 'r3', target);
    await expect(again).rejects.toThrow(RestoreStepFailedError);
    await expect(again).rejects.toThrow(`restore of ${s.driver.ref} stopped at step 'prepare ${target}': restore target '${target}' is not empty`);
    const inside = path.join(s.uploads, 'restore-here');
    await expect(restore(s.driver, artifact, 'r4', inside)).rejects.toThrow(
      `restore target '${inside}' overlaps upload directory '${s.uploads}'`,
    );
  });

  it('leaves out files created after the cut; keeps those of the cut, also one touched after it', async () => {
    let newer = '';
    const artifact = await backUp({
      driver: s.driver,
      repo,
      cutId: 'c3',
      afterCut: async (cut) => {
        await new Promise((r) => setTimeout(r, 30));
        newer = path.join(s.uploads, 'dossier/9/after-cut.jpg');
        await writeTree(s.uploads, { 'dossier/9/after-cut.jpg': 'written after the cut' });
        // utimes takes seconds as a double (~1 µs of rounding at today's epoch): stay clear of ms edges.
        const sameMs = cut.getTime() / 1000 + 0.0005; // 0.5 ms after the cut, still in the cut's millisecond
        await utimes(path.join(s.ffupload, 'normalized/1.png'), sameMs, sameMs);
        const nextMs = cut.getTime() / 1000 + 0.0015; // the next millisecond
        await utimes(path.join(s.ffupload, 'normalized/2.png'), nextMs, nextMs);
      },
    });
    // after-cut.jpg is newer; 2.png, touched in place, is linked on both sides of a watching shield: taken unstat'ed.
    expect(artifact.details).toMatchObject({ newerThanCut: 1, selectedFiles: 8 });
    const target = path.join(await temp.make(), 'restored');
    await restore(s.driver, artifact, 'r5', target);
    // 2.png was in the tree at the cut and only touched after it (same inode): the held shield has it.
    const files = await treeHash(path.join(target, 'ffupload'));
    expect(files.map((l) => l.split(' ')[0])).toEqual(['normalized/1.png', 'normalized/2.png']);
    expect((await treeHash(path.join(target, 'uploads'))).some((l) => l.includes('after-cut'))).toBe(false);
    expect(newer).not.toBe('');
  });

  it('keeps a file deleted between the walk and the read (read through the shield); without a shield reports it by name', async () => {
    const victim = path.join(s.uploads, 'dossier/2/photo.jpg');
    const deleteAfterWalk = (p: DriverProgress): void => {
      if (p.step === 'walk' && p.message?.startsWith('walk done')) rmSync(victim, { force: true }); // before restic reads
    };
    const artifact = await backUp({ driver: s.driver, repo, cutId: 'c4', onProgress: deleteAfterWalk });
    expect(artifact.missing).toBeUndefined();
    expect(artifact.files).toBe(8);
    const target = path.join(await temp.make(), 'restored');
    await restore(s.driver, artifact, 'r6', target);
    expect((await treeHash(path.join(target, 'uploads'))).map((l) => l.split(' ')[0])).toContain('dossier/2/photo.jpg');

    await writeTree(s.uploads, { 'dossier/2/photo.jpg': 'again' });
    const bare = createUploadsDriver({ kind: 'uploads', name: `${s.driver.name}b`, paths: [s.uploads, s.ffupload] }, { shield: false });
    const unshielded = await backUp({ driver: bare, repo, cutId: 'c4b', onProgress: deleteAfterWalk });
    expect(unshielded.missing).toEqual([victim]);
    expect(unshielded.details).toMatchObject({ shield: 'off' });
    const target2 = path.join(await temp.make(), 'restored');
    await restore(bare, unshielded, 'r6b', target2);
    const names = (await treeHash(path.join(target2, s.uploads))).map((l) => l.split(' ')[0]);
    expect(names).toContain('dossier/1/photo.jpg');
    expect(names).not.toContain('dossier/2/photo.jpg');
  });

  it('keeps version history: a second backup of an unchanged tree reads and stores (almost) nothing', async () => {
    const first = await backUp({ driver: s.driver, repo, cutId: 'c5' });
    const size = diskBytes(repoDir);
    const second = await backUp({ driver: s.driver, repo, cutId: 'c6' });
    const added = diskBytes(repoDir) - size;
    expect(second.details).toMatchObject({ parentId: first.snapshotIds[0], filesNew: 0, filesChanged: 0, filesUnmodified: 8 });
    expect(second.snapshotIds[0]).not.toBe(first.snapshotIds[0]);
    expect(second.dataAddedBytes).toBeLessThan(5_000);
    expect(added).toBeLessThan(20_000);
  });

  it('a restore that fails at a step names it and leaves the live trees as they were', async () => {
    const artifact = await backUp({ driver: s.driver, repo, cutId: 'c7' });
    await writeTree(s.uploads, { 'later.jpg': 'after the backup' });
    const extra = path.join(path.dirname(s.ffupload), 'not-in-snapshot');
    await mkdir(extra);
    const live = await hashes([s.uploads, s.ffupload, extra]);
    const wider = createUploadsDriver({ kind: 'uploads', name: s.driver.name, paths: [s.uploads, s.ffupload, extra] });
    const failing = restore(wider, artifact, 'r7');
    await expect(failing).rejects.toThrow(`restore of ${s.driver.ref} stopped at step 'stage'`);
    const err = (await failing.catch((e: unknown) => e)) as RestoreStepFailedError;
    expect(err.cause).toBeInstanceOf(SnapshotPathNotFoundError);
    expect(err.report.steps.at(-1)).toMatchObject({ step: 'stage', ok: false });
    expect(err.message).toContain(`path '${extra}' not found in snapshot`);
    expect(await hashes([s.uploads, s.ffupload, extra])).toEqual(live);
    for (const root of [s.uploads, s.ffupload, extra]) expect((await readdir(root)).filter(leftover)).toEqual([]);
  });

  it('follows a root that is a symlink to a data volume, and keeps an empty root', async () => {
    const volume = path.join(await temp.make(), 'volume');
    await writeTree(volume, { 'a.jpg': 'on the volume' });
    const alias = path.join(path.dirname(s.uploads), 'volume-link');
    await symlink(volume, alias);
    const empty = path.join(path.dirname(s.uploads), 'empty-root');
    await mkdir(empty);
    const driver = createUploadsDriver({ kind: 'uploads', name: `${s.driver.name}v`, paths: [alias, empty] });
    drivers.push(driver);
    const artifact = await backUp({ driver, repo, cutId: 'c8' });
    expect(artifact.details?.roots).toBe(JSON.stringify({ [alias]: '/volume-link', [empty]: '/empty-root' }));
    await writeTree(volume, { 'later.jpg': 'x' });
    await writeTree(empty, { 'later.jpg': 'x' });
    await restore(driver, artifact, 'r8');
    expect((await treeHash(volume, reserved)).map((l) => l.split(' ')[0])).toEqual(['a.jpg']);
    expect(await readdir(empty)).toEqual([SHIELD_NAME]);
    expect((await lstat(alias)).isSymbolicLink()).toBe(true);
  });

  it('still restores a snapshot of the earlier form: one path per file, most below the shield, folded back', async () => {
    // What earlier versions stored: files read through `<root>/.ffk-shield/<rel>`, others at `<root>/<rel>`.
    const shield = path.join(s.uploads, SHIELD_NAME);
    const paths = [path.join(shield, 'dossier/1/photo.jpg'), path.join(shield, 'events/2026/11/21/thumb-1.png'), path.join(s.uploads, 'empty.txt'), path.join(s.ffupload, SHIELD_NAME, 'normalized/1.png')];
    await backUp({ driver: s.driver, repo, cutId: 'c-old-shield' }); // makes sure the shield holds those links
    const old = await repo.backupFiles({ paths, tags: [] });
    const artifact: ComponentArtifact = {
      component: s.driver.ref, kind: 'uploads', cut: { kind: 'uploads', component: s.driver.ref, time: new Date() },
      snapshotIds: [old.snapshotId], bytes: old.totalBytesProcessed, files: old.totalFilesProcessed, dataAddedBytes: 0,
      details: { roots: JSON.stringify({ [s.uploads]: s.uploads, [s.ffupload]: s.ffupload }) },
    };
    const target = path.join(await temp.make(), 'restored');
    await restore(s.driver, artifact, 'r-old', target);
    expect((await treeHash(path.join(target, s.uploads))).map((l) => l.split(' ')[0])).toEqual(['dossier/1/photo.jpg', 'empty.txt', 'events/2026/11/21/thumb-1.png']);
    expect((await treeHash(path.join(target, s.ffupload))).map((l) => l.split(' ')[0])).toEqual(['normalized/1.png']);
  });

  it('refuses to upload without a cut and to prepare with a missing directory', async () => {
    const upload = s.driver.upload({ jobId: 'j', tags: { site: 's', cutId: 'c', component: s.driver.ref }, repository: repo, logger: silentLogger() });
    await expect(upload).rejects.toThrow(IllegalStateError);
    await expect(upload).rejects.toThrow(`${s.driver.ref}: upload called without a cut`);
    const gone = path.join(base, 'no-such-dir');
    const broken = createUploadsDriver({ kind: 'uploads', name: 'broken', paths: [gone] });
    await expect(broken.prepare()).rejects.toThrow(NotFoundError);
    await expect(broken.prepare()).rejects.toThrow(`upload directory '${gone}' of uploads:broken does not exist`);
  });
});
