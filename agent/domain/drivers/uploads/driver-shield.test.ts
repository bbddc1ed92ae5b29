/**
 * The uploads driver with a deletion shield, on fakes: when the shield is opened, settled, held and
 * released around the cut protocol; what the upload reads through it; what the artifact reports.
 */
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../../../shared/errors.js';
import { silentLogger } from '../../../../shared/logger.js';
import type { Repository } from '../../../../shared/repository/repository.js';
import type { ComponentArtifact } from '../types.js';
import { UploadsDriver } from './driver.js';
import { FakeArea, FakeRepository, FakeShield, FakeTree } from './fakes.test-support.js';
import type { LiveState, TreeEntry } from './ports.js';

const VIEW = '/var/cache/ffk/view';
const CUT = new Date(1_795_000_000_000);
const A = '/u/a';
const ns = (msFromCut: number): bigint => BigInt(CUT.getTime() + msFromCut) * 1_000_000n;

const live = (rel: string, msFromCut: number, shielded = true): TreeEntry => ({
  type: 'file',
  path: `${A}/${rel}`,
  size: 5,
  mtimeNs: ns(msFromCut),
  ...(shielded ? { shieldPath: `${A}/.ffk-shield/${rel}` } : {}),
});
const shieldOnly = (rel: string, msFromCut: number, state: LiveState): TreeEntry => ({
  type: 'shield-only',
  path: `${A}/.ffk-shield/${rel}`,
  livePath: `${A}/${rel}`,
  size: 7,
  mtimeNs: ns(msFromCut),
  live: state,
});

interface Rig {
  driver: UploadsDriver;
  shield: FakeShield;
  tree: FakeTree;
  repo: FakeRepository;
  log: string[];
}

function rig(entries: TreeEntry[], maxHoldMs?: number): Rig {
  const log: string[] = [];
  const shield = new FakeShield(log);
  const tree = new FakeTree(entries);
  const repo = new FakeRepository();
  repo.log = log;
  const now = (): Date => {
    log.push('clock');
    return CUT;
  };
  const driver = new UploadsDriver({ name: 'uploads', paths: [A], viewDir: VIEW, tree, area: new FakeArea(), shield, host: 'h1', now, ...(maxHoldMs ? { maxHoldMs } : {}) });
  return { driver, shield, tree, repo, log };
}

const upload = (r: Rig): Promise<ComponentArtifact> =>
  r.driver.upload({ jobId: 'j1', tags: { site: 's', cutId: 'c', component: 'uploads:uploads' }, repository: r.repo as unknown as Repository, logger: silentLogger() });

async function cutProtocol(r: Rig): Promise<void> {
  await r.driver.prepare();
  await r.driver.freeze();
  await r.driver.cut();
  await r.driver.thaw();
}


/** Waits (polling) until `ok()`; a loaded machine may run timers late, so no fixed sleep is trusted. */
async function until(ok: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('UploadsDriver with a deletion shield', () => {
  it('opens the shield once, settles it in the freeze, holds it at the cut time, releases it after the backup', async () => {
    const r = rig([live('x.jpg', -5)]);
    await r.driver.open();
    await cutProtocol(r);
    await upload(r);
    await r.driver.prepare(); // opened already: not again
    expect(r.log).toEqual(['open /u/a', 'settle 0/3000', 'clock', 'hold', 'backup trees', 'release []']);
    expect(r.shield.cutMs).toBe(CUT.getTime());
    expect(r.tree.walks[0]).toMatchObject({ shield: '.ffk-shield' });
    expect(r.shield.isHeld).toBe(false);
  });

  it('backs up the held shield under the root\'s name, after adopting the files of the cut it lacks', async () => {
    const r = rig([
      live('kept.jpg', -5), // shielded: read through its link
      live('missed.jpg', -5, false), // no link (watcher missed it): read live, counted, rechecked
      live('late.jpg', 5), // after the cut
      shieldOnly('deleted.jpg', -10, { kind: 'absent' }), // deleted after the cut
      shieldOnly('replaced.jpg', -10, { kind: 'file', mtimeNs: ns(3) }), // replaced after the cut: the shield has the cut's version
      shieldOnly('old-replaced.jpg', -10, { kind: 'file', mtimeNs: ns(-2) }), // replaced before the cut: the live one is the cut's
      shieldOnly('born-late.jpg', 4, { kind: 'absent' }), // created and deleted after the cut
    ]);
    await cutProtocol(r);
    const artifact = await upload(r);
    expect(r.repo.backups).toEqual([]);
    expect(r.repo.treeBackups).toEqual([
      { trees: [{ name: 'a', dir: `${A}/.ffk-shield` }], viewDir: VIEW, tags: ['ffk-site=s', 'ffk-cut=c', 'ffk-component=uploads:uploads'], host: 'h1' },
    ]);
    expect(artifact.details).toMatchObject({
      roots: JSON.stringify({ [A]: '/a' }),
      snapshotLayout: 'named',
      shield: 'watching',
      shieldRescanned: false,
      shieldSettleMs: 21,
      shieldSettled: true,
      shieldReadFiles: 1,
      shieldOnlyFiles: 2,
      unshieldedFiles: 1,
      shieldRemoved: 2,
      shieldRelinked: 1,
      selectedFiles: 4,
      newerThanCut: 1,
    });
    const recheck = `${A}/missed.jpg ${A}/deleted.jpg ${A}/replaced.jpg ${A}/old-replaced.jpg ${A}/born-late.jpg`;
    expect(r.log.slice(-3)).toEqual([`adopt [${A}/missed.jpg]`, 'backup trees', `release [${recheck}]`]);
  });

  it('a shield that has not caught up fails the freeze, naming what is pending; no cut is taken', async () => {
    const r = rig([live('x.jpg', -5)]);
    await r.driver.prepare();
    r.shield.behind = 7;
    const err = await r.driver.freeze().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe(
      'uploads:uploads: the deletion shield did not catch up with the upload directories within 3000 ms (7 change(s) still pending); ' +
        'the cut is abandoned so that no snapshot misses a file (the host is busy: try again)',
    );
    expect(r.shield.isHeld).toBe(false);
  });

  it('a release (abort) during the upload leaves the hold to the upload, which ends it once the read is over', async () => {
    const r = rig([live('x.jpg', -5)]);
    await cutProtocol(r);
    let open = (): void => undefined;
    r.repo.gate = new Promise<void>((resolve) => (open = resolve));
    const running = upload(r);
    await until(() => r.log.at(-1) === 'backup trees');
    await r.driver.release();
    expect(r.shield.isHeld).toBe(true);
    expect(r.log.at(-1)).toBe('backup trees');
    open();
    await running;
    expect(r.shield.isHeld).toBe(false);
  });

  it('releases the shield on abort after the cut, and after a failed backup', async () => {
    const aborted = rig([]);
    await cutProtocol(aborted);
    await aborted.driver.release();
    expect(aborted.log.slice(-1)).toEqual(['release []']);
    expect(aborted.shield.isHeld).toBe(false);

    const failing = rig([live('x.jpg', -5)]);
    failing.repo.failWith = new Error('repository unreachable');
    await cutProtocol(failing);
    await expect(upload(failing)).rejects.toThrow('repository unreachable');
    expect(failing.shield.isHeld).toBe(false);
    expect(failing.log.slice(-2)).toEqual(['backup trees', 'release []']);
  });

  it('lets the shield go when no upload starts within maxHoldMs of the cut, and the late upload says so', async () => {
    const r = rig([live('x.jpg', -5)], 200);
    await cutProtocol(r);
    expect(r.shield.isHeld).toBe(true);
    await until(() => !r.shield.isHeld);
    expect(r.log.at(-1)).toBe('release []');
    const artifact = await upload(r);
    // The shield is no view of the cut any more: the files of the cut are listed one by one, as without a shield.
    expect(artifact.details).toMatchObject({ shield: 'released before the upload (hold ran out)', snapshotLayout: 'files', roots: JSON.stringify({ [A]: A }) });
    expect(r.repo.backups[0]?.paths).toEqual([`${A}/.ffk-shield/x.jpg`]);

    const inTime = rig([live('x.jpg', -5)], 500);
    await cutProtocol(inTime);
    await upload(inTime);
    await new Promise((resolve) => setTimeout(resolve, 600)); // past the hold's end: its timer must not release again
    expect(inTime.log.filter((l) => l.startsWith('release'))).toEqual(['release []']); // once, by the upload
  });

  it('a degraded shield is rescanned before the walk, and the artifact says so', async () => {
    const r = rig([live('x.jpg', -5)]);
    await r.driver.prepare();
    r.shield.degrade("cannot watch '/u/a/d': ENOSPC");
    await r.driver.freeze();
    await r.driver.cut();
    const artifact = await upload(r);
    expect(r.log.indexOf('rescan')).toBeGreaterThan(r.log.indexOf('hold'));
    expect(r.log.indexOf('rescan')).toBeLessThan(r.log.indexOf('backup trees'));
    expect(artifact.details).toMatchObject({ shield: "degraded: cannot watch '/u/a/d': ENOSPC", shieldRescanned: true });
  });

  it.each([
    ['named', { [A]: '/a' }],
    ['direct', { [A]: `${A}/.ffk-shield` }],
  ] as const)('records how the repository stored the trees (%s) and where each root is, for the restore', async (layout, roots) => {
    const r = rig([live('x.jpg', -5)]);
    r.repo.layout = layout;
    await cutProtocol(r);
    const artifact = await upload(r);
    expect(artifact.details).toMatchObject({ snapshotLayout: layout, roots: JSON.stringify(roots) });
  });

  it('names each root by its last path component in the snapshot, distinct names for equal ones', async () => {
    const log: string[] = [];
    const repo = new FakeRepository();
    const paths = ['/var/lib/findface-security/uploads', '/var/lib/ffupload', '/srv/other/uploads'];
    const driver = new UploadsDriver({ name: 'u', paths, tree: new FakeTree([]), area: new FakeArea(), shield: new FakeShield(log), viewDir: '/var/cache/ffk/view/u', now: () => CUT });
    await cutProtocol({ driver } as Rig);
    const artifact = await driver.upload({ jobId: 'j', tags: { site: 's', cutId: 'c', component: 'uploads:u' }, repository: repo as unknown as Repository, logger: silentLogger() });
    expect(repo.treeBackups[0]).toMatchObject({
      viewDir: '/var/cache/ffk/view/u',
      trees: [
        { name: 'uploads', dir: '/var/lib/findface-security/uploads/.ffk-shield' },
        { name: 'ffupload', dir: '/var/lib/ffupload/.ffk-shield' },
        { name: 'uploads-2', dir: '/srv/other/uploads/.ffk-shield' },
      ],
    });
    expect(JSON.parse(String(artifact.details?.roots))).toEqual({
      '/var/lib/findface-security/uploads': '/uploads',
      '/var/lib/ffupload': '/ffupload',
      '/srv/other/uploads': '/uploads-2',
    });
  });

  it('rescans the shield after a restore into place, and closes it', async () => {
    const r = rig([]);
    await r.driver.open();
    const artifact: ComponentArtifact = {
      component: 'uploads:uploads', kind: 'uploads', cut: { kind: 'uploads', component: 'uploads:uploads', time: CUT },
      snapshotIds: ['e'.repeat(64)], bytes: 1, files: 1, dataAddedBytes: 1,
    };
    const report = await r.driver.restore({ jobId: 'r1', artifact, repository: r.repo as unknown as Repository, logger: silentLogger() });
    expect(report.steps.at(-1)).toMatchObject({ step: 'cleanup', ok: true, detail: 'previous entries deleted; shield rescanned (3 linked, 0 relinked, 0 removed)' });
    expect(report.steps.find((s) => s.step === 'stage')?.detail).toBe('1 files, 1 bytes; 2 entries folded back from the shield');
    await r.driver.close();
    expect(r.log.slice(-2)).toEqual(['rescan', 'close']);
  });

  it('without a shield: nothing to settle or hold, the walk is plain, the artifact says shield off', async () => {
    const tree = new FakeTree([live('x.jpg', -5, false)]);
    const driver = new UploadsDriver({ name: 'uploads', paths: [A], viewDir: VIEW, tree, area: new FakeArea(), now: () => CUT });
    const repo = new FakeRepository();
    await driver.open();
    await driver.freeze();
    await driver.cut();
    const artifact = await driver.upload({ jobId: 'j', tags: { site: 's', cutId: 'c', component: 'uploads:uploads' }, repository: repo as unknown as Repository, logger: silentLogger() });
    expect(tree.walks[0]?.shield).toBeUndefined();
    expect(repo.backups[0]?.paths).toEqual([`${A}/x.jpg`]);
    expect(artifact.details).toMatchObject({ shield: 'off' });
    expect(artifact.details?.unshieldedFiles).toBeUndefined();
  });
});

describe('UploadsDriver: the backup opened at prepare', () => {
  const TAGS = { site: 's', cutId: 'c', component: 'uploads:uploads' };
  const PARENT = 'a'.repeat(64);
  const prepareCtx = (r: Rig, catalogParent?: { snapshotId: string | undefined }) => ({
    tags: TAGS,
    repository: r.repo as unknown as Repository,
    ...(catalogParent ? { catalogParent } : {}),
  });
  const uploadWith = (r: Rig, catalogParent?: { snapshotId: string | undefined }): Promise<ComponentArtifact> =>
    r.driver.upload({ jobId: 'j1', tags: TAGS, repository: r.repo as unknown as Repository, logger: silentLogger(), ...(catalogParent ? { catalogParent } : {}) });
  async function protocol(r: Rig, catalogParent?: { snapshotId: string | undefined }): Promise<void> {
    await r.driver.prepare(prepareCtx(r, catalogParent));
    await r.driver.freeze();
    await r.driver.cut();
    await r.driver.thaw();
  }

  it('is opened with the catalog\'s parent at prepare (the repository check) and run by the upload: no second backup', async () => {
    const r = rig([live('x.jpg', -5)]);
    expect(r.driver.opensRepository).toBe(true);
    await protocol(r, { snapshotId: PARENT });
    const artifact = await uploadWith(r, { snapshotId: PARENT });
    expect(r.log).toEqual(['open /u/a', 'open trees', 'settle 0/3000', 'clock', 'hold', 'run opened trees', 'release []']);
    expect(r.repo.opened).toHaveLength(1);
    expect(r.repo.opened[0]).toMatchObject({ fate: 'run', request: { parentId: PARENT, viewDir: VIEW, trees: [{ name: 'a', dir: '/u/a/.ffk-shield' }], host: 'h1' } });
    expect(r.repo.opened[0]?.request.tags).toEqual(expect.arrayContaining(['ffk-site=s', 'ffk-cut=c']));
    expect(r.repo.treeBackups).toEqual([]);
    expect(artifact.details?.parentId).toBe(PARENT);
  });

  it('a site\'s first snapshot (the catalog has none) is opened without a parent; the next prepare without the catalog uses the one it stored', async () => {
    const r = rig([live('x.jpg', -5)]);
    await protocol(r, { snapshotId: undefined });
    await uploadWith(r, { snapshotId: undefined });
    expect(r.repo.opened[0]?.request.parentId).toBeUndefined();
    await protocol(r);
    await uploadWith(r);
    expect(r.repo.opened[1]).toMatchObject({ fate: 'run', request: { parentId: 'f'.repeat(64) } });
  });

  it('an upload that wants another parent stops it and starts its own backup', async () => {
    const r = rig([live('x.jpg', -5)]);
    await protocol(r, { snapshotId: PARENT });
    await uploadWith(r, { snapshotId: 'b'.repeat(64) });
    expect(r.repo.opened[0]?.fate).toBe('cancelled');
    expect(r.repo.treeBackups).toHaveLength(1);
    expect(r.repo.treeBackups[0]?.parentId).toBe('b'.repeat(64));
  });

  it('without a known parent (no catalog, nothing stored yet) prepare only checks the repository', async () => {
    const r = rig([live('x.jpg', -5)]);
    await protocol(r);
    expect(r.log.slice(0, 2)).toEqual(['open /u/a', 'describe']);
    expect(r.repo.opened).toEqual([]);
  });

  it('a shield directory missing at prepare: the repository is only checked; one replaced since: the upload starts its own backup', async () => {
    const r = rig([live('x.jpg', -5)]);
    r.tree.statuses.set('/u/a/.ffk-shield', { kind: 'missing' });
    await protocol(r, { snapshotId: PARENT });
    expect(r.log.slice(0, 2)).toEqual(['open /u/a', 'describe']);
    await uploadWith(r, { snapshotId: PARENT });
    expect(r.repo.treeBackups).toHaveLength(1);

    r.tree.statuses.set('/u/a/.ffk-shield', { kind: 'dir', realPath: '/u/a/.ffk-shield', identity: '1:10' });
    await protocol(r, { snapshotId: PARENT });
    r.tree.statuses.set('/u/a/.ffk-shield', { kind: 'dir', realPath: '/u/a/.ffk-shield', identity: '1:11' }); // wiped and made again
    await uploadWith(r, { snapshotId: PARENT });
    expect(r.repo.opened[0]?.fate).toBe('cancelled');
    expect(r.repo.treeBackups).toHaveLength(2);
  });

  it('an aborted cut (release), a newer prepare and a failed walk each stop the opened backup', async () => {
    const r = rig([live('x.jpg', -5)]);
    await r.driver.prepare(prepareCtx(r, { snapshotId: PARENT }));
    await r.driver.release();
    expect(r.repo.opened[0]?.fate).toBe('cancelled');
    await r.driver.prepare(prepareCtx(r, { snapshotId: PARENT }));
    await r.driver.prepare(prepareCtx(r, { snapshotId: PARENT }));
    expect(r.repo.opened[1]?.fate).toBe('cancelled');
    await r.driver.freeze();
    await r.driver.cut();
    r.tree.failWalk = new Error('walk failed');
    await expect(uploadWith(r, { snapshotId: PARENT })).rejects.toThrow('walk failed');
    expect(r.repo.opened[2]?.fate).toBe('cancelled');
  });
});
