/**
 * The staging space check on a real filesystem: an upload root on a small tmpfs (mounted by the test; it
 * runs as root like CI) holds 3 MiB and has about 1 MiB free, so the stage of a snapshot of it, which needs
 * a second copy beside the live files, is refused before anything is fetched: exit-8 kind of error naming
 * the space, the root untouched, no staging directory left.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUploadsDriver } from '../../agent/adapters/uploads/factory.js';
import { silentLogger } from '../../shared/logger.js';
import type { ResticRepository } from '../../shared/repository/restic.js';
import { Temp, backUp, newRepository, pseudoRandom, treeHash } from './uploads-helpers.js';

const temp = new Temp();
let mount = '';
let repo: ResticRepository;

beforeAll(async () => {
  ({ repo } = await newRepository(await temp.make()));
  mount = await temp.make('ffk-small-fs-');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'ffk-small-fs', mount]);
});

afterAll(async () => {
  if (mount) execFileSync('umount', [mount]);
  await temp.cleanup();
});

describe('staging space on a real filesystem', () => {
  it('refuses to stage an upload root whose filesystem has no room for the snapshot’s copy, before fetching anything', async () => {
    const root = path.join(mount, 'uploads');
    mkdirSync(path.join(root, 'dossier'), { recursive: true });
    for (let i = 0; i < 3; i += 1) writeFileSync(path.join(root, 'dossier', `${i}.jpg`), pseudoRandom(`photo ${i}`, 1024 * 1024));
    const driver = createUploadsDriver({ kind: 'uploads', name: 'small', paths: [root] });
    try {
      const artifact = await backUp({ driver, repo, cutId: 'space' });
      const before = await treeHash(root);
      const err = await driver.stage({ jobId: 'r-space', artifact, repository: repo, logger: silentLogger() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      const message = (err as Error).message;
      console.log(message);
      expect(message).toContain("stopped at step 'check space'");
      expect(message).toMatch(/not enough free space to stage uploads:small beside .*: the snapshot's copy needs 3(\.0)? MiB, the filesystem has [\d.]+ (KiB|MiB) free/);
      expect(await treeHash(root)).toEqual(before);
      expect(readdirSync(root).filter((n) => n.startsWith('.ffk-restore-'))).toEqual([]);
    } finally {
      await driver.close();
    }
  });
});
