/**
 * Upload directories of a dev site: `uploads/` (dossier photos, thumbnails, event full frames) and
 * `ffupload/` (normalized images), laid out in buckets of 1,000 record ids. Files are JPEG-framed random
 * bytes of realistic sizes, so they are as incompressible as real JPEGs. Paths stored in the database are
 * relative to their root, as Django's FileField stores them.
 */
import { randomFill, randomInt } from 'node:crypto';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

function randomFillAsync(buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => randomFill(buf, (err) => (err ? reject(err) : resolve())));
}

/** The two upload roots. */
export type UploadRoot = 'uploads' | 'ffupload';

/** A file reference: which root and the path inside it. */
export interface FileRef {
  root: UploadRoot;
  rel: string;
}

export interface UploadDirs {
  uploadsDir: string;
  ffuploadDir: string;
  /** Image sizes relative to FindFace's (1, the default): tests shrink them to move fewer bytes, same files. */
  imageScale?: number;
}

/** Size ranges in bytes, by kind of image. */
const SIZES = {
  photo: [50_000, 300_000],
  thumbnail: [10_000, 30_000],
  normalized: [10_000, 40_000],
  fullframe: [60_000, 300_000],
} as const;
export type ImageKind = keyof typeof SIZES;

/** Smallest image written, whatever the scale (a JPEG head and tail with something between). */
const MIN_IMAGE_BYTES = 64;

const JPEG_HEAD = Buffer.from('ffd8ffe000104a46494600010101004800480000', 'hex');
const JPEG_TAIL = Buffer.from('ffd9', 'hex');

function bucket(id: number): string {
  return String(Math.floor(id / 1000)).padStart(6, '0');
}

/** Files of a dossier face whose gallery record id is `id`. */
export function dossierFaceFiles(id: number): { sourcePhoto: string; thumbnail: string; normalized: string } {
  const dir = `dossier_faces/${bucket(id)}`;
  return { sourcePhoto: `${dir}/${id}_photo.jpg`, thumbnail: `${dir}/${id}_thumb.jpg`, normalized: `${dir}/${id}.jpg` };
}

/** Files of an event whose gallery record id is `id`. */
export function eventFiles(id: number): { thumbnail: string; fullframe: string; normalized: string } {
  const dir = `events/${bucket(id)}`;
  return { thumbnail: `${dir}/${id}_thumb.jpg`, fullframe: `${dir}/${id}_frame.jpg`, normalized: `${dir}/${id}.jpg` };
}

export function absPath(dirs: UploadDirs, ref: FileRef): string {
  return path.join(ref.root === 'uploads' ? dirs.uploadsDir : dirs.ffuploadDir, ref.rel);
}

/** Key of a file in sets and maps: `uploads:<rel>` or `ffupload:<rel>`. */
export function fileKey(ref: FileRef): string {
  return `${ref.root}:${ref.rel}`;
}

/** Inverse of `fileKey`. */
export function parseFileKey(key: string): FileRef {
  const colon = key.indexOf(':');
  return { root: key.slice(0, colon) as UploadRoot, rel: key.slice(colon + 1) };
}

/** Writes images; remembers directories it created so a busy writer does not mkdir every time. */
export class ImageWriter {
  private readonly madeDirs = new Set<string>();

  constructor(private readonly dirs: UploadDirs) {}

  /** Writes one JPEG-like file of a random size for its kind; returns its bytes. */
  async write(ref: FileRef, kind: ImageKind): Promise<Buffer> {
    const file = absPath(this.dirs, ref);
    const dir = path.dirname(file);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    const [min, max] = SIZES[kind];
    const scale = this.dirs.imageScale ?? 1;
    const size = Math.max(MIN_IMAGE_BYTES, Math.round(randomInt(min, max + 1) * scale));
    const buf = Buffer.allocUnsafe(size);
    await randomFillAsync(buf);
    JPEG_HEAD.copy(buf, 0);
    JPEG_TAIL.copy(buf, buf.length - JPEG_TAIL.length);
    await writeFile(file, buf);
    return buf;
  }

  /** Writes a file with the given bytes (a copy of another site's file: the native sync). */
  async writeBytes(ref: FileRef, bytes: Uint8Array): Promise<number> {
    const file = absPath(this.dirs, ref);
    const dir = path.dirname(file);
    if (!this.madeDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.madeDirs.add(dir);
    }
    await writeFile(file, bytes);
    return bytes.length;
  }

  /** Removes files; missing ones are fine (deletion is idempotent). */
  async remove(refs: readonly FileRef[]): Promise<void> {
    await Promise.all(refs.map((ref) => rm(absPath(this.dirs, ref), { force: true })));
  }
}

/** True for ffkeeper's own working entries in upload directories (`.ffk-shield`, `.ffk-restore-*`, `.ffk-aside-*`). */
function isFfkeeperEntry(name: string): boolean {
  return name.startsWith('.ffk-');
}

/** Every file under both roots, as `fileKey`s; ffkeeper's own `.ffk-*` entries are not the site's files. */
export async function listFiles(dirs: UploadDirs): Promise<Set<string>> {
  const out = new Set<string>();
  const walk = async (root: UploadRoot, base: string, rel: string): Promise<void> => {
    const entries = await readdir(path.join(base, rel), { withFileTypes: true }).catch(() => []);
    await Promise.all(
      entries.filter((e) => !isFfkeeperEntry(e.name)).map(async (e) => {
        const child = rel === '' ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) await walk(root, base, child);
        else out.add(fileKey({ root, rel: child }));
      }),
    );
  };
  await Promise.all([walk('uploads', dirs.uploadsDir, ''), walk('ffupload', dirs.ffuploadDir, '')]);
  return out;
}

export { mapLimit } from '../../shared/concurrency.js';
