/**
 * The uploads driver on a dev site (real PostgreSQL, pgbouncer, Tarantool, writer, upload directories),
 * configured from the site's own agent config for its `files` host: back up after the writer ran, damage
 * the upload directories (files referenced by rows deleted, files overwritten, strays added), see the
 * integrity checker report it, restore into place, and end with the checker at 0 errors and the file-tree
 * hash of the backed-up state. Also a restore into another directory of the same snapshot, and the
 * snapshot's shape: one path per root, FindFace's layout in its tree, the tree as of the cut.
 */
import { execFileSync } from 'node:child_process';
import { chmod, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUploadsDriver } from '../../agent/adapters/uploads/factory.js';
import { loadAgentConfig } from '../../shared/config/agent.js';
import { silentLogger } from '../../shared/logger.js';
import type { ResticRepository } from '../../shared/repository/restic.js';
import { checkSite, downSite, startWriter, stopWriter, upSite, type SiteState } from '../../deploy/dev-site/index.js';
import { PASSWORD, Temp, backUp, newRepository, treeHash } from './uploads-helpers.js';

const temp = new Temp();
const SITE = `upl-${process.pid}`;
let root: string;
let state: SiteState;
let repo: ResticRepository;
let repoDir: string;
let driver: ReturnType<typeof createUploadsDriver> | undefined;
/** ffkeeper's own entries (the deletion shield) are not part of the site's tree. */
const ffk = (n: string): boolean => n.startsWith('.ffk-');

beforeAll(async () => {
  root = await temp.make('ffk-uploads-devsite-');
  await chmod(root, 0o755); // pgbouncer runs as 'postgres' and must reach the site directory
  // Images at a fifth of FindFace's sizes, as the test fleet's sites (test/harness/fleet.ts): the same files
  // and tree, which is what the driver and the checker work on, with a fifth of the bytes for restic to move.
  ({ state } = await upSite({ site: SITE, root, shards: 2, dossiers: 200, events: 600, vectorDim: 64, imageScale: 0.2 }));
  ({ repo, dir: repoDir } = await newRepository(await temp.make()));
}, 180_000);

afterAll(async () => {
  try {
    await driver?.close();
    if (state) await stopWriter(state).catch(() => undefined);
    await downSite(SITE, root);
  } finally {
    await temp.cleanup();
  }
}, 120_000);

function driverOfSite(): ReturnType<typeof createUploadsDriver> {
  const file = state.agentConfigs.files;
  if (!file) throw new Error(`dev site ${SITE} wrote no agent config for host 'files'`);
  const config = loadAgentConfig(file, {});
  const uploads = config.components.find((c) => c.kind === 'uploads');
  if (uploads?.kind !== 'uploads') throw new Error(`no uploads component in ${file}`);
  return createUploadsDriver(uploads, { host: config.host });
}

async function firstFiles(dir: string, n: number): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of (await readdir(d, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (out.length >= n) return;
      if (ffk(e.name)) continue; // the live tree only
      if (e.isDirectory()) await walk(path.join(d, e.name));
      else out.push(path.join(d, e.name));
    }
  };
  await walk(dir);
  return out;
}

describe('uploads driver on a dev site', () => {
  it('backs up, survives damage to the upload directories, restores to 0 integrity errors', { timeout: 300_000 }, async () => {
    await startWriter(state, { rate: 40, concurrency: 4 });
    await new Promise((r) => setTimeout(r, 3000));
    const stats = await stopWriter(state);
    expect(stats).toBeDefined();
    const initial = await checkSite(state);
    expect(initial.errors).toBe(0);

    const { uploadsDir, ffuploadDir } = state.uploads;
    driver = driverOfSite();
    const artifact = await backUp({ driver, repo, cutId: 'dev-1' });
    const backedUp = [await treeHash(uploadsDir, ffk), await treeHash(ffuploadDir, ffk)];
    expect(artifact.files).toBe(initial.counts.files);
    expect(artifact.missing).toBeUndefined();

    const doomed = await firstFiles(uploadsDir, 8);
    for (const f of doomed.slice(0, 5)) await rm(f);
    for (const f of doomed.slice(5)) await writeFile(f, 'overwritten after the backup');
    await writeFile(path.join(uploadsDir, 'stray.jpg'), 'not referenced by any row');
    const firstBucket = (await readdir(path.join(ffuploadDir, 'dossier_faces'))).sort()[0] ?? '';
    await rm(path.join(ffuploadDir, 'dossier_faces', firstBucket), { recursive: true });
    const damaged = await checkSite(state);
    expect(damaged.errors).toBeGreaterThanOrEqual(5);
    expect(damaged.byKind['missing-file']).toBeGreaterThanOrEqual(5);

    const report = await driver.restore({ jobId: 'dev-restore-1', artifact, repository: repo, logger: silentLogger() });
    expect(report.steps.every((s) => s.ok)).toBe(true);
    expect([await treeHash(uploadsDir, ffk), await treeHash(ffuploadDir, ffk)]).toEqual(backedUp);
    const after = await checkSite(state);
    console.log(
      `dev site ${SITE}: ${artifact.files} files (${artifact.bytes} bytes) backed up; after damage ${damaged.errors} errors ` +
        `(${JSON.stringify(damaged.byKind)}); after restore ${after.errors} errors, ${after.warnings} warnings; ` +
        `restore steps: ${report.steps.map((s) => `${s.step.split(' ')[0]} ${s.durationMs} ms`).join(', ')}`,
    );
    expect(after.errors).toBe(0);
    expect(after.byKind['orphan-file'] ?? 0).toBe(initial.byKind['orphan-file'] ?? 0);
    expect(after.counts).toEqual(initial.counts);

    const target = path.join(await temp.make(), 'copy');
    await driver.restore({ jobId: 'dev-restore-2', artifact, repository: repo, logger: silentLogger(), targetDir: target });
    // Each root lands under its name in the snapshot (FindFace's layout).
    expect([await treeHash(path.join(target, path.basename(uploadsDir)), ffk), await treeHash(path.join(target, path.basename(ffuploadDir)), ffk)]).toEqual(backedUp);
  });

  it('stores the uploads in one path per root, FindFace\'s layout inside, as of the cut', { timeout: 120_000 }, async () => {
    const { uploadsDir, ffuploadDir } = state.uploads;
    driver ??= driverOfSite();
    const [victim] = await firstFiles(uploadsDir, 1);
    const [kept] = await firstFiles(ffuploadDir, 1);
    if (victim === undefined || kept === undefined) throw new Error('the dev site has no upload files');
    const born = path.join(path.dirname(victim), 'born-after-the-cut.jpg');
    const artifact = await backUp({
      driver,
      repo,
      cutId: 'dev-layout',
      afterCut: async () => {
        await new Promise((r) => setTimeout(r, 15)); // past the kernel clock's tick: what follows is after the cut
        await rm(victim);
        await writeFile(born, 'created after the cut');
      },
    });
    const id = artifact.snapshotIds[0] ?? '';
    const snapshot = (await repo.listSnapshots()).find((s) => s.id === id);
    expect(snapshot?.paths.length).toBeLessThanOrEqual(2);
    const [u, f] = [path.basename(uploadsDir), path.basename(ffuploadDir)];
    if (process.getuid?.() === 0) {
      expect(artifact.details).toMatchObject({ snapshotLayout: 'named', roots: JSON.stringify({ [uploadsDir]: `/${u}`, [ffuploadDir]: `/${f}` }) });
      const ls = execFileSync('restic', ['--no-cache', 'ls', id], { env: { ...process.env, RESTIC_REPOSITORY: repoDir, RESTIC_PASSWORD: PASSWORD }, encoding: 'utf8' }).split('\n');
      expect(ls).toContain(`/${u}/${path.relative(uploadsDir, victim)}`);
      expect(ls).toContain(`/${f}/${path.relative(ffuploadDir, kept)}`);
      expect(ls.some((l) => l.includes('.ffk-') || l.includes('born-after-the-cut'))).toBe(false);
    }
    const target = path.join(await temp.make(), 'layout');
    await driver.restore({ jobId: 'dev-restore-3', artifact, repository: repo, logger: silentLogger(), targetDir: target });
    const restoredRoot = process.getuid?.() === 0 ? path.join(target, u) : path.join(target, uploadsDir, '.ffk-shield');
    const names = (await treeHash(restoredRoot)).map((l) => l.split(' ')[0]);
    expect(names).toContain(path.relative(uploadsDir, victim)); // deleted after the cut: in the snapshot
    expect(names).not.toContain(path.relative(uploadsDir, born)); // created after the cut: not
  });
});
