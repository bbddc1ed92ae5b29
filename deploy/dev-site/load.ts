/**
 * Bulk generation of a site's data: dossiers with faces and events, in chunks. Per chunk: ids drawn
 * from the database sequences, files written in parallel, gallery records inserted per shard in one
 * call, rows inserted in one transaction — the same order as the writer (files, records, rows last),
 * so an interrupted load leaves at worst orphans, never dangling rows.
 */
import type pg from 'pg';
import { FACE_EVENTS, FACE_OBJECTS, INSERT_DOSSIER_FACES, INSERT_EVENTS, dossierFaceParams, eventParams, planDossierFace, planEvent, writeItem, type Planned } from './items.js';
import { ownerConfig, withClient } from './schema.js';
import { ShardSet } from './shards.js';
import type { GalleryName, SiteState } from './state.js';
import { ImageWriter, mapLimit } from './uploads.js';

export interface LoadOptions {
  dossiers: number;
  events: number;
  /** Items per chunk (default 1,000). */
  chunk?: number;
  /** Called after each chunk. */
  onProgress?: (p: LoadProgress) => void;
}

export interface LoadProgress {
  dossiers: number;
  faces: number;
  events: number;
  bytes: number;
}

/** Items whose files are written at a time (three files each). */
const ITEM_CONCURRENCY = 11;
const EVENT_SPAN_MS = 30 * 24 * 3600 * 1000;

interface Ctx {
  state: SiteState;
  db: pg.Client;
  shards: ShardSet;
  images: ImageWriter;
  progress: LoadProgress;
  cameras: number[];
  watchLists: number[];
}

/** Adds dossiers (1–2 faces each, on 1–2 watch lists) and events to a site that is up. */
export async function loadData(state: SiteState, options: LoadOptions): Promise<LoadProgress> {
  const shards = await ShardSet.connect(state.shards);
  try {
    return await withClient(ownerConfig(state.postgres), async (db) => {
      const ctx: Ctx = {
        state, db, shards, images: new ImageWriter(state.uploads), progress: { dossiers: 0, faces: 0, events: 0, bytes: 0 },
        cameras: await idsOf(db, 'ffsecurity_camera'), watchLists: await idsOf(db, 'ffsecurity_watchlist'),
      };
      const chunk = options.chunk ?? 1000;
      for (let done = 0; done < options.dossiers; done += chunk) {
        await loadDossierChunk(ctx, Math.min(chunk, options.dossiers - done));
        options.onProgress?.({ ...ctx.progress });
      }
      const dossierIds = (await db.query<{ id: string }>('SELECT id FROM ffsecurity_dossier ORDER BY random() LIMIT 10000')).rows.map((r) => Number(r.id));
      const start = Date.now() - EVENT_SPAN_MS;
      for (let done = 0; done < options.events; done += chunk) {
        const n = Math.min(chunk, options.events - done);
        const times = Array.from({ length: n }, (_, i) => new Date(start + ((done + i) / options.events) * EVENT_SPAN_MS));
        await loadEventChunk(ctx, times, dossierIds);
        options.onProgress?.({ ...ctx.progress });
      }
      return ctx.progress;
    });
  } finally {
    shards.close();
  }
}

async function nextIds(db: pg.Client, sequence: string, n: number): Promise<number[]> {
  const { rows } = await db.query<{ id: string }>(`SELECT nextval('${sequence}') AS id FROM generate_series(1, $1::int)`, [n]);
  return rows.map((r) => Number(r.id));
}

async function idsOf(db: pg.Client, table: string): Promise<number[]> {
  return (await db.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).rows.map((r) => r.id);
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

async function writeFilesAndRecords<Row>(ctx: Ctx, gallery: GalleryName, planned: readonly Planned<Row>[]): Promise<void> {
  const model = ctx.state.vectors.models[gallery];
  const written = await mapLimit(planned, ITEM_CONCURRENCY, (p) => writeItem(ctx.images, model, p));
  ctx.progress.bytes += written.reduce((a, w) => a + w.bytes, 0);
  await ctx.shards.insert(gallery, model, written.map((w) => w.record));
}

async function loadDossierChunk(ctx: Ctx, n: number): Promise<void> {
  const { db, state, watchLists } = ctx;
  const dossierIds = await nextIds(db, 'ffsecurity_dossier_id_seq', n);
  const faceCounts = dossierIds.map(() => (Math.random() < 0.3 ? 2 : 1));
  const faceIds = await nextIds(db, 'ffsecurity_dossierface_id_seq', faceCounts.reduce((a, b) => a + b, 0));
  const owners = dossierIds.flatMap((d, i) => Array<number>(faceCounts[i] as number).fill(d));
  const model = state.vectors.models[FACE_OBJECTS];
  const planned = faceIds.map((id, i) => planDossierFace(id, owners[i] as number, model));
  await writeFilesAndRecords(ctx, FACE_OBJECTS, planned);
  const links = dossierIds.flatMap((d) => {
    const first = pick(watchLists);
    const second = pick(watchLists);
    return first === second || Math.random() < 0.7 ? [[d, first]] : [[d, first], [d, second]];
  });
  await db.query('BEGIN');
  try {
    await db.query(
      `INSERT INTO ffsecurity_dossier (id, name, comment) SELECT id, 'Person ' || id, 'generated' FROM unnest($1::bigint[]) id`,
      [dossierIds],
    );
    await db.query(
      'INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) SELECT * FROM unnest($1::bigint[], $2::int[])',
      [links.map((l) => l[0]), links.map((l) => l[1])],
    );
    await db.query(INSERT_DOSSIER_FACES, dossierFaceParams(planned.map((p) => p.row)));
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
  ctx.progress.dossiers += n;
  ctx.progress.faces += planned.length;
}

async function loadEventChunk(ctx: Ctx, times: readonly Date[], dossierIds: readonly number[]): Promise<void> {
  const { db, state, cameras } = ctx;
  const ids = await nextIds(db, 'ffsecurity_event_id_seq', times.length);
  const model = state.vectors.models[FACE_EVENTS];
  const planned = ids.map((id, i) =>
    planEvent({
      id,
      cameraId: pick(cameras),
      createdAt: times[i] as Date,
      matchedDossierId: dossierIds.length > 0 && Math.random() < 0.2 ? pick(dossierIds) : null,
      model,
    }),
  );
  await writeFilesAndRecords(ctx, FACE_EVENTS, planned);
  await db.query(INSERT_EVENTS, eventParams(planned.map((p) => p.row)));
  ctx.progress.events += planned.length;
}
