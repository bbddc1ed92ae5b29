/**
 * A detector change's regeneration (reference 003, `findface-regenerate --regenerate=normalized`) as this
 * host's migration steps: the faces of a gallery with their source photo and normalized image, read from
 * findface-security's tables (`face-sources`, the agent holding the database); each face's normalized image
 * made again from its source photo by the extraction-api's face detector (`regenerate`, the agent holding
 * the upload directories); and the images it replaced, kept aside for a rollback, put back or removed
 * (`normalized-aside`).
 *
 * The image replaced is kept as a second name (a hard link) under `<ffupload>/.ffk-migration-<id>/`,
 * made once: a batch asked again finds it there and keeps it. The new image is written through a temporary
 * file and a rename, so a reader sees the old image or the new one, never part of one. `.ffk-` names are
 * ffkeeper's own: backups and the deletion shield pass them by.
 */
import path from 'node:path';
import type { AgentConfig } from '../../../shared/config/agent.js';
import { IllegalStateError, NotFoundError } from '../../../shared/errors.js';
import { chunks, mapLimit } from '../../../shared/concurrency.js';
import type { FailedFace, FaceSource, FaceSourceGallery, MigrationOpResult } from '../../../shared/migration/ops.js';
import { uploadRoots } from '../drivers/uploads/layout.js';

type PostgresComponent = Extract<AgentConfig['components'][number], { kind: 'postgres' }>;

/** What regeneration needs of the host (agent/adapters/migration.ts). */
export interface RegenerateHost {
  /** findface-security's faces of `gallery` after record id `after` ('' from the start), in record id order. */
  faceSources(db: PostgresComponent, gallery: FaceSourceGallery, after: string, limit: number): Promise<FaceSource[]>;
  /** One detector batch: each photo's normalized image (base64) or why it has none, and the detector file used. */
  detect(url: string, photos: readonly Buffer[]): Promise<{ detector: string; results: { normalized?: string; error?: string }[] }>;
  /** A file's bytes; undefined when there is none. */
  readBytes(file: string): Promise<Buffer | undefined>;
  /** Writes through a temporary file and a rename, creating the directory. */
  writeBytes(file: string, data: Uint8Array): Promise<void>;
  /** A second name for an existing file (a hard link), creating the directory; false when `existing` is none. */
  link(existing: string, file: string): Promise<boolean>;
  exists(file: string): Promise<boolean>;
  /** Renames over whatever `to` is, creating the directory. */
  rename(from: string, to: string): Promise<void>;
  /** The files under a directory, relative to it ([] when there is no such directory). */
  filesUnder(dir: string): Promise<string[]>;
  /** Removes a file, a link or a directory tree (nothing when it is not there). */
  remove(file: string): Promise<void>;
}

/** The directory of `<ffupload>` where migration `id` keeps the normalized images it replaced. */
export function asideDirOf(ffupload: string, migration: string): string {
  return path.join(ffupload, `.ffk-migration-${migration}`);
}

/** `rel` under `root`; undefined for a path that leaves it. */
function inside(root: string, rel: string): string | undefined {
  const file = path.resolve(root, rel);
  return file.startsWith(`${path.resolve(root)}${path.sep}`) ? file : undefined;
}

function rootsOf(config: AgentConfig): { uploads: string; ffupload: string } {
  const c = config.components.find((x) => x.kind === 'uploads');
  if (c?.kind !== 'uploads') throw new NotFoundError(`agent ${config.site}/${config.host} holds no upload directories (no 'uploads' component)`);
  const r = uploadRoots(c.paths);
  if (!r.uploads || !r.ffupload) throw new IllegalStateError(`agent ${config.site}/${config.host}: its uploads component names ${c.paths.join(', ')}: not both findface-security's uploads and findface-upload's ffupload`);
  return { uploads: r.uploads, ffupload: r.ffupload };
}

export async function faceSources(config: AgentConfig, host: RegenerateHost, req: { gallery: FaceSourceGallery; after: string; limit: number }): Promise<Extract<MigrationOpResult, { op: 'face-sources' }>> {
  const db = config.components.find((c): c is PostgresComponent => c.kind === 'postgres');
  if (!db) throw new NotFoundError(`agent ${config.site}/${config.host} holds no findface-security database (no 'postgres' component)`);
  const faces = await host.faceSources(db, req.gallery, req.after, req.limit);
  return { op: 'face-sources', faces, done: faces.length < req.limit };
}

export async function regenerate(
  config: AgentConfig,
  host: RegenerateHost,
  req: { migration: string; faces: readonly FaceSource[]; extractionApiUrl: string; batchSize: number; workers: number },
): Promise<Extract<MigrationOpResult, { op: 'regenerate' }>> {
  const roots = rootsOf(config);
  const aside = asideDirOf(roots.ffupload, req.migration);
  const failed: FailedFace[] = [];
  const fail = (f: FaceSource, reason: string): void => void failed.push({ gallery: f.gallery, id: f.id, reason });
  let detector = '';
  let regenerated = 0;
  await mapLimit(chunks(req.faces, req.batchSize), req.workers, async (b) => {
    // Paths that leave their root (the database names them) are listed, never read or written.
    const placed = b.flatMap((f) => {
      const source = inside(roots.uploads, f.source);
      const target = inside(roots.ffupload, f.normalized);
      const kept = inside(aside, f.normalized);
      if (!source || !target || !kept) fail(f, `${source ? `normalized image '${f.normalized}'` : `source photo '${f.source}'`} is not a path inside ${source ? roots.ffupload : roots.uploads}`);
      return source && target && kept ? [{ f, source, target, kept }] : [];
    });
    const photos = await Promise.all(placed.map((x) => host.readBytes(x.source)));
    const ready = placed.flatMap((x, i) => {
      const photo = photos[i];
      if (!photo) fail(x.f, `source photo ${x.f.source}: missing (${x.source})`);
      return photo ? [{ ...x, photo }] : [];
    });
    if (ready.length === 0) return;
    const answer = await host.detect(req.extractionApiUrl, ready.map((x) => x.photo));
    detector = answer.detector;
    for (const [i, { f, target, kept }] of ready.entries()) {
      const r = answer.results[i];
      if (!r?.normalized) {
        fail(f, `detector ${answer.detector}: ${r?.error ?? 'no normalized image'}`);
        continue;
      }
      // The image this replaces, kept once: a batch asked again must not keep its own output.
      if (!(await host.exists(kept))) await host.link(target, kept);
      await host.writeBytes(target, Buffer.from(r.normalized, 'base64'));
      regenerated++;
    }
  });
  return { op: 'regenerate', detector, regenerated, failed };
}

/** The images a migration's regeneration replaced: back in place (`restore`), or removed; the directory removed after. */
export async function normalizedAside(config: AgentConfig, host: RegenerateHost, req: { migration: string; action: 'restore' | 'remove' }): Promise<Extract<MigrationOpResult, { op: 'normalized-aside' }>> {
  const roots = rootsOf(config);
  const dir = asideDirOf(roots.ffupload, req.migration);
  const files = await host.filesUnder(dir);
  if (req.action === 'restore') {
    for (const rel of files) {
      const target = inside(roots.ffupload, rel);
      if (target) await host.rename(path.join(dir, rel), target);
    }
  }
  await host.remove(dir);
  return { op: 'normalized-aside', dir, files: files.length };
}
