/**
 * `FsFilesAccess`: upload files for sync, by root name (`uploads` = FindFace's
 * /var/lib/findface-security/uploads, `ffupload` = /var/lib/ffupload/). Paths are checked to stay
 * inside their root. Reads run on libuv's threads (a master's photos may be far from the page cache);
 * a write is put together in the root's reserved `.ffk-sync-tmp` directory and renamed into place with
 * synchronous calls: it lands in the page cache, and one blocking write + rename costs the files agent's
 * loop a fraction of the four thread hand-offs (open, write, close, rename) it cost on a busy host. The
 * deletion shield and backups pass the reserved directory by: the shield sees only the finished file.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { ValidationError } from '../../../shared/errors.js';
import { isAlive } from '../../../shared/process.js';
import type { UploadRootName } from '../../domain/sync/messages.js';
import { uploadRoots } from '../../domain/drivers/uploads/layout.js';

export { uploadRoots };
import type { FileChunk, FilesAccess } from '../../domain/sync/ports.js';

// The callback API, not fs/promises: for tens of thousands of small photos its readFile and writeFile
// are ~20-30 % faster here (no FileHandle per file), and the sync parts spend most of their time on them.
const readFile = promisify(fs.readFile);
const openFd = promisify(fs.open);
const fstat = promisify(fs.fstat);
const readFd = promisify(fs.read);
const closeFd = promisify(fs.close);
/** Directories known to exist (written into already), so a write does not ask for each of them again. */
const DIR_MEMORY = 10_000;

/** Where writes are put together before they are renamed into place (a reserved `.ffk-` name of the root). */
export const SYNC_TMP_DIR = '.ffk-sync-tmp';

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Temp directories this process has made (and cleared of a dead process's leftovers). */
const tmpDirs = new Set<string>();
let tmpSeq = 0;

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

  async digest(root: UploadRootName, rel: string): Promise<{ sha256: string; size: number } | undefined> {
    return this.digestOf(this.resolve(root, rel));
  }

  private async digestOf(file: string): Promise<{ sha256: string; size: number } | undefined> {
    try {
      const data = await readFile(file);
      return { sha256: createHash('sha256').update(data).digest('hex'), size: data.length };
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
    // Most files a slave asks about are not there yet: a stat says so without an error to build.
    const file = this.resolve(root, rel);
    if (!fs.statSync(file, { throwIfNoEntry: false })) return undefined;
    return (await this.digestOf(file))?.sha256;
  }

  async write(root: UploadRootName, rel: string, data: Uint8Array): Promise<void> {
    const target = this.resolve(root, rel);
    const tmpDir = path.join(this.roots[root] as string, SYNC_TMP_DIR);
    if (!tmpDirs.has(tmpDir)) await this.makeTmpDir(tmpDir);
    const dir = path.dirname(target);
    if (!this.dirs.has(dir)) this.makeDir(dir);
    const tmp = path.join(tmpDir, `${process.pid}.${++tmpSeq}`);
    // No fsync per file: a file lost to a crash after its position was saved hashes differently, and the
    // link's comparison (nightly, or sync check --repair) brings it back.
    try {
      fs.writeFileSync(tmp, data);
      try {
        fs.renameSync(tmp, target);
      } catch (err) {
        if (!isMissing(err)) throw err;
        this.makeDir(dir); // removed behind this process's back since it was made
        fs.renameSync(tmp, target);
      }
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      if (isMissing(err) && !fs.existsSync(tmpDir)) tmpDirs.delete(tmpDir); // the next write makes it again
      throw err;
    }
  }

  private makeDir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    if (this.dirs.size >= DIR_MEMORY) this.dirs.clear();
    this.dirs.add(dir);
  }

  /** Makes the root's temp directory, removing what processes that are gone left there (a crash mid-write). */
  private async makeTmpDir(tmpDir: string): Promise<void> {
    fs.mkdirSync(tmpDir, { recursive: true });
    tmpDirs.add(tmpDir);
    const dead = (await readdir(tmpDir)).filter((n) => {
      const pid = Number(n.split('.')[0]);
      return Number.isInteger(pid) && pid !== process.pid && !isAlive(pid);
    });
    await Promise.all(dead.map((n) => rm(path.join(tmpDir, n), { force: true })));
  }

  async remove(root: UploadRootName, rel: string): Promise<void> {
    await rm(this.resolve(root, rel), { force: true });
  }
}
