/**
 * `FsFilesAccess`: upload files for sync, by root name (`uploads` = FindFace's
 * /var/lib/findface-security/uploads, `ffupload` = /var/lib/ffupload/). Paths are checked to stay
 * inside their root. Reading, hashing and writing run in the agent's file worker (file-worker.ts):
 * synchronous calls beside the agent's loop, a batch per turn of it. A write is put together in the
 * root's reserved `.ffk-sync-tmp` directory and renamed into place, only when its bytes hash to what the
 * master published. The deletion shield and backups pass the reserved directory by: the shield sees
 * only the finished file.
 */
import fs from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../../../shared/errors.js';
import { isAlive } from '../../../shared/process.js';
import type { UploadRootName } from '../../domain/sync/messages.js';
import { uploadRoots } from '../../domain/drivers/uploads/layout.js';
import type { FileChunk, FilesAccess, WriteOutcome } from '../../domain/sync/ports.js';
import { fileWorker, type FileWorker } from './file-worker.js';

export { uploadRoots };

/** Where writes are put together before they are renamed into place (a reserved `.ffk-` name of the root). */
export const SYNC_TMP_DIR = '.ffk-sync-tmp';

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Temp directories this process has made (and cleared of a dead process's leftovers). */
const tmpDirs = new Set<string>();
let tmpSeq = 0;

export class FsFilesAccess implements FilesAccess {
  constructor(
    private readonly roots: Partial<Record<UploadRootName, string>>,
    private readonly worker: FileWorker = fileWorker,
  ) {}

  private resolve(root: UploadRootName, rel: string): string {
    const base = this.roots[root];
    if (!base) throw new ValidationError(`this agent has no '${root}' upload root (it has: ${Object.keys(this.roots).join(', ') || 'none'})`);
    const abs = path.resolve(base, rel);
    if (!abs.startsWith(path.resolve(base) + path.sep)) throw new ValidationError(`path '${rel}' leaves the '${root}' upload root`);
    return abs;
  }

  async digest(root: UploadRootName, rel: string): Promise<{ sha256: string; size: number } | undefined> {
    return this.worker.digest(this.resolve(root, rel));
  }

  async readChunk(root: UploadRootName, rel: string, offset: number, max: number): Promise<FileChunk | undefined> {
    return this.worker.read(this.resolve(root, rel), offset, max);
  }

  async hash(root: UploadRootName, rel: string): Promise<string | undefined> {
    return this.worker.hash(this.resolve(root, rel));
  }

  async write(root: UploadRootName, rel: string, data: Uint8Array, sha256: string): Promise<WriteOutcome> {
    const target = this.resolve(root, rel);
    const tmpDir = path.join(this.roots[root] as string, SYNC_TMP_DIR);
    if (!tmpDirs.has(tmpDir)) await this.makeTmpDir(tmpDir);
    // No fsync per file: a file lost to a crash after its position was saved hashes differently, and the
    // link's comparison (nightly, or sync check --repair) brings it back.
    try {
      return await this.worker.write(target, path.join(tmpDir, `${process.pid}.${++tmpSeq}`), data, sha256);
    } catch (err) {
      if (isMissing(err) && !fs.existsSync(tmpDir)) tmpDirs.delete(tmpDir); // the next write makes it again
      throw err;
    }
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
