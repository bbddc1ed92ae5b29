/**
 * A snapshot import on one host (issue 19): this host's part of an export in FindFace's backup layout
 * (reference 000, as `snapshot export` writes it or as an operator made it with FindFace's own tools)
 * brought into the site's repository, each component stored as the artifact a cut's upload makes — the
 * plain database dump, each shard's checkpoint built from the gallery files, the upload roots from their
 * archives (see each driver's `import.ts`). The controller seals the artifacts of every host into a new
 * snapshot; nothing live is touched.
 *
 * Which components, and each one's layout, come from the site's newest sealed snapshot (the base): the
 * export does not carry a shard's schema and users. When the export holds ffkeeper's manifest, its cut
 * time becomes the snapshot's and its gallery models are checked against the shards'; without one, the
 * newest file of the export dates it.
 */
import { readFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { CancelledError, FfkError, NotFoundError, ValidationError, toFfkError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { ComponentArtifact, Manifest } from '../../shared/manifest.js';
import { decodeManifest } from '../../shared/manifest-codec.js';
import type { Repository } from '../../shared/repository/repository.js';
import { EXPORT_MANIFEST_NAME } from './drivers/findface-backup.js';
import type { ComponentDriver, DriverProgress } from './drivers/types.js';

export interface SnapshotImportRequest {
  jobId: string;
  site: string;
  /** The new snapshot's id: every artifact is tagged with it (an aborted import's are found and removed by it). */
  cutId: string;
  /** The export on this host (absolute). */
  fromDir: string;
  /** This host's artifacts in the site's newest sealed snapshot: the components to import and their layout. */
  base: ComponentArtifact[];
  repository: Repository;
  signal?: AbortSignal;
  onProgress?: (p: DriverProgress) => void;
}

export interface SnapshotImportDeps {
  select: (refs: readonly string[]) => ComponentDriver[];
  /** The agent's directory for import work (`<cacheDir>/import`); each job's part is removed after it. */
  workRoot: string;
  /** Each shard's place among the site's shards (findface-sf-api.ini's order), by component ref. */
  placement: () => Promise<Map<string, { index: number; of: number }>>;
  logger: Logger;
}

/** What one host stored, and what the export said of itself. */
export interface HostImport {
  artifacts: ComponentArtifact[];
  /** When the exported data was current (the export's cut time, else its newest file's time). */
  time: Date;
  /** The exported snapshot, when the export holds ffkeeper's manifest. */
  source?: { site: string; cutId: string };
}

/** The export's manifest, when it has one; throws naming the file when it is there but unreadable. */
async function exportManifest(dir: string): Promise<Manifest | undefined> {
  const file = path.join(dir, EXPORT_MANIFEST_NAME);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw new ValidationError(`${file} cannot be read: ${err.message}`, { field: 'fromDir', cause: err });
  });
  return text === undefined ? undefined : decodeManifest(text, file);
}

/** The newest modification time among the export's files. */
async function newestFile(dir: string): Promise<Date> {
  let newest = 0;
  for (const name of await readdir(dir)) newest = Math.max(newest, (await stat(path.join(dir, name))).mtimeMs);
  return new Date(newest);
}

/** Imports this host's components of the export; see the module comment. */
export async function importSnapshot(req: SnapshotImportRequest, deps: SnapshotImportDeps): Promise<HostImport> {
  const dir = req.fromDir;
  if (!path.isAbsolute(dir) || dir.split('/').includes('..')) throw new ValidationError(`import directory '${dir}' must be an absolute path without '..'`, { field: 'fromDir' });
  const info = await stat(dir).catch((err: unknown) => {
    throw new NotFoundError(`import directory ${dir} does not exist on this host: ${(err as Error).message}`, { cause: err });
  });
  if (!info.isDirectory()) throw new ValidationError(`import path ${dir} is not a directory`, { field: 'fromDir' });
  if (req.base.length === 0) throw new ValidationError('nothing to import on this host: the base snapshot names no component of it', { field: 'base' });
  const drivers = deps.select(req.base.map((a) => a.component));
  const unable = drivers.filter((d) => !d.importArtifact).map((d) => d.ref);
  if (unable.length > 0) throw new ValidationError(`component(s) ${unable.join(', ')} cannot be imported by this agent`, { field: 'base' });
  const manifest = await exportManifest(dir);
  const time = manifest?.createdAt ?? (await newestFile(dir));
  const placements = drivers.some((d) => d.kind === 'tarantool') ? await deps.placement() : new Map<string, { index: number; of: number }>();

  const jobDir = path.join(deps.workRoot, req.jobId);
  const artifacts: ComponentArtifact[] = [];
  try {
    for (const [i, driver] of drivers.entries()) {
      if (req.signal?.aborted) throw new CancelledError(`import from ${dir} cancelled`);
      const workDir = path.join(jobDir, `${driver.kind}-${driver.name}`);
      await rm(workDir, { recursive: true, force: true });
      await mkdir(workDir, { recursive: true, mode: 0o750 });
      const placement = placements.get(driver.ref);
      try {
        const artifact = await (driver.importArtifact as NonNullable<ComponentDriver['importArtifact']>)({
          jobId: req.jobId,
          tags: { site: req.site, cutId: req.cutId, component: driver.ref },
          repository: req.repository,
          logger: deps.logger.child({ jobId: req.jobId, component: driver.ref }),
          base: req.base[i] as ComponentArtifact,
          fromDir: dir,
          workDir,
          time,
          ...(placement ? { placement } : {}),
          ...(manifest ? { models: manifest.models } : {}),
          ...(req.signal ? { signal: req.signal } : {}),
          ...(req.onProgress ? { onProgress: req.onProgress } : {}),
        });
        artifacts.push(artifact);
      } catch (err) {
        // Name the component when its error does not already.
        const e = toFfkError(err);
        throw e.message.includes(driver.ref) ? e : new FfkError(e.code, `${driver.ref}: ${e.message}`, { cause: err });
      } finally {
        await rm(workDir, { recursive: true, force: true }).catch((err: unknown) => deps.logger.warn({ err, workDir }, 'could not remove an import work directory'));
      }
    }
  } finally {
    await rm(jobDir, { recursive: true, force: true }).catch(() => undefined);
  }
  deps.logger.info({ dir, components: artifacts.map((a) => a.component) }, 'export imported');
  return { artifacts, time, ...(manifest ? { source: { site: manifest.site, cutId: manifest.cutId } } : {}) };
}
