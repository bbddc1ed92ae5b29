/**
 * Reading dossiers of a watch list as sync states (the dossier row and its faces), for the capture (the
 * changed ones) and for `sync check` (all of them). Runs inside the caller's transaction, so the
 * dossiers and their faces are read in one snapshot. Dates travel as PostgreSQL's text (exact round trip).
 */
import type pg from 'pg';
import type { DossierMessage } from '../../domain/sync/messages.js';

export type DossierState = NonNullable<DossierMessage['state']>;

interface DossierDbRow {
  id: string;
  name: string;
  comment: string;
  active: boolean;
  created_date: string;
  modified_date: string;
}

interface FaceDbRow {
  id: string;
  dossier_id: string;
  source_photo: string;
  thumbnail: string;
  normalized: string;
  record_id: string;
  model: string;
  created_date: string;
}

/** The dossiers of `list` (only those of `ids` when given) with their faces, by dossier id. */
export async function readStates(c: pg.Client, list: number, ids?: readonly number[]): Promise<Map<number, DossierState>> {
  const dossiers = await c.query<DossierDbRow>(
    `SELECT d.id, d.name, d.comment, d.active, d.created_date::text, d.modified_date::text FROM ffsecurity_dossier d
     WHERE EXISTS (SELECT 1 FROM ffsecurity_dossier_watch_lists m WHERE m.dossier_id = d.id AND m.watchlist_id = $1)
       AND ($2::bigint[] IS NULL OR d.id = ANY($2::bigint[]))`,
    [list, ids ?? null],
  );
  const faces = await c.query<FaceDbRow>(
    `SELECT id, dossier_id, source_photo, thumbnail, normalized, record_id, model, created_date::text FROM ffsecurity_dossierface
     WHERE dossier_id = ANY($1::bigint[]) ORDER BY id`,
    [dossiers.rows.map((d) => d.id)],
  );
  const out = new Map<number, DossierState>();
  for (const d of dossiers.rows) {
    out.set(Number(d.id), { dossier: { name: d.name, comment: d.comment, active: d.active, createdDate: d.created_date, modifiedDate: d.modified_date }, faces: [] });
  }
  for (const f of faces.rows) {
    out.get(Number(f.dossier_id))?.faces.push({
      id: Number(f.id), sourcePhoto: f.source_photo, thumbnail: f.thumbnail, normalized: f.normalized, recordId: Number(f.record_id), model: f.model, createdDate: f.created_date,
    });
  }
  return out;
}
