/**
 * The master side of FindFace's native watch-list sync on a dev site: a watch list's full content as a
 * slave fetches it (`GET /sync/master/dossier-lists/{id}/`) — the face model, every dossier of the list
 * with its faces, each face's gallery record and its files' bytes (base64; lists are small on a dev
 * site). Rows are read in one snapshot, then records, then files — the order a committed row's record and
 * files are guaranteed in; a face deleted by the writer in between is retried from a fresh snapshot.
 */
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { InternalError } from '../../shared/errors.js';
import { FACE_OBJECTS, dossierFaceRefs } from './items.js';
import type { ShardSet } from './shards.js';
import type { SiteState } from './state.js';
import { absPath, type FileRef } from './uploads.js';

/** One face of an exported dossier: its gallery record and its three files, base64-encoded. */
export interface ExportedFace {
  record: { feat: string; meta: Record<string, string | number | boolean> };
  files: { source_photo: string; thumbnail: string; normalized: string };
}

export interface ExportedDossier {
  id: number;
  name: string;
  comment: string;
  active: boolean;
  faces: ExportedFace[];
}

/** What `GET /sync/master/dossier-lists/{id}/` answers. */
export interface ListExport {
  dossier_list: { id: number; name: string };
  /** Model of the master's face gallery (`ffsec_face_objects`). */
  model: string;
  dim: number;
  dossiers: ExportedDossier[];
}

export interface ExportSource {
  state: SiteState;
  pool: pg.Pool;
  shards: () => Promise<ShardSet>;
}

interface FaceRow {
  id: string;
  dossier_id: string;
  record_id: string;
  source_photo: string;
  thumbnail: string;
  normalized: string;
}

interface Snapshot {
  list: { id: number; name: string };
  dossiers: Array<{ id: string; name: string; comment: string; active: boolean }>;
  faces: FaceRow[];
}

/** A record or file of a face the snapshot listed is gone: the writer deleted it meanwhile. */
class FaceVanished extends Error {}

const ATTEMPTS = 3;

/** The list's export, or undefined when the list does not exist on this site. */
export async function exportList(src: ExportSource, listId: number): Promise<ListExport | undefined> {
  for (let attempt = 1; ; attempt++) {
    const snap = await readSnapshot(src.pool, listId);
    if (!snap) return undefined;
    try {
      return await buildExport(src, snap);
    } catch (err) {
      if (!(err instanceof FaceVanished)) throw err;
      if (attempt >= ATTEMPTS) throw new InternalError(`export of watch list ${listId}: ${err.message} in ${ATTEMPTS} attempts`, { cause: err });
    }
  }
}

async function readSnapshot(pool: pg.Pool, listId: number): Promise<Snapshot | undefined> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const list = (await c.query<{ id: number; name: string }>('SELECT id, name FROM ffsecurity_watchlist WHERE id = $1', [listId])).rows[0];
    const dossiers = await c.query<Snapshot['dossiers'][number]>(
      `SELECT d.id, d.name, d.comment, d.active FROM ffsecurity_dossier d
       WHERE d.id IN (SELECT dossier_id FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = $1) ORDER BY d.id`,
      [listId],
    );
    const faces = await c.query<FaceRow>(
      `SELECT f.id, f.dossier_id, f.record_id, f.source_photo, f.thumbnail, f.normalized FROM ffsecurity_dossierface f
       WHERE f.dossier_id = ANY($1::bigint[]) ORDER BY f.dossier_id, f.id`,
      [dossiers.rows.map((d) => d.id)],
    );
    await c.query('COMMIT');
    return list ? { list, dossiers: dossiers.rows, faces: faces.rows } : undefined;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

async function buildExport(src: ExportSource, snap: Snapshot): Promise<ListExport> {
  const shards = await src.shards();
  const records = new Map((await shards.records(FACE_OBJECTS, snap.faces.map((f) => Number(f.record_id)))).map((r) => [r.id, r]));
  const facesOf = new Map<string, ExportedFace[]>();
  for (const f of snap.faces) {
    const record = records.get(Number(f.record_id));
    if (!record) throw new FaceVanished(`record ${f.record_id} of dossier face ${f.id} is gone`);
    const [photo, thumb, norm] = await Promise.all(
      dossierFaceRefs({ sourcePhoto: f.source_photo, thumbnail: f.thumbnail, normalized: f.normalized }).map((ref) => readBase64(src.state, ref, f.id)),
    );
    const face: ExportedFace = {
      record: { feat: Buffer.from(record.feat).toString('base64'), meta: record.meta },
      files: { source_photo: photo as string, thumbnail: thumb as string, normalized: norm as string },
    };
    facesOf.set(f.dossier_id, [...(facesOf.get(f.dossier_id) ?? []), face]);
  }
  return {
    dossier_list: snap.list,
    model: src.state.vectors.models[FACE_OBJECTS],
    dim: src.state.vectors.dim,
    dossiers: snap.dossiers.map((d) => ({ id: Number(d.id), name: d.name, comment: d.comment, active: d.active, faces: facesOf.get(d.id) ?? [] })),
  };
}

async function readBase64(state: SiteState, ref: FileRef, faceId: string): Promise<string> {
  try {
    return (await readFile(absPath(state.uploads, ref))).toString('base64');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new FaceVanished(`file ${ref.root}:${ref.rel} of dossier face ${faceId} is gone`);
    throw err;
  }
}
