/**
 * `FsFilesAccess`: upload files for sync, by root name (`uploads` = FindFace's
 * /var/lib/findface-security/uploads, `ffupload` = /var/lib/ffupload/). Paths are checked to stay
 * inside their root; writes go to a temp file in the target directory, then renamed.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ValidationError } from '../../../shared/errors.js';
import type { UploadRootName } from '../../domain/sync/messages.js';
import type { FileChunk, FilesAccess } from '../../domain/sync/ports.js';

/** Which configured path is which root: by its name (`ffupload`, `uploads`), else by position. */
export function uploadRoots(paths: readonly string[]): Partial<Record<UploadRootName, string>> {
  const out: Partial<Record<UploadRootName, string>> = {};
  for (const p of paths) {
    const base = path.basename(p);
    if (base === 'ffupload' && !out.ffupload) out.ffupload = p;
    else if (base === 'uploads' && !out.uploads) out.uploads = p;
  }
  if (!out.uploads && paths[0] !== undefined && paths[0] !== out.ffupload) out.uploads = paths[0];
  if (!out.ffupload && paths[1] !== undefined && paths[1] !== out.uploads) out.ffupload = paths[1];
  return out;
}

// The callback API, not fs/promises: for tens of thousands of small photos its readFile and writeFile
// are ~20-30 % faster here (no FileHandle per file), and the sync parts spend most of their time on them.
const readFile = promisify(fs.readFile);
const writeFile = promisify(fs.writeFile);
const openFd = promisify(fs.open);
const fstat = promisify(fs.fstat);
const readFd = promisify(fs.read);
const closeFd = promisify(fs.close);
/** Directories known to exist (written into already), so a write does not ask for each of them again. */
const DIR_MEMORY = 10_000;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class FsFilesAccess implements FilesAccess {
  private readonly dirs = new Set<string>();

  constructor(private readonly roots: Partial<Record<UploadRootName, string>>) {}

  private resolve(root: UploadRootName, rel: string): string {
    const base = this.roots[root];
    if (!base) throw new ValidationError(`this agent has no '${root}' upload root (it has: ${Object.keys(this.roots).join(', ') || 'none'})`);
    const abs = path.resolve(base, rel);
    if (!abs.startsWith(path.resolve(base) + path.sep)) throw new ValidationError(`path '${rel}' leaves the '${root}' upload root`);
    return abs;
  }

  async read(root: UploadRootName, rel: string): Promise<{ data: Buffer; sha256: string } | undefined> {
    try {
      const data = await readFile(this.resolve(root, rel));
      return { data, sha256: createHash('sha256').update(data).digest('hex') };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async readChunk(root: UploadRootName, rel: string, offset: number, max: number): Promise<FileChunk | undefined> {
    let fd: number;
    try {
      fd = await openFd(this.resolve(root, rel), 'r');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    try {
      const { size } = await fstat(fd);
      const data = Buffer.allocUnsafe(Math.max(0, Math.min(max, size - offset)));
      let got = 0;
      while (got < data.length) {
        const { bytesRead } = await readFd(fd, data, got, data.length - got, offset + got);
        if (bytesRead === 0) break; // shrunk meanwhile: the slave's hash check sees it
        got += bytesRead;
      }
      return { data: data.subarray(0, got), size };
    } finally {
      await closeFd(fd);
    }
  }

  async hash(root: UploadRootName, rel: string): Promise<string | undefined> {
    return (await this.read(root, rel))?.sha256;
  }

  async write(root: UploadRootName, rel: string, data: Uint8Array): Promise<void> {
    const target = this.resolve(root, rel);
    const dir = path.dirname(target);
    if (!this.dirs.has(dir)) await this.makeDir(dir);
    const tmp = `${target}.ffk-tmp-${randomBytes(4).toString('hex')}`;
    // No fsync per file: a file lost to a crash after its position was saved hashes differently, and the
    // link's comparison (nightly, or sync check --repair) brings it back.
    await writeFile(tmp, data).catch(async (err: unknown) => {
      if (!isMissing(err)) throw err;
      await this.makeDir(dir); // removed behind this process's back since it was made
      await writeFile(tmp, data);
    });
    await rename(tmp, target).catch(async (err: unknown) => {
      await rm(tmp, { force: true });
      throw err;
    });
  }

  private async makeDir(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    if (this.dirs.size >= DIR_MEMORY) this.dirs.clear();
    this.dirs.add(dir);
  }

  async remove(root: UploadRootName, rel: string): Promise<void> {
    await rm(this.resolve(root, rel), { force: true });
  }
}
