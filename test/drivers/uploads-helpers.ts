/**
 * Helpers of the uploads driver tests: temp directories removed whatever happens, a fresh local restic
 * repository, deterministic incompressible file content, a file-tree hash (path + size + sha256 of
 * content, sorted; symlinks by target) and the driver's cut → upload sequence.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../shared/logger.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import type { ComponentArtifact, DriverProgress } from '../../agent/domain/drivers/types.js';
import type { UploadsDriver } from '../../agent/domain/drivers/uploads/driver.js';

export const PASSWORD = 'uploads driver test password';
export const SITE = 'test-site';

/** Temp directories of one test file; `cleanup()` removes them all. */
export class Temp {
  private readonly dirs: string[] = [];

  async make(prefix = 'ffk-uploads-test-'): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  }
}

/** A new, initialised local repository below `root` (with a restic cache there too). */
export async function newRepository(root: string): Promise<{ repo: ResticRepository; dir: string }> {
  const dir = path.join(root, 'repo');
  const repo = new ResticRepository({ url: dir, password: PASSWORD, cacheDir: path.join(root, 'cache') });
  await repo.init();
  return { repo, dir };
}

/** Deterministic pseudo-random (incompressible) bytes. */
export function pseudoRandom(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

/** Writes `files` (relative path → content) below `root`. */
export async function writeTree(root: string, files: Record<string, Buffer | string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

/**
 * Sorted lines `<relative path> <size> <sha256>` for files, `<path> -> <target>` for symlinks and
 * `<path>/` for empty directories, below `root`; `skipTop` names at the top level are ignored.
 */
export async function treeHash(root: string, skipTop: (name: string) => boolean = () => false): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, top: boolean): Promise<void> => {
    const names = (await readdir(dir)).filter((n) => !(top && skipTop(n)));
    if (names.length === 0 && !top) out.push(`${path.relative(root, dir)}/`);
    for (const name of names) {
      const full = path.join(dir, name);
      const st = await lstat(full);
      const rel = path.relative(root, full);
      if (st.isDirectory()) await walk(full, false);
      else if (st.isSymbolicLink()) out.push(`${rel} -> ${await readlink(full)}`);
      else out.push(`${rel} ${st.size} ${createHash('sha256').update(await readFile(full)).digest('hex')}`);
    }
  };
  await walk(root, true);
  return out.sort();
}

/**
 * How the deletion shield of `root` matches its live tree: live files without a same-inode link in
 * `<root>/.ffk-shield` (`unshielded`), and shield files that no live file at their path is (`stale`),
 * as paths relative to the root, sorted.
 */
export async function shieldMismatch(root: string): Promise<{ unshielded: string[]; stale: string[] }> {
  const files = async (base: string, skipTop: boolean): Promise<Map<string, bigint>> => {
    const out = new Map<string, bigint>();
    const walk = async (dir: string): Promise<void> => {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (skipTop && dir === base && name.startsWith('.ffk-')) continue;
        const full = path.join(dir, name);
        const st = await lstat(full, { bigint: true });
        if (st.isDirectory()) await walk(full);
        else if (st.isFile()) out.set(path.relative(base, full), st.ino);
      }
    };
    await walk(base);
    return out;
  };
  const live = await files(root, true);
  const shield = await files(path.join(root, '.ffk-shield'), false);
  const unshielded = [...live].filter(([rel, ino]) => shield.get(rel) !== ino).map(([rel]) => rel);
  const stale = [...shield].filter(([rel, ino]) => live.get(rel) !== ino).map(([rel]) => rel);
  return { unshielded: unshielded.sort(), stale: stale.sort() };
}

/** Bytes used by a directory on disk (`du -sb`). */
export function diskBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}

/** cut → upload with the driver, as the cut protocol calls it. */
export async function backUp(input: {
  driver: UploadsDriver;
  repo: ResticRepository;
  cutId: string;
  onProgress?: (p: DriverProgress) => void;
  /** Runs between the cut and the upload. */
  afterCut?: (cutTime: Date) => Promise<void>;
}): Promise<ComponentArtifact> {
  const { driver } = input;
  await driver.prepare();
  await driver.freeze();
  const cut = await driver.cut();
  await driver.thaw();
  await input.afterCut?.(cut.time);
  return driver.upload({
    jobId: `job-${input.cutId}`,
    tags: { site: SITE, cutId: input.cutId, component: driver.ref },
    repository: input.repo,
    logger: silentLogger(),
    ...(input.onProgress ? { onProgress: input.onProgress } : {}),
  });
}
