/**
 * The slave side of a nightly native-sync run: the slave watch list's content is replaced with the
 * master's ("replaced with those from the master", FindFace's docs). In one transaction the list's old
 * dossiers go (a dossier also on another list only leaves this one) and the master's dossiers come in with
 * new local ids — dossier rows, list membership, face rows, gallery records on the slave's shards by the
 * site's placement rule (record id = face id, shard id % N), files in the slave's upload dirs. Ordering as
 * in writer-ops.ts: new files and records are written before the commit, old records and files removed
 * after it; a failure before the commit removes the new ones again.
 */
import type pg from 'pg';
import { ValidationError } from '../../shared/errors.js';
import { FACE_OBJECTS, INSERT_DOSSIER_FACES, dossierFaceParams, dossierFaceRefs, planDossierFace, type DossierFaceRow } from './items.js';
import type { ListExport } from './native-sync-export.js';
import type { GalleryRecord, ShardSet } from './shards.js';
import type { SiteState } from './state.js';
import type { FileRef, ImageWriter } from './uploads.js';
import { CommitOutcomeUnknown, inTransaction } from './writer-ops.js';

export interface ApplyTarget {
  state: SiteState;
  pool: pg.Pool;
  shards: () => Promise<ShardSet>;
  images: ImageWriter;
}

export interface Applied {
  dossiers: number;
  faces: number;
}

/** What the transaction wrote (to undo on failure) and what it deleted (to remove after the commit). */
interface Work {
  newFiles: FileRef[];
  newRecords: number[];
  oldFiles: FileRef[];
  oldRecords: number[];
}

/** Replaces the content of watch list `slaveList` with the master's export. */
export async function replaceListContent(t: ApplyTarget, slaveList: number, exp: ListExport): Promise<Applied> {
  const work: Work = { newFiles: [], newRecords: [], oldFiles: [], oldRecords: [] };
  try {
    await inTransaction(t.pool, async (c) => {
      await removeOldContent(c, slaveList, work);
      await addMasterContent(t, c, slaveList, exp, work);
    });
  } catch (err) {
    // When the commit may have succeeded, the new records and files stay: at worst they are orphans.
    if (!(err instanceof CommitOutcomeUnknown)) {
      if (work.newRecords.length > 0) await (await t.shards()).delete(FACE_OBJECTS, work.newRecords).catch(() => undefined);
      await t.images.remove(work.newFiles);
    }
    throw err;
  }
  if (work.oldRecords.length > 0) await (await t.shards()).delete(FACE_OBJECTS, work.oldRecords);
  await t.images.remove(work.oldFiles);
  return { dossiers: exp.dossiers.length, faces: exp.dossiers.reduce((n, d) => n + d.faces.length, 0) };
}

/** Takes the list's dossiers out of it; those on no other list are deleted with their faces. */
async function removeOldContent(c: pg.PoolClient, slaveList: number, work: Work): Promise<void> {
  const list = await c.query('SELECT id FROM ffsecurity_watchlist WHERE id = $1 FOR UPDATE', [slaveList]);
  if (list.rowCount === 0) throw new ValidationError(`watch list ${slaveList} does not exist on this site`, { field: 'slave_dossier_list' });
  const locked = await c.query<{ id: string }>(
    `SELECT id FROM ffsecurity_dossier WHERE id IN (SELECT dossier_id FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = $1)
     ORDER BY id FOR UPDATE`,
    [slaveList],
  );
  const ids = locked.rows.map((r) => r.id);
  const exclusive = await c.query<{ dossier_id: string }>(
    `SELECT dossier_id FROM ffsecurity_dossier_watch_lists WHERE dossier_id = ANY($1::bigint[])
     GROUP BY dossier_id HAVING bool_and(watchlist_id = $2)`,
    [ids, slaveList],
  );
  await c.query('DELETE FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = $1', [slaveList]);
  const doomed = exclusive.rows.map((r) => r.dossier_id);
  const faces = await c.query<{ record_id: string; source_photo: string; thumbnail: string; normalized: string }>(
    'DELETE FROM ffsecurity_dossierface WHERE dossier_id = ANY($1::bigint[]) RETURNING record_id, source_photo, thumbnail, normalized',
    [doomed],
  );
  await c.query('DELETE FROM ffsecurity_dossier WHERE id = ANY($1::bigint[])', [doomed]);
  work.oldRecords.push(...faces.rows.map((f) => Number(f.record_id)));
  work.oldFiles.push(...faces.rows.flatMap((f) => dossierFaceRefs({ sourcePhoto: f.source_photo, thumbnail: f.thumbnail, normalized: f.normalized })));
}

async function nextIds(c: pg.PoolClient, sequence: string, n: number): Promise<number[]> {
  const { rows } = await c.query<{ id: string }>(`SELECT nextval('${sequence}') AS id FROM generate_series(1, $1::int)`, [n]);
  return rows.map((r) => Number(r.id));
}

/** Creates the master's dossiers on the list: files, then records, then rows (committed by the caller). */
async function addMasterContent(t: ApplyTarget, c: pg.PoolClient, slaveList: number, exp: ListExport, work: Work): Promise<void> {
  const dossierIds = await nextIds(c, 'ffsecurity_dossier_id_seq', exp.dossiers.length);
  const faceIds = await nextIds(c, 'ffsecurity_dossierface_id_seq', exp.dossiers.reduce((n, d) => n + d.faces.length, 0));
  const model = t.state.vectors.models[FACE_OBJECTS];
  const rows: DossierFaceRow[] = [];
  const records: GalleryRecord[] = [];
  const writes: Array<Promise<number>> = [];
  let next = 0;
  exp.dossiers.forEach((d, i) => {
    const dossierId = dossierIds[i] as number;
    for (const face of d.faces) {
      const id = faceIds[next++] as number;
      const planned = planDossierFace(id, dossierId, model);
      const [photo, thumb, norm] = planned.files.map((f) => f.ref) as [FileRef, FileRef, FileRef];
      work.newFiles.push(photo, thumb, norm);
      writes.push(
        t.images.writeBytes(photo, Buffer.from(face.files.source_photo, 'base64')),
        t.images.writeBytes(thumb, Buffer.from(face.files.thumbnail, 'base64')),
        t.images.writeBytes(norm, Buffer.from(face.files.normalized, 'base64')),
      );
      records.push({ ...planned.record, feat: new Uint8Array(Buffer.from(face.record.feat, 'base64')), meta: { ...face.record.meta, dossier_id: dossierId, face_id: id } });
      rows.push(planned.row);
    }
  });
  await Promise.all(writes);
  work.newRecords.push(...records.map((r) => r.id));
  if (records.length > 0) await (await t.shards()).insert(FACE_OBJECTS, model, records);
  await c.query(
    'INSERT INTO ffsecurity_dossier (id, name, comment, active) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::boolean[])',
    [dossierIds, exp.dossiers.map((d) => d.name), exp.dossiers.map((d) => d.comment), exp.dossiers.map((d) => d.active !== false)],
  );
  await c.query('INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) SELECT unnest($1::bigint[]), $2', [dossierIds, slaveList]);
  if (rows.length > 0) await c.query(INSERT_DOSSIER_FACES, dossierFaceParams(rows));
}

/** Checks the shape of a master's answer; ValidationError naming the master otherwise. */
export function assertListExport(body: unknown, master: string): asserts body is ListExport {
  const b = body as Partial<ListExport> | null;
  const ok =
    typeof b === 'object' && b !== null && typeof b.model === 'string' && Array.isArray(b.dossiers) &&
    b.dossiers.every((d) => typeof d?.name === 'string' && typeof d.comment === 'string' && Array.isArray(d.faces) &&
      d.faces.every((f) => typeof f?.record?.feat === 'string' && typeof f.files?.source_photo === 'string' && typeof f.files.thumbnail === 'string' && typeof f.files.normalized === 'string'));
  if (!ok) throw new ValidationError(`master ${master} answered an export that is not a watch list's content`);
}
