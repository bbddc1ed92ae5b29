/**
 * Logical export and import of a shard's galleries in the one-file-per-gallery layout of
 * `export-layout.ts`, in batches (one iproto call per batch).
 *
 * Export reads a live shard gallery by gallery, key range by key range: it is consistent per record,
 * not across the shard, unless writes are stopped (or it runs against a restored sandbox instance).
 * With `verify` it compares each file with the shard's digest afterwards and fails when the shard
 * changed meanwhile.
 *
 * Import is resumable: every batch upserts its records and advances the gallery's progress marker
 * (lines done, stored in the target shard under the export's id) in one transaction, so an
 * interrupted import re-run skips what is done and continues; upserts make any overlap harmless. The
 * marker is cleared when the whole import completed. Records already in the target and absent from
 * the export are kept (like `findface-storage-api-restore`).
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { CancelledError, IllegalStateError, NotFoundError, ValidationError } from '../../../../shared/errors.js';
import {
  EXPORT_FORMAT,
  EXPORT_MANIFEST_FILE,
  galleryFileName,
  readLines,
  readManifest,
  type ExportedGallery,
  type ExportManifest,
} from './export-layout.js';
import type { GalleryInfo, GalleryStore } from './ports.js';

export const DEFAULT_BATCH_SIZE = 1000;

/** Progress of an export or import: records of `gallery` done so far. */
export interface LogicalProgress {
  gallery: string;
  done: number;
  total: number;
}

export interface ExportOptions {
  store: GalleryStore;
  /** Created when missing; must not hold an export already. */
  dir: string;
  /** Default: every gallery the shard registers. */
  galleries?: readonly string[];
  batchSize?: number;
  /** Compare each written file with the shard's digest afterwards (reads the galleries twice). */
  verify?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: LogicalProgress) => void;
}

/** Exports galleries into `dir`; the manifest is written last. */
export async function exportGalleries(options: ExportOptions): Promise<ExportManifest> {
  const { store, dir } = options;
  await mkdir(dir, { recursive: true });
  const all = await store.listGalleries();
  const wanted = options.galleries ?? all.map((g) => g.name);
  const galleries: ExportedGallery[] = [];
  for (const name of wanted) {
    const info = all.find((g) => g.name === name);
    if (!info) throw new NotFoundError(`gallery '${name}' does not exist on shard ${store.address}`);
    galleries.push(await exportOne(options, info));
  }
  if (options.verify) await verifyAgainstShard(store, galleries, 'changed during the export');
  const manifest: ExportManifest = { format: EXPORT_FORMAT, exportId: randomUUID(), source: store.address, createdAt: new Date().toISOString(), galleries };
  const file = path.join(dir, EXPORT_MANIFEST_FILE);
  await writeFile(`${file}.partial`, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(`${file}.partial`, file);
  return manifest;
}

async function exportOne(options: ExportOptions, info: GalleryInfo): Promise<ExportedGallery> {
  const file = galleryFileName(info.name);
  const target = path.join(options.dir, file);
  const partial = `${target}.partial`;
  const out = createWriteStream(partial);
  const hash = createHash('sha256');
  let records = 0;
  try {
    for await (const lines of galleryBatches(options.store, info.name, options)) {
      for (const line of lines) {
        const bytes = Buffer.concat([line, Buffer.from('\n')]);
        hash.update(bytes);
        if (!out.write(bytes)) await once(out, 'drain');
      }
      records += lines.length;
      options.onProgress?.({ gallery: info.name, done: records, total: Math.max(records, info.count) });
    }
    out.end();
    await once(out, 'finish');
    await rename(partial, target);
  } catch (err) {
    out.destroy();
    await rm(partial, { force: true });
    throw err;
  }
  return { name: info.name, model: info.model, dim: info.dim, file, records, sha256: hash.digest('hex') };
}

/** A gallery's records in key order, batch by batch (each a list of JSON lines without their newline). */
export async function* galleryBatches(store: GalleryStore, gallery: string, options: { batchSize?: number; signal?: AbortSignal } = {}): AsyncGenerator<Buffer[]> {
  let after: string | undefined;
  for (;;) {
    if (options.signal?.aborted) throw new CancelledError(`reading gallery '${gallery}' of ${store.address} cancelled`);
    const batch = await store.exportBatch(gallery, after, options.batchSize ?? DEFAULT_BATCH_SIZE);
    if (batch.lines.length === 0) return;
    yield batch.lines;
    after = batch.lastKey;
  }
}

export interface ImportOptions {
  store: GalleryStore;
  /** An export directory (with its manifest). */
  dir: string;
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (p: LogicalProgress) => void;
}

export interface ImportResult {
  exportId: string;
  /** Per gallery: lines imported by this run, and lines skipped as done by an earlier run. */
  galleries: Array<{ name: string; imported: number; skipped: number }>;
  /** Galleries whose content in the target now differs from the export (extra records in the target). */
  differing: string[];
}

/** Imports (or continues importing) the export in `dir`; see the module comment. */
export async function importGalleries(options: ImportOptions): Promise<ImportResult> {
  const { store, dir } = options;
  const manifest = await readManifest(dir);
  for (const g of manifest.galleries) await checkFile(dir, g);
  for (const g of manifest.galleries) await store.ensureGallery(g);
  const progress = await store.readProgress(manifest.exportId);
  const result: ImportResult = { exportId: manifest.exportId, galleries: [], differing: [] };
  for (const g of manifest.galleries) {
    const state = progress[g.name] ?? { linesDone: 0, finished: false };
    if (state.finished) {
      result.galleries.push({ name: g.name, imported: 0, skipped: g.records });
      continue;
    }
    const imported = await importOne(options, manifest.exportId, g, state.linesDone);
    result.galleries.push({ name: g.name, imported, skipped: state.linesDone });
  }
  const digests = await store.digest(manifest.galleries.map((g) => g.name));
  result.differing = manifest.galleries.filter((g) => digests[g.name]?.sha256 !== g.sha256).map((g) => g.name);
  await store.clearProgress(manifest.exportId);
  return result;
}

async function importOne(options: ImportOptions, exportId: string, g: ExportedGallery, linesDone: number): Promise<number> {
  const { store, signal } = options;
  const size = options.batchSize ?? DEFAULT_BATCH_SIZE;
  let line = 0;
  let done = linesDone;
  let batch: Buffer[] = [];
  const flush = async (): Promise<void> => {
    if (signal?.aborted) {
      throw new CancelledError(`import of ${options.dir} into ${store.address} cancelled at gallery '${g.name}' line ${done}; run it again to continue`);
    }
    const finished = done + batch.length === g.records;
    await store.importBatch({ exportId, gallery: g.name, linesDoneBefore: done, lines: batch, finished });
    done += batch.length;
    batch = [];
    options.onProgress?.({ gallery: g.name, done, total: g.records });
  };
  for await (const bytes of readLines(path.join(options.dir, g.file))) {
    line += 1;
    if (line <= linesDone) continue;
    batch.push(bytes);
    if (batch.length >= size) await flush();
  }
  if (line !== g.records) throw new ValidationError(`${g.file} holds ${line} records, its manifest says ${g.records}`, { field: g.name });
  if (batch.length > 0 || done === 0) await flush();
  return done - linesDone;
}

/** The file is there and is the one the manifest describes (checked before anything is imported). */
async function checkFile(dir: string, g: ExportedGallery): Promise<void> {
  const file = path.join(dir, g.file);
  const hash = createHash('sha256');
  try {
    for await (const line of readLines(file)) hash.update(line).update('\n');
  } catch (err) {
    throw new NotFoundError(`export file ${file} of gallery '${g.name}' cannot be read`, { cause: err });
  }
  if (hash.digest('hex') !== g.sha256) throw new ValidationError(`export file ${file} does not match its manifest (sha256 differs)`, { field: g.name });
}

async function verifyAgainstShard(store: GalleryStore, galleries: readonly ExportedGallery[], what: string): Promise<void> {
  const digests = await store.digest(galleries.map((g) => g.name));
  const changed = galleries.filter((g) => digests[g.name]?.sha256 !== g.sha256).map((g) => g.name);
  if (changed.length > 0) throw new IllegalStateError(`galleries ${changed.join(', ')} of ${store.address} ${what}; export again with writes stopped`);
}
