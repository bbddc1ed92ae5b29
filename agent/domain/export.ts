/**
 * A snapshot export on one host (issue 19): this host's part of a snapshot written into a directory of
 * the host in FindFace's own backup layout (reference 000), so a site can be rebuilt with FindFace's
 * documented tools alone:
 *
 * - each Tarantool gallery as `<gallery>.json`, one record per line as `findface-storage-api-dump` writes
 *   it, read from the scratch instances the sandbox restore started (every shard of this host appended
 *   into one file per gallery; `findface-storage-api-restore` routes each record to its shard);
 * - the database as `<database>_postgres_backup.sql`, the plain dump the snapshot holds (what
 *   `pg_dump ffsecurity > ffsecurity_postgres_backup.sql` writes), straight from the repository;
 * - each upload root as `<root with / as _>.tar.gz`, entries named by the root's path below `/` (what
 *   `tar -czf … /var/lib/ffupload/` writes), so `cd / && tar -xvf …` puts them back;
 * - the snapshot's manifest as `ffkeeper-manifest.json`.
 *
 * Every file is written as `<name>.partial` and renamed when complete; a name already in the directory is
 * never overwritten (the export fails before writing anything).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { access, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import { create as createTar } from 'tar';
import { CancelledError, ConflictError, IllegalStateError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ComponentArtifact } from '../../shared/manifest.js';
import type { Repository } from '../../shared/repository/repository.js';
import type { SandboxComponent } from '../../shared/sandbox.js';
import { TarantoolShardDriver } from './drivers/tarantool/driver.js';
import { archivePrefix, databaseDumpName, EXPORT_MANIFEST_NAME, uploadArchiveName } from './drivers/findface-backup.js';
import { galleryFileName } from './drivers/tarantool/export-layout.js';

export { databaseDumpName, EXPORT_MANIFEST_NAME, uploadArchiveName };
import { galleryBatches } from './drivers/tarantool/logical.js';
import type { ComponentDriver } from './drivers/types.js';

const NEWLINE = Buffer.from('\n');

export interface ExportedFile {
  name: string;
  bytes: number;
  sha256: string;
  holds: string;
}

export interface SnapshotExportRequest {
  artifacts: ComponentArtifact[];
  /** What the sandbox restore reported for this host's Tarantool and uploads components. */
  sandbox: SandboxComponent[];
  toDir: string;
  manifestJson: string;
  repository: Repository;
  signal?: AbortSignal;
}

export interface SnapshotExportDeps {
  select: (refs: readonly string[]) => ComponentDriver[];
  logger: Logger;
}

/** A file being written: `<name>.partial`, hashed on the way, renamed into place by `finish`. */
class PartialFile {
  readonly hash = createHash('sha256');
  bytes = 0;
  private readonly out: WriteStream;
  /** An error the stream emitted (opening it, a write): thrown by the next write or finish. */
  private failure: Error | undefined;
  /** True once this call created the `.partial` file (only then does a discard remove it). */
  private created = false;

  constructor(
    readonly dir: string,
    readonly name: string,
  ) {
    this.out = createWriteStream(path.join(dir, `${name}.partial`), { flags: 'wx' });
    this.out.on('open', () => {
      this.created = true;
    });
    this.out.on('error', (err) => {
      this.failure = new IllegalStateError(`cannot write ${path.join(dir, name)}: ${err.message}`, { cause: err });
    });
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.failure) throw this.failure;
    this.hash.update(data);
    this.bytes += data.length;
    if (!this.out.write(data)) await this.settled('drain');
  }

  async finish(holds: string): Promise<ExportedFile> {
    if (this.failure) throw this.failure;
    this.out.end();
    await this.settled('finish');
    if (await exists(path.join(this.dir, this.name))) throw new ConflictError(`${path.join(this.dir, this.name)} already exists: export into an empty directory`);
    await rename(path.join(this.dir, `${this.name}.partial`), path.join(this.dir, this.name));
    return { name: this.name, bytes: this.bytes, sha256: this.hash.digest('hex'), holds };
  }

  /** Waits for the stream's event; its error comes out as `failure` (naming the file). */
  private async settled(event: 'drain' | 'finish'): Promise<void> {
    try {
      await once(this.out, event);
    } catch (err) {
      throw this.failure ?? err;
    }
  }

  async discard(): Promise<void> {
    this.out.destroy();
    if (this.created) await rm(path.join(this.dir, `${this.name}.partial`), { force: true });
  }
}

/** Writes this host's part of the snapshot into `toDir`; returns the files written. */
export async function exportSnapshot(req: SnapshotExportRequest, deps: SnapshotExportDeps): Promise<ExportedFile[]> {
  const dir = req.toDir;
  if (!path.isAbsolute(dir)) throw new ValidationError(`export directory '${dir}' must be an absolute path`, { field: 'toDir' });
  const drivers = deps.select(req.artifacts.map((a) => a.component));
  const plan = planFiles(req, drivers);
  const manifest = Buffer.from(req.manifestJson.endsWith('\n') ? req.manifestJson : `${req.manifestJson}\n`);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  for (const name of plan.names) {
    if (await exists(path.join(dir, name))) throw new ConflictError(`${path.join(dir, name)} already exists: export into an empty directory (nothing was written)`);
  }
  await checkManifestSlot(dir, manifest);
  const written: ExportedFile[] = [];
  /** Files of this export another host wrote (the shared manifest): reported, never removed by this call. */
  const shared: ExportedFile[] = [];
  const open: PartialFile[] = [];
  const check = (): void => {
    if (req.signal?.aborted) throw new CancelledError(`export into ${dir} cancelled`);
  };
  try {
    // Galleries: every shard of this host appended into one file per gallery.
    const galleries = new Map<string, { file: PartialFile; records: number; model: string }>();
    for (const { driver, endpoint } of plan.shards) {
      check();
      const store = driver.sandboxGalleries(endpoint);
      try {
        for (const info of await store.listGalleries()) {
          let g = galleries.get(info.name);
          if (!g) {
            const file = new PartialFile(dir, galleryFileName(info.name));
            open.push(file);
            g = { file, records: 0, model: info.model };
            galleries.set(info.name, g);
          }
          for await (const lines of galleryBatches(store, info.name, req.signal ? { signal: req.signal } : {})) {
            await g.file.write(Buffer.concat(lines.flatMap((l) => [l, NEWLINE])));
            g.records += lines.length;
          }
        }
      } finally {
        await store.close();
      }
    }
    for (const [name, g] of galleries) written.push(await g.file.finish(`gallery ${name} (model ${g.model}): ${g.records} record(s)`));

    for (const p of plan.dumps) {
      check();
      const file = new PartialFile(dir, p.name);
      open.push(file);
      const source = req.repository.dump({ snapshotId: p.snapshotId, path: p.path }, req.signal ? { signal: req.signal } : {});
      for await (const chunk of source) await file.write(chunk as Buffer);
      written.push(await file.finish(`database ${p.database}: plain dump (${p.component})`));
    }

    for (const a of plan.archives) {
      check();
      const file = new PartialFile(dir, a.name);
      open.push(file);
      await stat(a.restored).catch((err: unknown) => {
        throw new NotFoundError(`upload root ${a.original} was not restored into the sandbox (${a.restored})`, { cause: err });
      });
      // Entries named as `tar -czf … /var/lib/ffupload/` names them (the root itself first), owners kept.
      for await (const chunk of createTar({ gzip: true, cwd: a.restored, prefix: archivePrefix(a.original) }, ['.'])) {
        check();
        await file.write(chunk as Buffer);
      }
      written.push(await file.finish(`upload root ${a.original} (${a.component})`));
    }

    const ours = await writeManifest(dir, manifest);
    const entry = { name: EXPORT_MANIFEST_NAME, bytes: manifest.length, sha256: createHash('sha256').update(manifest).digest('hex'), holds: 'the snapshot manifest' };
    if (ours) written.push(entry);
    else shared.push(entry);
  } catch (err) {
    await Promise.all(open.map((f) => f.discard()));
    // What this call completed goes too: a half export never looks whole.
    await Promise.all(written.map((f) => rm(path.join(dir, f.name), { force: true })));
    throw err;
  }
  deps.logger.info({ dir, files: written.length }, 'snapshot exported');
  return [...written, ...shared];
}

/**
 * The manifest slot: free, or holding this very manifest (another host of the site writing into the same
 * directory, on a shared filesystem or the same machine). Another manifest there is a conflict.
 */
async function checkManifestSlot(dir: string, manifest: Buffer): Promise<void> {
  const file = path.join(dir, EXPORT_MANIFEST_NAME);
  const there = await readFile(file).catch(() => undefined);
  if (there !== undefined && !there.equals(manifest)) throw new ConflictError(`${file} already exists and holds another snapshot's manifest: export into an empty directory (nothing was written)`);
}

/** Writes the manifest unless the same one is there (then false); never replaces another one. */
async function writeManifest(dir: string, manifest: Buffer): Promise<boolean> {
  const file = path.join(dir, EXPORT_MANIFEST_NAME);
  const partial = `${file}.partial-${randomBytes(6).toString('hex')}`;
  await writeFile(partial, manifest, { flag: 'wx' });
  try {
    await link(partial, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    await checkManifestSlot(dir, manifest);
    return false;
  } finally {
    await rm(partial, { force: true });
  }
}

interface FilePlan {
  names: string[];
  shards: { driver: TarantoolShardDriver; endpoint: Extract<SandboxComponent, { kind: 'tarantool' }> }[];
  dumps: { name: string; component: string; database: string; snapshotId: string; path: string }[];
  archives: { name: string; component: string; original: string; restored: string }[];
}

/** What each artifact becomes; refuses what cannot be exported before anything is written. */
function planFiles(req: SnapshotExportRequest, drivers: ComponentDriver[]): FilePlan {
  const plan: FilePlan = { names: [], shards: [], dumps: [], archives: [] };
  const sandboxOf = (component: string): SandboxComponent => {
    const s = req.sandbox.find((c) => c.component === component);
    if (!s) throw new ValidationError(`${component} was not restored into the sandbox: restore it there before the export`, { field: 'sandbox' });
    return s;
  };
  for (const [i, artifact] of req.artifacts.entries()) {
    const driver = drivers[i];
    switch (artifact.kind) {
      case 'tarantool': {
        const endpoint = sandboxOf(artifact.component);
        if (endpoint.kind !== 'tarantool' || !(driver instanceof TarantoolShardDriver)) throw new ValidationError(`${artifact.component} is not a Tarantool shard of this agent`, { field: 'artifacts' });
        plan.shards.push({ driver, endpoint });
        break;
      }
      case 'postgres': {
        const database = String(artifact.details?.database ?? '');
        const file = String(artifact.details?.file ?? '');
        const snapshotId = artifact.snapshotIds[0];
        if (!database || !file || artifact.details?.format !== 'plain' || !snapshotId) {
          throw new ValidationError(`${artifact.component}: the snapshot holds no plain dump to export (details: ${JSON.stringify(artifact.details ?? {})})`, { field: 'artifacts' });
        }
        const name = databaseDumpName(database);
        plan.dumps.push({ name, component: artifact.component, database, snapshotId, path: file });
        plan.names.push(name);
        break;
      }
      case 'uploads': {
        const s = sandboxOf(artifact.component);
        if (s.kind !== 'uploads') throw new ValidationError(`${artifact.component} is not an uploads component of this agent`, { field: 'artifacts' });
        for (const root of s.roots) {
          const name = uploadArchiveName(root.original);
          plan.archives.push({ name, component: artifact.component, original: root.original, restored: root.restored });
          plan.names.push(name);
        }
        break;
      }
      default:
        throw new ValidationError(`${artifact.component}: components of kind ${artifact.kind} cannot be exported in FindFace's layout`, { field: 'artifacts' });
    }
  }
  const seen = new Set<string>();
  for (const n of plan.names) {
    if (seen.has(n)) throw new ValidationError(`two components of this host would both write ${n}`, { field: 'artifacts' });
    seen.add(n);
  }
  return plan;
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
