/**
 * Upload-directory data for the throughput cases: files of incompressible random bytes (like JPEGs)
 * in directories of 100, FindFace-style (`<root>/<dir>/<name>.jpg`), written with a few writes in
 * flight. The agent's own `.ffk-*` directories inside a root are not data and are not counted.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isReservedName } from '../../agent/domain/drivers/uploads/layout.js';

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

/** Files and bytes under `dir` (recursively), leaving out `.ffk-*` entries at the top. */
export async function measureTree(dir: string, top = true): Promise<TreeSize> {
  const entries = await readdir(dir, { withFileTypes: true });
  let files = 0;
  let bytes = 0;
  for (const e of entries) {
    if (top && isReservedName(e.name)) continue;
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await measureTree(full, false);
      files += sub.files;
      bytes += sub.bytes;
    } else if (e.isFile()) {
      files += 1;
      bytes += (await lstat(full)).size;
    }
  }
  return { files, bytes };
}
