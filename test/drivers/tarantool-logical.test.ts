/**
 * Logical export/import of galleries (one NDJSON file per gallery) between real Tarantool instances:
 * exact round trip (64-bit ids, float meta, binary vectors), an import interrupted mid-way and re-run
 * ends with identical content, model mismatches and damaged files are refused before any write.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IprotoGalleryStore } from '../../agent/adapters/tarantool/iproto-gallery-store.js';
import { EXPORT_MANIFEST_FILE, type ExportManifest } from '../../agent/domain/drivers/tarantool/export-layout.js';
import { exportGalleries, importGalleries } from '../../agent/domain/drivers/tarantool/logical.js';
import { CancelledError, IllegalStateError, ValidationError } from '../../shared/errors.js';
import { waitFor } from '../harness/processes.js';
import { startTarantool, type TestTarantool } from '../harness/tarantool.js';
import { contentHash, DIM, galleriesSetupLua, seed, update, vector, withClient } from './tarantool-helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function instance(extraLua = ''): Promise<{ tnt: TestTarantool; store: IprotoGalleryStore }> {
  // The harness returns once the port listens, before extraLua (and the guest grant) has run: wait for its end.
  const tnt = await startTarantool({ extraLua: `${extraLua}\nrawset(_G, 'ffk_test_ready', true)` });
  cleanups.push(() => tnt.stop());
  await waitFor(() => withClient(tnt.port, async (c) => (await c.eval("return rawget(_G, 'ffk_test_ready') == true"))[0] === true), 10_000, 20);
  const store = new IprotoGalleryStore({ host: tnt.host, port: tnt.port });
  cleanups.push(() => store.close());
  return { tnt, store };
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-tnt-export-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A source shard: 2,500 face objects (ids 1..2500), a few events, a 64-bit id, one empty gallery set. */
async function source(): Promise<{ tnt: TestTarantool; store: IprotoGalleryStore }> {
  const src = await instance(galleriesSetupLua());
  await withClient(src.tnt.port, async (c) => {
    await seed(c, 'ffsec_face_objects', Array.from({ length: 2500 }, (_, i) => i + 1));
    await seed(c, 'ffsec_face_events', Array.from({ length: 120 }, (_, i) => 10_000 + i));
    await seed(c, 'ffsec_car_events', [3n, 2n ** 63n + 11n]);
  });
  return src;
}

describe('tarantool logical export/import', () => {
  it('exports one NDJSON file per gallery with a manifest that matches the shard', async () => {
    const src = await source();
    const dir = tempDir();
    const manifest = await exportGalleries({ store: src.store, dir, batchSize: 700, verify: true });
    expect(readdirSync(dir).sort()).toEqual([...manifest.galleries.map((g) => g.file), EXPORT_MANIFEST_FILE].sort());
    const face = manifest.galleries.find((g) => g.name === 'ffsec_face_objects');
    expect(face).toMatchObject({ model: 'face-v1', dim: DIM, records: 2500 });
    const text = readFileSync(path.join(dir, 'ffsec_face_objects.json'));
    expect(createHash('sha256').update(text).digest('hex')).toBe(face?.sha256);
    const lines = text.toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(2500);
    const first = JSON.parse(lines[0] ?? '') as { id: number; feat: string; norm: string; meta: Record<string, unknown> };
    expect(first.id).toBe(1);
    expect(Buffer.from(first.feat, 'base64')).toEqual(vector(1));
    expect(first.norm).toBe('norm-1');
    expect(Object.keys(first.meta)).toEqual(['camera', 'confidence', 'frame', 'matched']);
    const cars = readFileSync(path.join(dir, 'ffsec_car_events.json'), 'utf8');
    expect(cars).toContain(`{"id":${(2n ** 63n + 11n).toString()},`);
    expect(manifest.galleries.find((g) => g.name === 'ffsec_persons')?.records).toBe(0);
    const digests = await src.store.digest();
    for (const g of manifest.galleries) expect(digests[g.name]).toEqual({ count: g.records, sha256: g.sha256 });
  });

  it('an import interrupted mid-way and run again ends with content identical to the source', async () => {
    const src = await source();
    const dir = tempDir();
    const galleries = ['ffsec_face_objects', 'ffsec_face_events', 'ffsec_car_events', 'ffsec_persons'];
    const manifest = await exportGalleries({ store: src.store, dir, galleries, batchSize: 1000 });
    expect(manifest.galleries.map((g) => g.name)).toEqual(galleries);
    const dst = await instance();
    const abort = new AbortController();
    let batches = 0;
    const first = importGalleries({
      store: dst.store,
      dir,
      batchSize: 400,
      signal: abort.signal,
      onProgress: () => {
        if (++batches === 3) abort.abort();
      },
    });
    await expect(first).rejects.toThrow(CancelledError);
    await expect(first).rejects.toThrow(`cancelled at gallery '${manifest.galleries[0]?.name ?? ''}' line 1200; run it again to continue`);
    const marker = await dst.store.readProgress(manifest.exportId);
    expect(Object.values(marker)).toEqual([{ linesDone: 1200, finished: false }]);
    expect((await dst.store.digest())[manifest.galleries[0]?.name ?? '']?.count).toBe(1200);

    const again = await importGalleries({ store: dst.store, dir, batchSize: 400 });
    const face = again.galleries.find((g) => g.name === 'ffsec_face_objects');
    expect(face).toEqual({ name: 'ffsec_face_objects', imported: 1300, skipped: 1200 });
    expect(again.differing).toEqual([]);
    expect(await dst.store.digest()).toEqual(await src.store.digest(galleries));
    const [allSrc, dstHash] = await Promise.all([withClient(src.tnt.port, contentHash), withClient(dst.tnt.port, contentHash)]);
    const srcHash = Object.fromEntries(galleries.map((g) => [g, allSrc[g]]));
    expect(Object.values(srcHash).every((h) => typeof h === 'string')).toBe(true);
    expect(dstHash).toEqual(srcHash);
    expect(await dst.store.readProgress(manifest.exportId)).toEqual({});

    // A complete import run once more changes nothing (idempotent upserts).
    await importGalleries({ store: dst.store, dir });
    expect(await withClient(dst.tnt.port, contentHash)).toEqual(srcHash);
  });

  it('reports galleries whose target content differs from the export (records the target had already)', async () => {
    const src = await source();
    const dir = tempDir();
    await exportGalleries({ store: src.store, dir });
    const dst = await instance(galleriesSetupLua());
    await withClient(dst.tnt.port, async (c) => {
      await seed(c, 'ffsec_face_objects', [1]); // overwritten by the import: same id
      await seed(c, 'ffsec_body_events', [77]); // kept: not in the export
    });
    const result = await importGalleries({ store: dst.store, dir });
    expect(result.differing).toEqual(['ffsec_body_events']);
    expect((await dst.store.digest(['ffsec_body_events'])).ffsec_body_events?.count).toBe(1);
  });

  it('refuses a gallery of another model before importing anything', async () => {
    const src = await source();
    const dir = tempDir();
    await exportGalleries({ store: src.store, dir, galleries: ['ffsec_face_objects', 'ffsec_car_events'] });
    const dst = await instance(`${galleriesSetupLua().replace("'ffsec_car_events', 'car-v1'", "'ffsec_car_events', 'car-v2'")}`);
    const run = importGalleries({ store: dst.store, dir });
    await expect(run).rejects.toThrow(ValidationError);
    await expect(run).rejects.toThrow("gallery 'ffsec_car_events' holds vectors of model 'car-v2' (dim 8); the export's vectors are of model 'car-v1' (dim 8)");
    expect((await dst.store.digest(['ffsec_face_objects'])).ffsec_face_objects?.count).toBe(0);
  });

  it('refuses a damaged export file before importing anything', async () => {
    const src = await source();
    const dir = tempDir();
    await exportGalleries({ store: src.store, dir, galleries: ['ffsec_face_events'] });
    const file = path.join(dir, 'ffsec_face_events.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"norm-10005"', '"norm-XXXXX"'));
    const dst = await instance();
    const run = importGalleries({ store: dst.store, dir });
    await expect(run).rejects.toThrow(ValidationError);
    await expect(run).rejects.toThrow(`export file ${file} does not match its manifest (sha256 differs)`);
    expect(await dst.store.listGalleries()).toEqual([]);
  });

  it('a malformed record (manifest consistent) is refused naming gallery and line; its batch is not applied', async () => {
    const src = await source();
    const dir = tempDir();
    await exportGalleries({ store: src.store, dir, galleries: ['ffsec_face_events'] });
    const file = path.join(dir, 'ffsec_face_events.json');
    const text = readFileSync(file, 'utf8').replace('"norm":"norm-10007"', '"norm":7');
    writeFileSync(file, text);
    const manifestFile = path.join(dir, EXPORT_MANIFEST_FILE);
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as ExportManifest;
    (manifest.galleries[0] as { sha256: string }).sha256 = createHash('sha256').update(text).digest('hex');
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const dst = await instance();
    const run = importGalleries({ store: dst.store, dir, batchSize: 5 });
    await expect(run).rejects.toThrow(ValidationError);
    await expect(run).rejects.toThrow("gallery 'ffsec_face_events' line 8 (id 10007): norm is not a string");
    expect((await dst.store.digest(['ffsec_face_events'])).ffsec_face_events?.count).toBe(5);
    expect(await dst.store.readProgress(manifest.exportId)).toEqual({ ffsec_face_events: { linesDone: 5, finished: false } });
  });

  it('an export with verify fails when the shard changed while it ran, and leaves no manifest', async () => {
    const src = await source();
    const dir = tempDir();
    let changed = false;
    const run = exportGalleries({
      store: src.store,
      dir,
      galleries: ['ffsec_face_objects'],
      batchSize: 500,
      verify: true,
      onProgress: () => {
        if (changed) return;
        changed = true;
        void withClient(src.tnt.port, (c) => update(c, 'ffsec_face_objects', 3));
      },
    });
    await expect(run).rejects.toThrow(IllegalStateError);
    await expect(run).rejects.toThrow(`galleries ffsec_face_objects of ${src.store.address} changed during the export`);
    expect(readdirSync(dir)).not.toContain(EXPORT_MANIFEST_FILE);
  });

  it('an export directory without its manifest is refused as incomplete', async () => {
    const dst = await instance();
    const dir = tempDir();
    await expect(importGalleries({ store: dst.store, dir })).rejects.toThrow(`no export manifest ${path.join(dir, EXPORT_MANIFEST_FILE)}`);
    const m: Partial<ExportManifest> = { format: 'ffkeeper.galleries/1', exportId: 'x', galleries: [] };
    writeFileSync(path.join(dir, EXPORT_MANIFEST_FILE), JSON.stringify({ ...m, format: 'other/9' }));
    await expect(importGalleries({ store: dst.store, dir })).rejects.toThrow('format is "other/9", expected ffkeeper.galleries/1');
  });
});
