/**
 * Upload-directory data for the throughput cases: files of incompressible random bytes (like JPEGs)
 * in directories of 100, FindFace-style (`<root>/<dir>/<name>.jpg`), written with a few writes in
 * flight. The agent's own `.ffk-*` directories inside a root are not data and are not counted.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { run } from './commands.js';

export interface TreeSize {
  files: number;
  bytes: number;
}

const PER_DIR = 100;
const IN_FLIGHT = 8;

async function writeAll(jobs: Array<{ file: string; bytes: number }>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++] as { file: string; bytes: number };
      await writeFile(job.file, randomBytes(job.bytes));
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
}

/** Writes `files` files of `fileBytes` random bytes under `root` (created), 100 per directory. */
export async function generateTree(root: string, o: { files: number; fileBytes: number }): Promise<TreeSize> {
  const jobs: Array<{ file: string; bytes: number }> = [];
  for (let i = 0; i < o.files; i += 1) {
    const dir = path.join(root, `d${String(Math.floor(i / PER_DIR)).padStart(4, '0')}`);
    if (i % PER_DIR === 0) await mkdir(dir, { recursive: true });
    jobs.push({ file: path.join(dir, `f${String(i).padStart(6, '0')}.jpg`), bytes: o.fileBytes });
  }
  await writeAll(jobs);
  return { files: o.files, bytes: o.files * o.fileBytes };
}

/** Adds `files` new files of `fileBytes` in a new directory `<root>/<name>`; returns that directory. */
export async function addFiles(root: string, name: string, o: { files: number; fileBytes: number }): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  await writeAll(Array.from({ length: o.files }, (_, i) => ({ file: path.join(dir, `n${String(i).padStart(6, '0')}.jpg`), bytes: o.fileBytes })));
  return dir;
}

/** Removes a directory `addFiles` made. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * Files and bytes of regular files under `dirs` (recursively), leaving out each one's `.ffk-*` entries at
 * the top: one `find` (a million files would cost a million async stats in node).
 */
export async function measureTree(...dirs: string[]): Promise<TreeSize> {
  const prunes = dirs.flatMap((d, i) => [...(i > 0 ? ['-o'] : []), '-path', `${d.replace(/[[\]*?\\]/g, '\\$&')}/.ffk-*`]);
  const out = await run('find', [...dirs, '(', ...prunes, ')', '-prune', '-o', '-type', 'f', '-printf', '%s\n']);
  let files = 0;
  let bytes = 0;
  for (const line of out.split('\n')) {
    if (line === '') continue;
    files += 1;
    bytes += Number(line);
  }
  return { files, bytes };
}
