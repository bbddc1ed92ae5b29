/**
 * Helpers for the repository tests: temp directories that are always removed, fresh local restic
 * repositories, deterministic pseudo-random data (files and lazy streams), tree hashes to compare
 * a source with what was restored, and a local repository's locks.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ResticRepository, type ResticRepositoryOptions } from '../../shared/repository/restic.js';

/** Temp directories created by a test file; `cleanup()` removes them all (call it in afterAll/afterEach). */
export class TempDirs {
  private readonly dirs: string[] = [];

  async make(prefix = 'ffk-repo-test-'): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
    this.dirs.push(dir);
    return dir;
  }

  async cleanup(): Promise<void> {
    const dirs = this.dirs.splice(0);
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  }
}

export const PASSWORD = 'correct horse battery staple 42';

/** A new, not yet initialised local repository location inside a fresh temp dir. */
export async function newRepository(
  temp: TempDirs,
  overrides: Partial<ResticRepositoryOptions> = {},
): Promise<{ repo: ResticRepository; dir: string; root: string }> {
  const root = await temp.make();
  const dir = path.join(root, 'repo');
  const repo = new ResticRepository({ url: dir, password: PASSWORD, ...overrides });
  return { repo, dir, root };
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of a seed), fast and incompressible. */
export function pseudoRandom(seed: string, size: number): Buffer {
  return Buffer.concat([...keystream(seed, size)]);
}

function* keystream(seed: string, size: number, chunk = 1 << 20): Generator<Buffer> {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  for (let left = size; left > 0; left -= chunk) yield cipher.update(Buffer.alloc(Math.min(chunk, left)));
}

/** A lazy stream of `size` pseudo-random bytes: nothing is held or written anywhere in advance. */
export function pseudoRandomStream(seed: string, size: number): Readable {
  return Readable.from(keystream(seed, size), { objectMode: false });
}

/** sha256 of everything a stream yields. */
export async function hashStream(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    const buf = chunk as Buffer;
    hash.update(buf);
    bytes += buf.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Writes `files` (relative path → content) below `root`, creating directories. */
export async function writeTree(root: string, files: Record<string, Buffer | string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

/** relative path → sha256 of every regular file below `root` (directories implied). */
export async function treeHash(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) out[path.relative(root, full)] = createHash('sha256').update(await readFile(full)).digest('hex');
    }
  };
  await walk(root);
  return out;
}

/** Every file below `dir` (relative paths). */
export async function listFiles(dir: string): Promise<string[]> {
  return Object.keys(await treeHash(dir)).sort();
}

/**
 * The locks of a local repository. A restic interrupted while it wrote its lock can leave the local
 * backend's temporary file (`<id>-tmp-<n>`): not a lock, restic ignores it (check and prune run beside it).
 */
export async function locks(repoDir: string): Promise<string[]> {
  return (await readdir(path.join(repoDir, 'locks'))).filter((name) => !/-tmp-\d+$/.test(name));
}

/** Polls `probe` every 100 ms until it holds or `timeoutMs` passed; its last answer. */
export async function eventually(probe: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    if (await probe()) return true;
  }
  return probe();
}
