/**
 * Acceptance figure of the uploads driver: a second backup of an unchanged upload tree (files of
 * 10–300 KB, incompressible) adds less than 1 MB to the repository. Prints sizes and times. Also
 * restores the tree into place after changes and compares the file-tree hash, at that size. The
 * acceptance size is 1 GB (`FFK_UPLOADS_SCALE_MB=1024 npx vitest run test/drivers/uploads-scale.test.ts`);
 * the suite runs 256 MB (~1,700 files) to keep its time, the bound is the same.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createUploadsDriver } from '../../agent/adapters/uploads/factory.js';
import { silentLogger } from '../../shared/logger.js';
import { Temp, backUp, diskBytes, newRepository, pseudoRandom, treeHash } from './uploads-helpers.js';

const temp = new Temp();
afterAll(() => temp.cleanup());

const MB = Number(process.env.FFK_UPLOADS_SCALE_MB ?? 256);
const TOTAL = MB * 2 ** 20;

/** Writes ~`total` bytes of files of 10–300 KB (sizes from a fixed sequence) in 100-file directories. */
async function generate(root: string, total: number): Promise<{ files: number; bytes: number }> {
  let bytes = 0;
  let files = 0;
  let x = 12345;
  while (bytes < total) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const size = Math.min(10_240 + (x % (290 * 1024)), total - bytes);
    const dir = path.join(root, `events/${String(Math.floor(files / 100)).padStart(4, '0')}`);
    if (files % 100 === 0) await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, `frame-${files}.jpg`), pseudoRandom(`f${files}`, size));
    bytes += size;
    files += 1;
  }
  return { files, bytes };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

describe(`uploads driver at ${MB} MB`, () => {
  it('a second backup of the unchanged tree adds < 1 MB; a restore into place matches the tree hash', { timeout: 1_200_000 }, async () => {
    const base = await temp.make('ffk-uploads-scale-');
    const { repo, dir: repoDir } = await newRepository(base);
    const root = path.join(base, 'uploads');
    const t = Date.now();
    const made = await generate(root, TOTAL);
    console.log(`generated ${made.files} files, ${made.bytes} bytes in ${seconds(Date.now() - t)}`);
    const driver = createUploadsDriver({ kind: 'uploads', name: 'uploads', paths: [root] }, { host: 'bench' });
    try {
      await runAtScale({ driver, repo, repoDir, root, made });
    } finally {
      await driver.close();
    }
  });
});

/** Open (seed the shield), two backups, damage, restore into place — with figures. */
async function runAtScale(input: {
  driver: ReturnType<typeof createUploadsDriver>;
  repo: Awaited<ReturnType<typeof newRepository>>['repo'];
  repoDir: string;
  root: string;
  made: { files: number; bytes: number };
}): Promise<void> {
  const { driver, repo, repoDir, root, made } = input;
  let t = Date.now();
  await driver.open();
  console.log(`deletion shield seeded in ${seconds(Date.now() - t)}`);

  t = Date.now();
  const first = await backUp({ driver, repo, cutId: 'first' });
  const afterFirst = diskBytes(repoDir);
  console.log(`first backup: ${first.files} files, ${first.bytes} bytes read, ${first.dataAddedBytes} bytes added, repository ${afterFirst} bytes, ${seconds(Date.now() - t)}`);
  expect(first.files).toBe(made.files);
  expect(first.bytes).toBe(made.bytes);

  t = Date.now();
  const second = await backUp({ driver, repo, cutId: 'second' });
  const added = diskBytes(repoDir) - afterFirst;
  console.log(`second backup (unchanged): ${second.details?.filesUnmodified} files unmodified, dataAdded ${second.dataAddedBytes} bytes, repository grew by ${added} bytes, ${seconds(Date.now() - t)}`);
  expect(second.details).toMatchObject({ parentId: first.snapshotIds[0], filesNew: 0, filesChanged: 0, filesUnmodified: made.files });
  expect(added).toBeLessThan(1_000_000);

  const ffk = (n: string): boolean => n.startsWith('.ffk-'); // the deletion shield is not part of the tree
  const before = await treeHash(root, ffk);
  await rm(path.join(root, 'events/0001'), { recursive: true });
  await writeFile(path.join(root, 'events/0002/frame-200.jpg'), 'changed');
  await writeFile(path.join(root, 'added-later.jpg'), 'added');
  t = Date.now();
  const report = await driver.restore({ jobId: 'restore-scale', artifact: second, repository: repo, logger: silentLogger() });
  console.log(`restore into place: ${seconds(Date.now() - t)}; ${report.steps.map((s) => `${s.step.split(' ')[0]} ${s.durationMs} ms`).join(', ')}`);
  expect(await treeHash(root, ffk)).toEqual(before);
}
