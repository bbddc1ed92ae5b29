/**
 * Restore safety of the uploads driver, against real restic: a snapshot entry that would land outside the
 * directory being restored (or is no file, directory or symlink) is refused with an error naming it,
 * nothing is written outside, and the live tree is left as it was. A symlink pointing outside its root is
 * no such entry: it is backed up and restored as the symlink it is, named as a warning in the manifest and
 * in the restore's check step, and nothing is ever written through it. Hostile snapshots are both backed
 * up from hostile trees (symlinks out, special files) and crafted by hand (an entry named `..`).
 */
import { execFileSync } from 'node:child_process';
import { lstat, readdir, readlink, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createUploadsDriver } from '../../agent/adapters/uploads/factory.js';
import type { UploadsDriver } from '../../agent/domain/drivers/uploads/driver.js';
import { RestoreStepFailedError } from '../../agent/domain/drivers/uploads/errors.js';
import { SHIELD_NAME } from '../../agent/domain/drivers/uploads/layout.js';
import type { ComponentArtifact } from '../../agent/domain/drivers/types.js';
import { silentLogger } from '../../shared/logger.js';
import { RepositoryCommandError } from '../../shared/repository/errors.js';
import type { ResticRepository } from '../../shared/repository/restic.js';
import { RepoCrafter, type TreeNode } from './uploads-craft.js';
import { PASSWORD, Temp, backUp, newRepository, treeHash, writeTree } from './uploads-helpers.js';

const temp = new Temp();
afterAll(() => temp.cleanup());

let repo: ResticRepository;
let repoDir: string;
let base: string;

beforeAll(async () => {
  base = await temp.make();
  ({ repo, dir: repoDir } = await newRepository(base));
});

interface Fixture {
  driver: UploadsDriver;
  root: string;
  outside: string;
}

let fx: Fixture;
beforeEach(async () => {
  const dir = await temp.make('ffk-uploads-escape-');
  const root = path.join(dir, 'site', 'uploads');
  const outside = path.join(dir, 'outside');
  await writeTree(root, { 'dossier/1.jpg': 'photo 1', 'sub/x.jpg': 'x' });
  await writeTree(outside, { secret: 'must not be touched' });
  fx = { driver: createUploadsDriver({ kind: 'uploads', name: path.basename(dir).replace(/[^A-Za-z0-9]/g, ''), paths: [root] }), root, outside };
});
afterEach(() => fx.driver.close());

const restore = (artifact: ComponentArtifact, jobId: string): ReturnType<UploadsDriver['restore']> =>
  fx.driver.restore({ jobId, artifact, repository: repo, logger: silentLogger() });

/** Runs `attempt`, expects it to be refused at `step`, and checks nothing changed inside or outside. */
async function expectRefused(attempt: () => Promise<unknown>, step: string): Promise<RestoreStepFailedError> {
  const live = await treeHash(fx.root);
  const outside = await treeHash(fx.outside);
  const err = await attempt().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RestoreStepFailedError);
  const failed = err as RestoreStepFailedError;
  expect(failed.step).toBe(step);
  expect(failed.report.steps.at(-1)).toMatchObject({ step, ok: false });
  expect(await treeHash(fx.root)).toEqual(live);
  expect(await treeHash(fx.outside)).toEqual(outside);
  expect((await readdir(fx.root)).filter((n) => n.startsWith('.ffk-') && n !== SHIELD_NAME)).toEqual([]); // the shield stays
  expect(await readdir(path.dirname(fx.root))).toEqual(['uploads']);
  return failed;
}

describe('uploads backup and restore of symlinks leaving their root, and of entries escaping the target', () => {
  it.each([
    ['an absolute symlink out', (fx_: Fixture) => fx_.outside, 'points outside'],
    ['a relative symlink climbing out', () => '../../../outside/secret', 'climbs out of'],
    // Lexically '<root>/sub/../self/..' is the root itself; resolved through the link 'self' it is above it.
    ['a symlink climbing out through another symlink to the root', () => '../self/..', 'climbs out of'],
  ])('%s: backed up with a warning, restored as that symlink with a warning, nothing written outside', async (_name, target, reason) => {
    await symlink('.', path.join(fx.root, 'self'));
    await symlink(target(fx), path.join(fx.root, 'sub', 'evil'));
    const entry = path.join(fx.root, 'sub', 'evil');
    const artifact = await backUp({ driver: fx.driver, repo, cutId: 'esc' });
    expect(artifact.details?.symlinksLeavingRoot).toBe(1);
    const warnings = JSON.parse(String(artifact.details?.symlinkWarnings)) as string[];
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`${entry}: is a symlink to '${target(fx)}', which ${reason} '`);
    const outside = await treeHash(fx.outside);
    await rm(entry);
    const report = await restore(artifact, 'r-esc');
    const check = report.steps.find((s) => s.step === `check ${fx.root}`);
    expect(check?.ok).toBe(true);
    expect(check?.detail).toContain(`WARNING: 1 symlink(s) leave the root, restored as symlinks: '${entry}' is a symlink to '${target(fx)}', which ${reason}`);
    expect((await lstat(entry)).isSymbolicLink()).toBe(true);
    expect(await readlink(entry)).toBe(target(fx));
    expect(await treeHash(fx.outside)).toEqual(outside);
    // Into another directory as well: the link lands there as a link, and nothing outside changes.
    const target2 = path.join(await temp.make(), 't');
    await fx.driver.restore({ jobId: 'r-esc2', artifact, repository: repo, logger: silentLogger(), targetDir: target2 });
    expect(await readlink(path.join(target2, 'uploads', 'sub', 'evil'))).toBe(target(fx)); // the root under its name
    expect(await treeHash(fx.outside)).toEqual(outside);
  });

  it('does not write through a live symlink that replaced a directory of the snapshot', async () => {
    const artifact = await backUp({ driver: fx.driver, repo, cutId: 'through' });
    await rm(path.join(fx.root, 'sub'), { recursive: true });
    await symlink(fx.outside, path.join(fx.root, 'sub'));
    const report = await restore(artifact, 'r-through');
    expect(report.steps.every((s) => s.ok)).toBe(true);
    expect(await readdir(fx.outside)).toEqual(['secret']);
    expect((await lstat(path.join(fx.root, 'sub'))).isDirectory()).toBe(true);
    expect(await treeHash(fx.root, (n) => n === SHIELD_NAME)).toEqual(['dossier/1.jpg 7 ' + sha('photo 1'), 'sub/x.jpg 1 ' + sha('x')]);
  });

  it("refuses a crafted snapshot holding an entry named '..'", async () => {
    const artifact = await backUp({ driver: fx.driver, repo, cutId: 'dotdot' });
    const crafter = new RepoCrafter(repoDir, PASSWORD);
    // The root is stored under its name: 'sub' is at /uploads/sub.
    const crafted = await crafter.rewrite(artifact.snapshotIds[0] ?? '', '/uploads', (nodes) => {
      const sub = nodes.find((n) => n.name === 'sub') as TreeNode;
      return [...nodes, { ...sub, name: '..' }];
    });
    const err = await expectRefused(() => restore({ ...artifact, snapshotIds: [crafted] }, 'r-dotdot'), 'stage');
    expect(err.cause).toBeInstanceOf(RepositoryCommandError);
    expect(err.message).toContain('invalid child node name ..');
    expect(await readdir(path.dirname(path.dirname(fx.root)))).not.toContain('x.jpg');
  });

  it('refuses special files (a fifo) in a snapshot', async () => {
    execFileSync('mkfifo', [path.join(fx.root, 'sub', 'pipe')]);
    const out = execFileSync('restic', ['--no-cache', 'backup', '--json', '-q', fx.root], {
      env: { ...process.env, RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: PASSWORD },
      encoding: 'utf8',
    });
    const { snapshot_id: shortId } = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { snapshot_id: string };
    await rm(path.join(fx.root, 'sub', 'pipe'));
    const artifact: ComponentArtifact = {
      component: fx.driver.ref,
      kind: 'uploads',
      cut: { kind: 'uploads', component: fx.driver.ref, time: new Date() },
      snapshotIds: [shortId],
      bytes: 0,
      files: 0,
      dataAddedBytes: 0,
    };
    const err = await expectRefused(() => restore(artifact, 'r-fifo'), `check ${fx.root}`);
    expect(err.message).toContain(`entry '${path.join(fx.root, 'sub', 'pipe')}' is a fifo, not a file, directory or symlink`);
  });
});

function sha(s: string): string {
  return execFileSync('sha256sum', { input: s, encoding: 'utf8' }).split(' ')[0] ?? '';
}
