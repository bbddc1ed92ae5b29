/**
 * A snapshot import of one shard: the export's galleries (`<gallery>.json`, one record per line as
 * findface-storage-api-dump writes them) turned into a checkpoint of this shard, the artifact a cut's upload
 * makes, so restore, verify and export take it like any other. The live shard is not touched:
 *
 * 1. the shard's checkpoint in the site's newest sealed snapshot (the base) is placed in the agent's work
 *    directory — it gives the shard's schema, users and gallery registry, which the export does not carry;
 * 2. a writable scratch instance starts from it, every gallery is emptied and filled with the export's
 *    records that belong to this shard — the record of id N to the shard `N % of` of the site's shards in
 *    findface-sf-api.ini's order, as findface-storage-api-restore places it — in checked batches;
 * 3. `box.snapshot()` writes the new checkpoint, which is pinned and stored as a cut's upload stores one
 *    (upload.ts), then the scratch instance stops.
 *
 * A gallery in the export that the shard does not have, a model that differs from the shard's, a line that
 * is not a record or whose vector does not fit the gallery fails the import naming the file and line.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, ValidationError } from '../../../../shared/errors.js';
import { EXPORT_MANIFEST_NAME } from '../findface-backup.js';
import type { ComponentArtifact, ImportContext } from '../types.js';
import { readLines } from './export-layout.js';
import { DEFAULT_BATCH_SIZE } from './logical.js';
import type { GalleryStore } from './ports.js';
import { restoreShard, type ShardRestoreDeps } from './restore.js';
import type { ScratchInstances } from './sandbox.js';
import { uploadCheckpoint } from './upload.js';

export interface ShardImportDeps {
  restore: ShardRestoreDeps;
  scratch: ScratchInstances;
  /** The galleries of the scratch instance at `host:port` (with the shard's credentials). */
  galleriesAt: (host: string, port: number) => GalleryStore;
  initLua?: string;
  checkpointTimeoutMs: number;
  batchSize?: number;
}

/** The gallery files of an export: `<gallery>.json`, by gallery name. */
export async function galleryFiles(dir: string): Promise<Map<string, string>> {
  const names = await readdir(dir).catch((err: unknown) => {
    throw new NotFoundError(`export directory ${dir} cannot be read: ${(err as Error).message}`, { cause: err });
  });
  const out = new Map<string, string>();
  for (const name of names.sort()) {
    if (!name.endsWith('.json') || name === EXPORT_MANIFEST_NAME || name.startsWith('.')) continue;
    out.set(name.slice(0, -'.json'.length), path.join(dir, name));
  }
  return out;
}

/** The record id of one line (decimal text, any size); throws naming the file and line. */
export function recordId(line: Buffer, file: string, lineNo: number): bigint {
  const text = line.toString('utf8');
  const head = /^\s*\{\s*"id"\s*:\s*(\d+)\s*[,}]/.exec(text);
  if (head) return BigInt(head[1] as string);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ValidationError(`${file} line ${lineNo}: not a JSON record (${(err as Error).message})`, { field: 'fromDir' });
  }
  const id = (parsed as { id?: unknown } | null)?.id;
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return BigInt(id);
  if (typeof id === 'string' && /^\d+$/.test(id)) return BigInt(id);
  throw new ValidationError(`${file} line ${lineNo}: the record has no unsigned integer id`, { field: 'fromDir' });
}

/** Builds the shard's checkpoint from the export and stores it; see the module comment. */
export async function importShard(deps: ShardImportDeps, ctx: ImportContext): Promise<ComponentArtifact> {
  const ref = deps.restore.ref;
  const placement = ctx.placement;
  if (!placement) {
    throw new ValidationError(`${ref}: its place among the site's shards is unknown — findface-sf-api.ini lists no storage-api at this shard's HTTP port (records go to shards in that list's order)`, { field: 'placement' });
  }
  const files = await galleryFiles(ctx.fromDir);
  if (files.size === 0) throw new NotFoundError(`${ref}: the export in ${ctx.fromDir} has no <gallery>.json file`);
  let fileBytes = 0;
  for (const f of files.values()) fileBytes += (await stat(f)).size;

  const data = path.join(ctx.workDir, 'data');
  const common = { jobId: ctx.jobId, repository: ctx.repository, logger: ctx.logger, ...(ctx.signal ? { signal: ctx.signal } : {}), ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}) };
  await restoreShard(deps.restore, { ...common, artifact: ctx.base, targetDir: data });
  const dirs = { memtx: path.join(data, 'memtx'), vinyl: path.join(data, 'vinyl'), wal: path.join(data, 'wal') };
  // Records take about what their JSON lines take (base64 vectors shrink, tuples add headers): twice the files is room enough.
  const started = await deps.scratch.start({ dir: ctx.workDir, dirs, writable: true, memtxBytes: 2 * fileBytes, ...(deps.initLua ? { initLua: deps.initLua } : {}) });
  const store = deps.galleriesAt(started.host, started.port);
  try {
    const records = await fill(deps, ctx, store, files, placement);
    // The checkpoint of what is in the instance now, stored as a cut's upload stores one.
    const token = `import-${ctx.jobId}-${ctx.tags.component}`;
    const begun = await started.admin.startCheckpoint(token, 2_000);
    const cut = { kind: 'tarantool' as const, component: ref, time: ctx.time, vclock: begun.vclock, signature: begun.signature };
    const artifact = await uploadCheckpoint({ ref, admin: started.admin, galleries: store, checkpointTimeoutMs: deps.checkpointTimeoutMs }, cut, token, { ...common, tags: ctx.tags });
    const counts = Object.fromEntries(Object.entries(records).map(([g, n]) => [`records:${g}`, n]));
    return { ...artifact, details: { ...artifact.details, ...counts, address: `import of ${ctx.fromDir}`, importedFrom: ctx.fromDir, placement: `${placement.index} of ${placement.of}` } };
  } finally {
    await store.close().catch(() => undefined);
    await started.admin.close().catch(() => undefined);
    await deps.scratch.stop(ctx.workDir);
  }
}

/** Empties every gallery of the scratch instance and loads this shard's records of the export; records per gallery. */
async function fill(deps: ShardImportDeps, ctx: ImportContext, store: GalleryStore, files: Map<string, string>, placement: { index: number; of: number }): Promise<Record<string, number>> {
  const ref = deps.restore.ref;
  const galleries = await store.listGalleries();
  const byName = new Map(galleries.map((g) => [g.name, g]));
  for (const name of files.keys()) {
    if (!byName.has(name)) {
      throw new ValidationError(`${ref}: the export holds gallery '${name}', which this shard does not have (it has: ${galleries.map((g) => g.name).join(', ') || 'none'})`, { field: 'fromDir' });
    }
  }
  for (const [name, model] of Object.entries(ctx.models ?? {})) {
    const g = byName.get(name);
    if (g && g.model !== model) {
      throw new ValidationError(`${ref}: gallery '${name}' holds vectors of model '${g.model}' on this shard, the export's are of model '${model}' (import into a site on the export's model)`, { field: 'models' });
    }
  }
  const size = deps.batchSize ?? DEFAULT_BATCH_SIZE;
  const of = BigInt(placement.of);
  const index = BigInt(placement.index);
  const counts: Record<string, number> = {};
  for (const g of galleries) {
    await store.truncate(g.name);
    const file = files.get(g.name);
    let written = 0;
    if (file) {
      let batch: Buffer[] = [];
      let lineNo = 0;
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        try {
          written += await store.replaceBatch(g.name, batch);
        } catch (err) {
          throw err instanceof ValidationError ? new ValidationError(`${ref}: ${file} (lines up to ${lineNo}): ${err.message}`, { cause: err, field: 'fromDir' }) : err;
        }
        batch = [];
        ctx.onProgress?.({ component: ref, step: 'load', message: `${g.name}: ${written} record(s)` });
      };
      for await (const line of readLines(file, ctx.signal)) {
        lineNo++;
        if (line.length === 0) continue;
        if (recordId(line, file, lineNo) % of !== index) continue;
        batch.push(Buffer.from(line));
        if (batch.length >= size) await flush();
      }
      await flush();
    }
    counts[g.name] = written;
  }
  ctx.logger.info({ component: ref, records: counts, placement }, 'galleries loaded from the export');
  return counts;
}
