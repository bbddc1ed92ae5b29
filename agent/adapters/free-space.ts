/** Free space of the filesystem holding a path (node:fs statfs), for the staging space check of a restore. */
import { statfs } from 'node:fs/promises';
import path from 'node:path';

/** Bytes available to unprivileged writers on the filesystem of `dir`, or of its nearest existing parent. */
export async function freeBytes(dir: string): Promise<number> {
  let at = path.resolve(dir);
  for (;;) {
    try {
      const st = await statfs(at);
      return st.bavail * st.bsize;
    } catch (err) {
      const parent = path.dirname(at);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) throw err;
      at = parent;
    }
  }
}
