/**
 * `findface-sf-api-migrate -config migration.ini` for the dev site (reference 001, step 7): every face of
 * the old shards (`storage-api-from`) re-extracted from its normalized image with the model the
 * extraction-api serves now, into the new shard at the same position (`storage-api-to`; a record keeps
 * its shard, `id % N`). `workers_num` extraction calls of `extraction_batch_size` images run at a time;
 * records are read `faces_limit` at a time. Galleries of other kinds (body, car) are copied as they are.
 * A face whose normalized image is missing or that the extraction-api refuses is listed and skipped; the
 * rest is migrated. Each new shard's face galleries must already hold the served model (tnt_schema.lua
 * regenerated before they started), else nothing is written.
 *
 * The real tool reads normalized images from findface-upload's WebDAV (`normalized_storage`); the dev site
 * has none, so they are read from the site's ffupload directory.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { IllegalStateError, UnavailableError } from '../../shared/errors.js';
import type { MigrationIni } from '../../shared/findface/migration-ini.js';
import { galleryModelOf, parseGalleryModel } from '../../shared/findface/models.js';
import { mapLimit } from '../../shared/concurrency.js';
import { GALLERY_BATCH_LUA } from '../../shared/tarantool/gallery-lua.js';
import type { SiteState } from './state.js';
import { REPLACE_LINES_LUA } from './storage-api-lua.js';
import { LONG_REQUEST_MS, type StorageShards } from './storage-api-shards.js';

export interface MigrateReport {
  /** The extraction-api's model file the faces were extracted with. */
  model: string;
  faces: number;
  copied: number;
  failed: { gallery: string; id: string; reason: string }[];
}

interface Page {
  lines: string[];
  last: string | null;
}

async function page(shards: StorageShards, index: number, gallery: string, after: string | null, limit: number): Promise<Page> {
  const client = shards.shards[index]?.client;
  if (!client) throw new IllegalStateError(`no shard #${index}`);
  const [b64, last, n] = (await client.eval(GALLERY_BATCH_LUA, [gallery, after, limit], { timeoutMs: LONG_REQUEST_MS })) as [string, string | null, number];
  return { lines: n === 0 ? [] : Buffer.from(b64, 'base64').toString('utf8').split('\n'), last };
}

/** One `POST /v2/extract/batch` of the dev site's extraction-api. */
export async function extractBatch(url: string, images: readonly Uint8Array[]): Promise<{ file: string; results: { facen?: string; error?: string }[] }> {
  const res = await fetch(new URL('v2/extract/batch', url.endsWith('/') ? url : `${url}/`), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind: 'face', images: images.map((i) => Buffer.from(i).toString('base64')) }),
  }).catch((err: unknown) => {
    throw new UnavailableError(`extraction-api ${url} does not answer: ${(err as Error).message}`);
  });
  const text = await res.text();
  if (!res.ok) throw new UnavailableError(`extraction-api ${url}: HTTP ${res.status} ${text.slice(0, 200)}`);
  return JSON.parse(text) as { file: string; results: { facen?: string; error?: string }[] };
}

/** The model file the extraction-api serves for faces (its answer to an empty batch is refused: ask /models). */
async function servedModel(url: string): Promise<string> {
  const res = await fetch(new URL('models', url.endsWith('/') ? url : `${url}/`)).catch((err: unknown) => {
    throw new UnavailableError(`extraction-api ${url} does not answer: ${(err as Error).message}`);
  });
  const body = (await res.json()) as { models?: { face?: { file?: string } } };
  const file = body.models?.face?.file;
  if (!file) throw new IllegalStateError(`extraction-api ${url} extracts no faces`);
  return file;
}

export async function migrateFaces(state: SiteState, ini: MigrationIni, from: StorageShards, to: StorageShards, say: (line: string) => void): Promise<MigrateReport> {
  const model = await servedModel(ini.extractionApiUrl);
  const target = galleryModelOf(model);
  const [oldGalleries, newGalleries] = await Promise.all([from.galleries(), to.galleries()]);
  // Nothing is written unless every new shard is ready for every gallery it is to receive.
  for (let i = 0; i < from.shards.length; i++) {
    for (const g of oldGalleries[i] ?? []) {
      const there = newGalleries[i]?.find((n) => n.name === g.name);
      const face = parseGalleryModel(g.model).kind === 'face';
      const want = face ? target : g.model;
      if (!there) throw new IllegalStateError(`${to.label(i)} has no gallery '${g.name}': start the new shards from the regenerated tnt_schema.lua`);
      if (there.model !== want) throw new IllegalStateError(`${to.label(i)}: gallery '${g.name}' holds model '${there.model}', the migration writes '${want}': regenerate tnt_schema.lua before starting the new shards`);
    }
  }
  const report: MigrateReport = { model, faces: 0, copied: 0, failed: [] };
  for (let i = 0; i < from.shards.length; i++) {
    for (const g of oldGalleries[i] ?? []) {
      const face = parseGalleryModel(g.model).kind === 'face';
      let done = 0;
      for (let after: string | null = null; ; ) {
        const p = await page(from, i, g.name, after, ini.facesLimit);
        if (p.lines.length === 0) break;
        const out = face ? await reextract(state, ini, g.name, p.lines, report) : p.lines;
        if (out.length > 0) {
          const client = to.shards[i]?.client;
          await client?.eval(REPLACE_LINES_LUA, [g.name, `${from.label(i)} → ${to.label(i)}`, out.map((line, k) => [k + 1, line])], { timeoutMs: LONG_REQUEST_MS });
        }
        done += out.length;
        if (p.lines.length < ini.facesLimit || p.last === null) break;
        after = p.last;
      }
      if (face) report.faces += done;
      else report.copied += done;
      say(`${g.name}: ${done} ${face ? `faces re-extracted with ${model}` : 'records copied'} (${from.label(i)} → ${to.label(i)})`);
    }
  }
  return report;
}

/** The page's faces with their vectors re-extracted; failures recorded in `report` and left out. */
async function reextract(state: SiteState, ini: MigrationIni, gallery: string, lines: readonly string[], report: MigrateReport): Promise<string[]> {
  const records = lines.map((line) => ({ line, ...(JSON.parse(line) as { norm: string }), id: /"id":(\d+)/.exec(line)?.[1] ?? '?' }));
  const images = await Promise.all(
    records.map((r) =>
      readFile(path.join(state.uploads.ffuploadDir, r.norm)).catch((err: NodeJS.ErrnoException) => {
        report.failed.push({ gallery, id: r.id, reason: `normalized image ${r.norm}: ${err.code === 'ENOENT' ? 'missing' : err.message}` });
        return undefined;
      }),
    ),
  );
  const ready: { r: (typeof records)[number]; image: Uint8Array }[] = [];
  records.forEach((r, k) => {
    const image = images[k];
    if (image) ready.push({ r, image });
  });
  const batches: (typeof ready)[] = [];
  for (let k = 0; k < ready.length; k += ini.extractionBatchSize) batches.push(ready.slice(k, k + ini.extractionBatchSize));
  const results = await mapLimit(batches, ini.workers, async (batch) => {
    const answer = await extractBatch(ini.extractionApiUrl, batch.map((x) => x.image));
    return batch.map((x, k) => ({ r: x.r, result: answer.results[k] }));
  });
  const out: string[] = [];
  for (const { r, result } of results.flat()) {
    if (!result?.facen) {
      report.failed.push({ gallery, id: r.id, reason: `extraction-api: ${result?.error ?? 'no vector'}` });
      continue;
    }
    out.push(r.line.replace(/"feat":"[^"]*"/, `"feat":"${result.facen}"`));
  }
  return out;
}
