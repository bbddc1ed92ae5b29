/**
 * The checker's database side: reading every row that references a gallery record and files (in one
 * read-only snapshot, so only committed rows count), row → row reference checks in that same snapshot,
 * and the second look at first-pass findings with fresh reads (see checker.ts for why).
 */
import { existsSync } from 'node:fs';
import type pg from 'pg';
import type { CheckIssue } from './check-report.js';
import { FACE_EVENTS, FACE_OBJECTS, dossierFaceRefs, eventRefs } from './items.js';
import type { ShardSet } from './shards.js';
import type { GalleryName } from './state.js';
import { absPath, fileKey, parseFileKey, type FileRef, type UploadDirs } from './uploads.js';

type RefTable = 'ffsecurity_dossierface' | 'ffsecurity_event';

/** A row that references a gallery record and files. */
export interface RowRef {
  table: RefTable;
  id: number;
  gallery: GalleryName;
  recordId: number;
  normalized: string;
  files: FileRef[];
}

const TABLE_OF: Record<string, RefTable> = { [FACE_OBJECTS]: 'ffsecurity_dossierface', [FACE_EVENTS]: 'ffsecurity_event' };

/** Row → row references that must resolve: [description, query returning (id, ref) of broken ones]. */
const ROW_REF_CHECKS: ReadonlyArray<[string, string, string]> = [
  ['ffsecurity_dossierface', 'dossier', 'SELECT f.id, f.dossier_id AS ref FROM ffsecurity_dossierface f WHERE NOT EXISTS (SELECT 1 FROM ffsecurity_dossier d WHERE d.id = f.dossier_id)'],
  ['ffsecurity_event', 'camera', 'SELECT e.id, e.camera_id AS ref FROM ffsecurity_event e WHERE NOT EXISTS (SELECT 1 FROM ffsecurity_camera c WHERE c.id = e.camera_id)'],
  ['ffsecurity_event', 'matched dossier', 'SELECT e.id, e.matched_dossier_id AS ref FROM ffsecurity_event e WHERE e.matched_dossier_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ffsecurity_dossier d WHERE d.id = e.matched_dossier_id)'],
  ['ffsecurity_dossier_watch_lists', 'dossier', 'SELECT l.id, l.dossier_id AS ref FROM ffsecurity_dossier_watch_lists l WHERE NOT EXISTS (SELECT 1 FROM ffsecurity_dossier d WHERE d.id = l.dossier_id)'],
  ['ffsecurity_dossier_watch_lists', 'watch list', 'SELECT l.id, l.watchlist_id AS ref FROM ffsecurity_dossier_watch_lists l WHERE NOT EXISTS (SELECT 1 FROM ffsecurity_watchlist w WHERE w.id = l.watchlist_id)'],
  ['ffsecurity_camera', 'camera group', 'SELECT c.id, c.group_id AS ref FROM ffsecurity_camera c WHERE NOT EXISTS (SELECT 1 FROM ffsecurity_cameragroup g WHERE g.id = c.group_id)'],
];

export interface RowsRead {
  refs: RowRef[];
  faceCount: number;
  eventCount: number;
  rowRefIssues: CheckIssue[];
}

/** Reads every referencing row and runs the row → row checks, all in one read-only snapshot. */
export async function readRows(db: pg.Client): Promise<RowsRead> {
  await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const faces = await db.query<{ id: string; record_id: string; source_photo: string; thumbnail: string; normalized: string }>(
      'SELECT id, record_id, source_photo, thumbnail, normalized FROM ffsecurity_dossierface',
    );
    const events = await db.query<{ id: string; record_id: string; thumbnail: string; fullframe: string; normalized: string }>(
      'SELECT id, record_id, thumbnail, fullframe, normalized FROM ffsecurity_event',
    );
    const rowRefIssues: CheckIssue[] = [];
    for (const [table, what, sql] of ROW_REF_CHECKS) {
      const { rows } = await db.query<{ id: string; ref: string }>(`${sql} LIMIT 1000`);
      for (const r of rows) {
        rowRefIssues.push({ severity: 'error', kind: 'dangling-row-ref', table, rowId: Number(r.id), detail: `${table} row ${r.id} references ${what} ${r.ref}, which does not exist` });
      }
    }
    await db.query('COMMIT');
    const refs: RowRef[] = [
      ...faces.rows.map((r) => ({
        table: 'ffsecurity_dossierface' as const, id: Number(r.id), gallery: FACE_OBJECTS, recordId: Number(r.record_id), normalized: r.normalized,
        files: dossierFaceRefs({ sourcePhoto: r.source_photo, thumbnail: r.thumbnail, normalized: r.normalized }),
      })),
      ...events.rows.map((r) => ({
        table: 'ffsecurity_event' as const, id: Number(r.id), gallery: FACE_EVENTS, recordId: Number(r.record_id), normalized: r.normalized,
        files: eventRefs(r),
      })),
    ];
    return { refs, faceCount: faces.rows.length, eventCount: events.rows.length, rowRefIssues };
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

async function existingIds(db: pg.Client, table: string, column: string, ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const { rows } = await db.query<{ v: string }>(`SELECT ${column} AS v FROM ${table} WHERE ${column} = ANY($1::bigint[])`, [ids]);
  return new Set(rows.map((r) => Number(r.v)));
}

/** Keeps only the dangling candidates whose row still exists and whose record or file is still missing. */
export async function recheckDangling(db: pg.Client, shards: ShardSet, dirs: UploadDirs, candidates: readonly CheckIssue[]): Promise<CheckIssue[]> {
  if (candidates.length === 0) return [];
  const alive = new Map<string, Set<number>>();
  for (const table of new Set(candidates.map((c) => c.table as string))) {
    alive.set(table, await existingIds(db, table, 'id', candidates.filter((c) => c.table === table).map((c) => c.rowId as number)));
  }
  const confirmed: CheckIssue[] = [];
  for (const c of candidates) {
    if (!alive.get(c.table as string)?.has(c.rowId as number)) continue; // deleted meanwhile: not dangling
    if (c.kind === 'missing-file') {
      if (existsSync(absPath(dirs, parseFileKey(c.file as string)))) continue;
    } else if (c.kind === 'missing-record') {
      const shard = shards.shardOf(c.recordId as number);
      const found = await shards.get(c.gallery as GalleryName, shard, [c.recordId as number]);
      if (found.ids.length > 0) continue;
    }
    confirmed.push(c);
  }
  return confirmed;
}

/** Drops orphan candidates that a row now references (their row committed after the snapshot) or that are gone. */
export async function recheckOrphans(db: pg.Client, shards: ShardSet, dirs: UploadDirs, candidates: readonly CheckIssue[]): Promise<CheckIssue[]> {
  if (candidates.length === 0) return [];
  const referencedRecords = new Map<string, Set<number>>();
  for (const gallery of [FACE_OBJECTS, FACE_EVENTS]) {
    const ids = candidates.filter((c) => c.kind === 'orphan-record' && c.gallery === gallery).map((c) => c.recordId as number);
    referencedRecords.set(gallery, await existingIds(db, TABLE_OF[gallery] as string, 'record_id', ids));
  }
  const fileCandidates = candidates.filter((c) => c.kind === 'orphan-file').map((c) => c.file as string);
  const referencedFiles = await referencedFileKeys(db, fileCandidates);
  return candidates.filter((c) => {
    if (c.kind === 'orphan-record') {
      const rightShard = shards.shards[shards.shardOf(c.recordId as number)]?.name === c.shard;
      return !(rightShard && referencedRecords.get(c.gallery as string)?.has(c.recordId as number));
    }
    if (referencedFiles.has(c.file as string)) return false;
    return existsSync(absPath(dirs, parseFileKey(c.file as string)));
  });
}

/** Which of the given file keys some row references now. */
async function referencedFileKeys(db: pg.Client, keys: readonly string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const uploads = keys.filter((k) => k.startsWith('uploads:')).map((k) => k.slice('uploads:'.length));
  const ffupload = keys.filter((k) => k.startsWith('ffupload:')).map((k) => k.slice('ffupload:'.length));
  const out = new Set<string>();
  const faces = await db.query<{ source_photo: string; thumbnail: string; normalized: string }>(
    'SELECT source_photo, thumbnail, normalized FROM ffsecurity_dossierface WHERE source_photo = ANY($1) OR thumbnail = ANY($1) OR normalized = ANY($2)',
    [uploads, ffupload],
  );
  for (const r of faces.rows) for (const ref of dossierFaceRefs({ sourcePhoto: r.source_photo, thumbnail: r.thumbnail, normalized: r.normalized })) out.add(fileKey(ref));
  const events = await db.query<{ thumbnail: string; fullframe: string; normalized: string }>(
    'SELECT thumbnail, fullframe, normalized FROM ffsecurity_event WHERE thumbnail = ANY($1) OR fullframe = ANY($1) OR normalized = ANY($2)',
    [uploads, ffupload],
  );
  for (const r of events.rows) for (const ref of eventRefs(r)) out.add(fileKey(ref));
  return out;
}
