/** Free space of the filesystem holding a path (node:fs statfs), for the staging space check of a restore. */
import { statfs } from 'node:fs/promises';
import path from 'node:path';

/** Bytes available to unprivileged writers on the filesystem of `dir`'s nearest existing parent, and that parent. */
export async function freeAt(dir: string): Promise<{ dir: string; bytes: number }> {
  let at = path.resolve(dir);
  for (;;) {
    try {
      const st = await statfs(at);
      return { dir: at, bytes: st.bavail * st.bsize };
    } catch (err) {
      const parent = path.dirname(at);
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || parent === at) throw err;
      at = parent;
    }
  }
}

/** Bytes available to unprivileged writers on the filesystem of `dir`, or of its nearest existing parent. */
export async function freeBytes(dir: string): Promise<number> {
  return (await freeAt(dir)).bytes;
}
