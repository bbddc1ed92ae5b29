/**
 * `FileAppliedFiles`: the memory of which replica files each link put on this host, per dossier, in
 * JSON files of BUCKET consecutive dossier ids each (`<dir>/<link>/<first id of the bucket>.json`, temp
 * file and rename, no fsync: see `AppliedFiles`). A batch of an initial sync touches one or two of them;
 * one file per dossier, as this memory was kept before, took a 4 KB block and a file creation per
 * dossier — 4 GB and a million files in one directory for a list of a million dossiers.
 *
 * What a link remembered in the per-dossier files (`<dir>/<link>.<dossier>.json`) is moved into the
 * buckets the first time the link's memory is used in this process.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../../../shared/errors.js';
import type { AppliedFiles } from '../../domain/sync/ports.js';

/** Dossier ids per bucket file. */
export const BUCKET = 256;

type Bucket = Record<string, string[]>;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

export class FileAppliedFiles implements AppliedFiles {
  /** Links whose per-dossier files were moved (or found absent) in this process. */
  private readonly migrated = new Map<string, Promise<void>>();

  constructor(private readonly dir: string) {}

  async get(link: string, dossiers: readonly number[]): Promise<Map<number, string[]>> {
    await this.migrate(link);
    const out = new Map<number, string[]>();
    for (const [start, ids] of byBucket(dossiers)) {
      const bucket = await this.read(link, start);
      for (const id of ids) {
        const files = bucket[String(id)];
        if (files && files.length > 0) out.set(id, files);
      }
    }
    return out;
  }

  async set(link: string, files: ReadonlyMap<number, readonly string[]>): Promise<void> {
    await this.migrate(link);
    for (const [start, ids] of byBucket([...files.keys()])) {
      const bucket = await this.read(link, start);
      for (const id of ids) {
        const f = files.get(id) ?? [];
        if (f.length > 0) bucket[String(id)] = [...f];
        else delete bucket[String(id)];
      }
      await this.write(link, start, bucket);
    }
  }

  private linkDir(link: string): string {
    return path.join(this.dir, checkedLink(link));
  }

  private file(link: string, start: number): string {
    return path.join(this.linkDir(link), `${start}.json`);
  }

  private async read(link: string, start: number): Promise<Bucket> {
    try {
      const raw = JSON.parse(await readFile(this.file(link, start), 'utf8')) as unknown;
      return typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Bucket) : {};
    } catch (err) {
      if (isMissing(err) || err instanceof SyntaxError) return {}; // none yet, or cut short by a crash: forgotten
      throw err;
    }
  }

  private async write(link: string, start: number, bucket: Bucket): Promise<void> {
    const target = this.file(link, start);
    if (Object.keys(bucket).length === 0) return rm(target, { force: true });
    const tmp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(tmp, JSON.stringify(bucket)).catch(async (err: unknown) => {
      if (!isMissing(err)) throw err;
      await mkdir(this.linkDir(link), { recursive: true });
      await writeFile(tmp, JSON.stringify(bucket));
    });
    await rename(tmp, target);
  }

  /** Moves the link's per-dossier files (the earlier layout) into its buckets, once per process. */
  private migrate(link: string): Promise<void> {
    let done = this.migrated.get(link);
    if (!done) {
      done = this.moveLegacy(link);
      this.migrated.set(link, done);
      done.catch(() => this.migrated.delete(link)); // tried again next time
    }
    return done;
  }

  private async moveLegacy(link: string): Promise<void> {
    const prefix = `${checkedLink(link)}.`;
    const names = (await readdir(this.dir).catch((err: unknown) => (isMissing(err) ? [] : Promise.reject(err)))).filter((n) => n.startsWith(prefix) && /^\d+\.json$/.test(n.slice(prefix.length)));
    if (names.length === 0) return;
    const files = new Map<number, string[]>();
    for (const n of names) {
      const id = Number(n.slice(prefix.length, -'.json'.length));
      try {
        const raw = JSON.parse(await readFile(path.join(this.dir, n), 'utf8')) as { extra?: { files?: unknown } };
        const f = raw.extra?.files;
        if (Array.isArray(f)) files.set(id, f.filter((x): x is string => typeof x === 'string'));
      } catch (err) {
        if (!isMissing(err) && !(err instanceof SyntaxError)) throw err;
      }
    }
    for (const [start, ids] of byBucket([...files.keys()])) {
      const bucket = await this.read(link, start);
      for (const id of ids) if (bucket[String(id)] === undefined) bucket[String(id)] = files.get(id) ?? [];
      await this.write(link, start, bucket);
    }
    await Promise.all(names.map((n) => rm(path.join(this.dir, n), { force: true })));
  }
}

/** `link` when it can name a directory of its own (link ids are `site.list.site.list`). */
function checkedLink(link: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(link) || link === '.' || link === '..') throw new ValidationError(`link id '${link}' cannot name a directory`);
  return link;
}

/** The ids grouped by the first id of their bucket. */
function byBucket(ids: readonly number[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const id of ids) {
    const start = Math.floor(id / BUCKET) * BUCKET;
    const list = out.get(start);
    if (list) list.push(id);
    else out.set(start, [id]);
  }
  return out;
}
