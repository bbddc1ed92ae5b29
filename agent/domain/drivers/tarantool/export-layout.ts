/**
 * The on-disk layout of a logical gallery export, FindFace's one-file-per-gallery form
 * (`findface-storage-api-dump`): `<dir>/<gallery>.json` holds one JSON record per line —
 * `{"id":…,"feat":"<float32 vector, base64>","norm":"<normalized image id>","meta":{…}}`, in primary
 * key order — and `<dir>/ffk-export.json`, written last, describes the export (models, dimensions,
 * record counts, sha256 of every file). An export without its manifest is incomplete.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, ValidationError } from '../../../../shared/errors.js';

export const EXPORT_MANIFEST_FILE = 'ffk-export.json';
export const EXPORT_FORMAT = 'ffkeeper.galleries/1';

/** One gallery of an export. */
export interface ExportedGallery {
  name: string;
  model: string;
  dim: number;
  /** File name inside the export directory: `<name>.json`. */
  file: string;
  records: number;
  /** sha256 of the file, which is also the gallery's digest (`GalleryStore.digest`) at export time. */
  sha256: string;
}

export interface ExportManifest {
  format: typeof EXPORT_FORMAT;
  /** Unique per export; imports keep their progress under it. */
  exportId: string;
  /** The shard exported (`host:port`). */
  source: string;
  createdAt: string;
  galleries: ExportedGallery[];
}

/** The file a gallery is exported to. */
export function galleryFileName(gallery: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(gallery) || gallery.startsWith('.')) {
    throw new ValidationError(`gallery name '${gallery}' cannot be a file name`, { field: 'gallery' });
  }
  return `${gallery}.json`;
}

/** Reads and checks `<dir>/ffk-export.json`. */
export async function readManifest(dir: string): Promise<ExportManifest> {
  const file = path.join(dir, EXPORT_MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new NotFoundError(`no export manifest ${file} (an export without it is incomplete)`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`export manifest ${file} is not JSON`, { cause: err, field: 'manifest' });
  }
  return checkManifest(raw, file);
}

function checkManifest(raw: unknown, file: string): ExportManifest {
  const bad = (what: string): never => {
    throw new ValidationError(`export manifest ${file}: ${what}`, { field: 'manifest' });
  };
  if (typeof raw !== 'object' || raw === null) return bad('not an object');
  const m = raw as Partial<Record<keyof ExportManifest, unknown>>;
  if (m.format !== EXPORT_FORMAT) return bad(`format is ${JSON.stringify(m.format)}, expected ${EXPORT_FORMAT}`);
  if (typeof m.exportId !== 'string' || m.exportId === '') return bad('exportId missing');
  if (!Array.isArray(m.galleries)) return bad('galleries missing');
  const galleries = m.galleries.map((g: unknown, i): ExportedGallery => {
    const e = (typeof g === 'object' && g !== null ? g : {}) as Partial<Record<keyof ExportedGallery, unknown>>;
    const ok =
      typeof e.name === 'string' && typeof e.model === 'string' && typeof e.file === 'string' && typeof e.sha256 === 'string' &&
      Number.isInteger(e.dim) && Number.isInteger(e.records);
    if (!ok) return bad(`galleries[${i}] is incomplete`);
    const gallery = e as ExportedGallery;
    if (gallery.file !== galleryFileName(gallery.name)) return bad(`galleries[${i}].file must be ${galleryFileName(gallery.name)}`);
    return gallery;
  });
  return {
    format: EXPORT_FORMAT,
    exportId: m.exportId,
    source: typeof m.source === 'string' ? m.source : '',
    createdAt: typeof m.createdAt === 'string' ? m.createdAt : '',
    galleries,
  };
}

/** The lines of a file as Buffers (without the '\n'), streamed; a final empty line is not yielded. */
export async function* readLines(file: string, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let rest: Buffer = Buffer.alloc(0);
  const stream = createReadStream(file, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) });
  for await (const chunk of stream) {
    let buf = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) >= 0) {
      yield buf.subarray(0, nl);
      buf = buf.subarray(nl + 1);
    }
    rest = Buffer.from(buf);
  }
  if (rest.length > 0) yield rest;
}
