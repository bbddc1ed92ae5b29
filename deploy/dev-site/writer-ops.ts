/**
 * The writer's operations, each as findface-security performs it. Creating: inside one transaction
 * opened through pgbouncer, files first, then the gallery record, then the row; commit last — so a
 * committed row always has its record and files, and a crash leaves only orphans. Deleting: the row is
 * deleted and committed first, then the record and the files — for the same reason. A failed creation
 * removes what it had written.
 */
import pg from 'pg';
import { FACE_EVENTS, FACE_OBJECTS, INSERT_DOSSIER_FACES, INSERT_EVENTS, dossierFaceParams, dossierFaceRefs, eventParams, eventRefs, planDossierFace, planEvent, writeItem, type Planned } from './items.js';
import type { ShardSet } from './shards.js';
import type { GalleryName, SiteState } from './state.js';
import type { ImageWriter } from './uploads.js';

export interface OpContext {
  state: SiteState;
  pool: pg.Pool;
  shards: () => Promise<ShardSet>;
  images: ImageWriter;
  /** Reference ids loaded at start (cameras and watch lists are not deleted by the writer). */
  cameras: number[];
  watchLists: number[];
  /** Id range of dossiers, for picking a random one with an index lookup. */
  dossierIds: { min: number; max: number };
}

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)] as T;
}

function randomBetween(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}

/** COMMIT was sent but no answer came back: the transaction may or may not have committed. */
export class CommitOutcomeUnknown extends Error {
  constructor(cause: unknown) {
    super(`commit outcome unknown: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Runs `fn` inside BEGIN/COMMIT on a pooled connection; ROLLBACK and rethrow on failure. A COMMIT
 * that fails without a server answer throws CommitOutcomeUnknown.
 */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT').catch((err: unknown) => {
      throw err instanceof pg.DatabaseError ? err : new CommitOutcomeUnknown(err);
    });
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.release(broken);
  }
}

async function nextId(c: pg.PoolClient, sequence: string): Promise<number> {
  const { rows } = await c.query<{ id: string }>(`SELECT nextval('${sequence}') AS id`);
  return Number(rows[0]?.id);
}

/** What a creation writes: the planned item and how to insert its row on the transaction's connection. */
interface Creation {
  gallery: GalleryName;
  planned: Planned<unknown>;
  insertRow: () => Promise<unknown>;
}

/**
 * One creation in one transaction: `prepare` (on the transaction's connection) decides the item, then
 * files, record and row are written and the transaction commits. If anything fails — COMMIT included,
 * e.g. a deferred foreign key to a dossier deleted meanwhile — the files and (if it was inserted) the
 * record are removed again.
 */
async function create(ctx: OpContext, prepare: (c: pg.PoolClient) => Promise<Creation>): Promise<void> {
  let creation: Creation | undefined;
  let recorded = false;
  try {
    await inTransaction(ctx.pool, async (c) => {
      creation = await prepare(c);
      const { gallery, planned, insertRow } = creation;
      const model = ctx.state.vectors.models[gallery];
      const { record } = await writeItem(ctx.images, model, planned);
      await (await ctx.shards()).insert(gallery, model, [record]);
      recorded = true;
      await insertRow();
    });
  } catch (err) {
    // When the commit may have succeeded, the record and files stay: at worst they are orphans.
    if (creation && !(err instanceof CommitOutcomeUnknown)) {
      const { gallery, planned } = creation;
      if (recorded) await (await ctx.shards()).delete(gallery, [planned.record.id]).catch(() => undefined);
      await ctx.images.remove(planned.files.map((f) => f.ref));
    }
    throw err;
  }
}

/** A new event (camera, time now, maybe matched to a dossier). */
export async function createEvent(ctx: OpContext): Promise<void> {
  await create(ctx, async (c) => {
    const id = await nextId(c, 'ffsecurity_event_id_seq');
    const matched = Math.random() < 0.2 ? await randomDossier(ctx, c) : null;
    const planned = planEvent({ id, cameraId: pick(ctx.cameras), createdAt: new Date(), matchedDossierId: matched, model: ctx.state.vectors.models[FACE_EVENTS] });
    return { gallery: FACE_EVENTS, planned, insertRow: () => c.query(INSERT_EVENTS, eventParams([planned.row])) };
  });
}

/** A face for a new dossier (put on a watch list) or, half of the time, for an existing one. */
export async function createDossierFace(ctx: OpContext): Promise<void> {
  await create(ctx, async (c) => {
    let dossierId = Math.random() < 0.5 ? await randomDossier(ctx, c) : null;
    if (dossierId === null) {
      dossierId = await nextId(c, 'ffsecurity_dossier_id_seq');
      await c.query(`INSERT INTO ffsecurity_dossier (id, name, comment) VALUES ($1::bigint, 'Person ' || $1::text, 'added by writer')`, [dossierId]);
      await c.query('INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) VALUES ($1, $2)', [dossierId, pick(ctx.watchLists)]);
      ctx.dossierIds.max = Math.max(ctx.dossierIds.max, dossierId);
    }
    const id = await nextId(c, 'ffsecurity_dossierface_id_seq');
    const planned = planDossierFace(id, dossierId, ctx.state.vectors.models[FACE_OBJECTS]);
    return { gallery: FACE_OBJECTS, planned, insertRow: () => c.query(INSERT_DOSSIER_FACES, dossierFaceParams([planned.row])) };
  });
}

/**
 * An existing dossier id near a random point of the id range, or null when there is none. The row is
 * key-share locked, so a concurrent dossier deletion (FOR UPDATE SKIP LOCKED) picks another one rather
 * than breaking this transaction's reference at commit.
 */
async function randomDossier(ctx: OpContext, c: pg.PoolClient): Promise<number | null> {
  const { min, max } = ctx.dossierIds;
  const { rows } = await c.query<{ id: string }>('SELECT id FROM ffsecurity_dossier WHERE id >= $1 ORDER BY id LIMIT 1 FOR KEY SHARE SKIP LOCKED', [randomBetween(min, max)]);
  return rows[0] ? Number(rows[0].id) : null;
}

/** A watch-list edit: rename/retune a list, or add/remove a dossier's membership. */
export async function editWatchList(ctx: OpContext): Promise<void> {
  await inTransaction(ctx.pool, async (c) => {
    const list = pick(ctx.watchLists);
    const roll = Math.random();
    if (roll < 0.4) {
      await c.query(`UPDATE ffsecurity_watchlist SET comment = 'edited ' || now(), threshold = $2, modified_date = now() WHERE id = $1`, [list, 0.6 + Math.random() * 0.3]);
      return;
    }
    const dossier = await randomDossier(ctx, c);
    if (dossier === null) return;
    if (roll < 0.7) {
      await c.query('INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [dossier, list]);
    } else {
      await c.query('DELETE FROM ffsecurity_dossier_watch_lists WHERE dossier_id = $1 AND watchlist_id = $2', [dossier, list]);
    }
  });
}

interface FaceFiles {
  record_id: string;
  source_photo: string;
  thumbnail: string;
  normalized: string;
}

/** Deletes a random dossier: rows first (committed), then its face records and files. */
export async function deleteDossier(ctx: OpContext): Promise<void> {
  const faces = await inTransaction(ctx.pool, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      'SELECT id FROM ffsecurity_dossier WHERE id >= $1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED',
      [randomBetween(ctx.dossierIds.min, ctx.dossierIds.max)],
    );
    const id = rows[0]?.id;
    if (id === undefined) return [];
    const deleted = await c.query<FaceFiles>('DELETE FROM ffsecurity_dossierface WHERE dossier_id = $1 RETURNING record_id, source_photo, thumbnail, normalized', [id]);
    await c.query('DELETE FROM ffsecurity_dossier WHERE id = $1', [id]);
    return deleted.rows;
  });
  if (faces.length === 0) return;
  await (await ctx.shards()).delete(FACE_OBJECTS, faces.map((f) => Number(f.record_id)));
  await ctx.images.remove(faces.flatMap((f) => dossierFaceRefs({ sourcePhoto: f.source_photo, thumbnail: f.thumbnail, normalized: f.normalized })));
}

/** Event retention: deletes up to `limit` oldest events (rows, then records, then files). Returns how many. */
export async function deleteOldestEvents(ctx: OpContext, limit: number): Promise<number> {
  const events = await inTransaction(ctx.pool, async (c) => {
    const { rows } = await c.query<{ record_id: string; thumbnail: string; fullframe: string; normalized: string }>(
      `DELETE FROM ffsecurity_event WHERE id IN (
         SELECT id FROM ffsecurity_event ORDER BY created_date, id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING record_id, thumbnail, fullframe, normalized`,
      [limit],
    );
    return rows;
  });
  if (events.length === 0) return 0;
  await (await ctx.shards()).delete(FACE_EVENTS, events.map((e) => Number(e.record_id)));
  await ctx.images.remove(events.flatMap((e) => eventRefs(e)));
  return events.length;
}
