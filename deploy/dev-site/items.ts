/**
 * The two things the dev site writes in three places — a dossier face and an event — described once:
 * their files, their gallery record and their database row. The bulk loader and the writer both build
 * them here, so the checker has one layout to verify. A record's vector is its normalized image's
 * `facen()` under the gallery's model: known once the image is written (`writeItem`).
 */
import { facenAsync } from './facen.js';
import type { GalleryRecord } from './shards.js';
import type { GalleryName } from './state.js';
import { dossierFaceFiles, eventFiles, type FileRef, type ImageKind, type ImageWriter } from './uploads.js';

export const FACE_OBJECTS: GalleryName = 'ffsec_face_objects';
export const FACE_EVENTS: GalleryName = 'ffsec_face_events';

/** A file to write: where, and what kind of image (which decides its size). */
export interface PlannedFile {
  ref: FileRef;
  kind: ImageKind;
}

export interface DossierFaceRow {
  id: number;
  dossierId: number;
  sourcePhoto: string;
  thumbnail: string;
  normalized: string;
  recordId: number;
  model: string;
}

export interface EventRow {
  id: number;
  cameraId: number;
  createdAt: Date;
  recordId: number;
  thumbnail: string;
  fullframe: string;
  normalized: string;
  matchedDossierId: number | null;
  confidence: number | null;
  model: string;
}

/** A gallery record before its vector is known. */
export type PlannedRecord = Omit<GalleryRecord, 'feat'>;

export interface Planned<Row> {
  files: PlannedFile[];
  record: PlannedRecord;
  row: Row;
}

/**
 * Writes an item's files (new random images) and returns its gallery record, whose vector is the
 * normalized image's `facen()` under `model`, and the bytes written.
 */
export async function writeItem(images: ImageWriter, model: string, item: Planned<unknown>): Promise<{ record: GalleryRecord; bytes: number }> {
  const written = await Promise.all(item.files.map((f) => images.write(f.ref, f.kind)));
  const normalized = written[item.files.findIndex((f) => f.kind === 'normalized')];
  if (!normalized) throw new Error(`item ${item.record.id} has no normalized image`);
  return { record: { ...item.record, feat: await facenAsync(model, normalized) }, bytes: written.reduce((n, b) => n + b.length, 0) };
}

/** A dossier face; its gallery record id is its row id. */
export function planDossierFace(id: number, dossierId: number, model: string): Planned<DossierFaceRow> {
  const f = dossierFaceFiles(id);
  return {
    files: [
      { ref: { root: 'uploads', rel: f.sourcePhoto }, kind: 'photo' },
      { ref: { root: 'uploads', rel: f.thumbnail }, kind: 'thumbnail' },
      { ref: { root: 'ffupload', rel: f.normalized }, kind: 'normalized' },
    ],
    record: { id, norm: f.normalized, meta: { dossier_id: dossierId, face_id: id } },
    row: { id, dossierId, ...f, recordId: id, model },
  };
}

export interface EventInput {
  id: number;
  cameraId: number;
  createdAt: Date;
  matchedDossierId: number | null;
  model: string;
}

/** An event; its gallery record id is its row id. */
export function planEvent(e: EventInput): Planned<EventRow> {
  const f = eventFiles(e.id);
  const confidence = e.matchedDossierId === null ? null : Math.round((0.7 + Math.random() * 0.3) * 1000) / 1000;
  return {
    files: [
      { ref: { root: 'uploads', rel: f.thumbnail }, kind: 'thumbnail' },
      { ref: { root: 'uploads', rel: f.fullframe }, kind: 'fullframe' },
      { ref: { root: 'ffupload', rel: f.normalized }, kind: 'normalized' },
    ],
    record: {
      id: e.id,
      norm: f.normalized,
      meta: { event_id: e.id, camera_id: e.cameraId, ts: Math.floor(e.createdAt.getTime() / 1000) },
    },
    row: { id: e.id, cameraId: e.cameraId, createdAt: e.createdAt, recordId: e.id, ...f, matchedDossierId: e.matchedDossierId, confidence, model: e.model },
  };
}

/** Files of a dossier face row, for deletion and checking. */
export function dossierFaceRefs(row: Pick<DossierFaceRow, 'sourcePhoto' | 'thumbnail' | 'normalized'>): FileRef[] {
  return [
    { root: 'uploads', rel: row.sourcePhoto },
    { root: 'uploads', rel: row.thumbnail },
    { root: 'ffupload', rel: row.normalized },
  ];
}

/** Files of an event row, for deletion and checking. */
export function eventRefs(row: Pick<EventRow, 'thumbnail' | 'fullframe' | 'normalized'>): FileRef[] {
  return [
    { root: 'uploads', rel: row.thumbnail },
    { root: 'uploads', rel: row.fullframe },
    { root: 'ffupload', rel: row.normalized },
  ];
}

/** Multi-row INSERT of dossier faces through unnest (one round trip per batch). */
export const INSERT_DOSSIER_FACES = `
INSERT INTO ffsecurity_dossierface (id, dossier_id, source_photo, thumbnail, normalized, record_id, model)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])`;

export function dossierFaceParams(rows: readonly DossierFaceRow[]): unknown[] {
  return [
    rows.map((r) => r.id),
    rows.map((r) => r.dossierId),
    rows.map((r) => r.sourcePhoto),
    rows.map((r) => r.thumbnail),
    rows.map((r) => r.normalized),
    rows.map((r) => r.recordId),
    rows.map((r) => r.model),
  ];
}

/** Multi-row INSERT of events through unnest. */
export const INSERT_EVENTS = `
INSERT INTO ffsecurity_event (id, camera_id, created_date, record_id, thumbnail, fullframe, normalized, matched_dossier_id, confidence, model)
SELECT * FROM unnest($1::bigint[], $2::int[], $3::timestamptz[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::real[], $10::text[])`;

export function eventParams(rows: readonly EventRow[]): unknown[] {
  return [
    rows.map((r) => r.id),
    rows.map((r) => r.cameraId),
    rows.map((r) => r.createdAt),
    rows.map((r) => r.recordId),
    rows.map((r) => r.thumbnail),
    rows.map((r) => r.fullframe),
    rows.map((r) => r.normalized),
    rows.map((r) => r.matchedDossierId),
    rows.map((r) => r.confidence),
    rows.map((r) => r.model),
  ];
}
