/**
 * `FsHostTree`: a FindFace host's files read from the local filesystem under a root (`/` on a host;
 * a dev site's directory in tests and demos). Implements discovery's `HostTree` port.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type { HostTree } from '../domain/discover/ports.js';

const isMissing = (err: unknown): boolean => ['ENOENT', 'ENOTDIR'].includes((err as NodeJS.ErrnoException).code ?? '');

export class FsHostTree implements HostTree {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** A path already inside the root (a tree naming absolute paths of this machine) is kept as it is. */
  where(hostPath: string): string {
    const p = path.resolve(hostPath);
    return this.root === '/' || p === this.root || p.startsWith(`${this.root}${path.sep}`) ? p : path.join(this.root, p);
  }

  read(hostPath: string): string | undefined {
    try {
      return readFileSync(this.where(hostPath), 'utf8');
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  list(hostDir: string): string[] | undefined {
    try {
      return readdirSync(this.where(hostDir)).sort();
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  findDir(named: string): string | undefined {
    try {
      const dir = this.where(named);
      return statSync(dir).isDirectory() ? realpathSync(dir) : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }
}
