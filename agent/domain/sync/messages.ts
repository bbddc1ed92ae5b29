/**
 * What travels in a master site's sync stream, one message per dossier and kind (the last value of each
 * subject is kept, so the stream always holds the list's current state): the dossier's rows (`dossier`),
 * its faces' gallery records (`records`) and its faces' files (`files`); file bytes travel once each,
 * addressed by SHA-256. `state: null` / empty lists mean the dossier is no longer in the list (deleted,
 * or its membership removed). Decoding checks every field: a malformed message is an error naming it.
 */
import { ValidationError } from '../../../shared/errors.js';

export interface DossierRow {
  name: string;
  comment: string;
  active: boolean;
  createdDate: string;
  modifiedDate: string;
}

export interface FaceRow {
  id: number;
  sourcePhoto: string;
  thumbnail: string;
  normalized: string;
  recordId: number;
  model: string;
  createdDate: string;
}

export interface DossierMessage {
  kind: 'dossier';
  dossierId: number;
  capturedAt: string;
  state: { dossier: DossierRow; faces: FaceRow[] } | null;
}

export interface RecordEntry {
  gallery: string;
  model: string;
  dim: number;
  id: number;
  /** The raw float32 vector, base64. */
  feat: string;
  norm: string;
  meta: Record<string, unknown>;
}

export interface RecordsMessage {
  kind: 'records';
  dossierId: number;
  capturedAt: string;
  records: RecordEntry[];
}

export type UploadRootName = 'uploads' | 'ffupload';

export interface FileEntry {
  root: UploadRootName;
  rel: string;
  sha256: string;
  size: number;
}

export interface FilesMessage {
  kind: 'files';
  dossierId: number;
  capturedAt: string;
  files: FileEntry[];
  /** Files a row names that were missing on the master when the message was built. */
  missing: { root: UploadRootName; rel: string }[];
}

export type SyncMessage = DossierMessage | RecordsMessage | FilesMessage;

export function encodeMessage(m: SyncMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m));
}

class Check {
  constructor(private readonly what: string) {}
  fail(field: string, why: string): never {
    throw new ValidationError(`sync message ${this.what}: ${field} ${why}`);
  }
  obj(v: unknown, field: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'is not an object');
    return v as Record<string, unknown>;
  }
  arr(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, 'is not a list');
    return v;
  }
  str(v: unknown, field: string): string {
    if (typeof v !== 'string') this.fail(field, 'is not a string');
    return v;
  }
  id(v: unknown, field: string): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(field, 'is not an id');
    return v;
  }
  bool(v: unknown, field: string): boolean {
    if (typeof v !== 'boolean') this.fail(field, 'is not a boolean');
    return v;
  }
  /** A relative path that stays below its root: no absolute path, no `..`, no empty segment. */
  rel(v: unknown, field: string): string {
    const s = this.str(v, field);
    if (s === '' || s.startsWith('/') || s.split('/').some((p) => p === '' || p === '.' || p === '..') || s.includes('\0')) {
      this.fail(field, `'${s}' is not a relative path inside its root`);
    }
    return s;
  }
  root(v: unknown, field: string): UploadRootName {
    if (v !== 'uploads' && v !== 'ffupload') this.fail(field, `'${String(v)}' is not an upload root`);
    return v;
  }
}

function decodeFace(c: Check, v: unknown, i: number): FaceRow {
  const o = c.obj(v, `faces[${i}]`);
  return {
    id: c.id(o.id, `faces[${i}].id`),
    sourcePhoto: c.rel(o.sourcePhoto, `faces[${i}].sourcePhoto`),
    thumbnail: c.rel(o.thumbnail, `faces[${i}].thumbnail`),
    normalized: c.rel(o.normalized, `faces[${i}].normalized`),
    recordId: c.id(o.recordId, `faces[${i}].recordId`),
    model: c.str(o.model, `faces[${i}].model`),
    createdDate: c.str(o.createdDate, `faces[${i}].createdDate`),
  };
}

function decodeDossier(c: Check, o: Record<string, unknown>, base: { dossierId: number; capturedAt: string }): DossierMessage {
  if (o.state === null) return { kind: 'dossier', ...base, state: null };
  const s = c.obj(o.state, 'state');
  const d = c.obj(s.dossier, 'state.dossier');
  const dossier: DossierRow = {
    name: c.str(d.name, 'dossier.name'),
    comment: c.str(d.comment, 'dossier.comment'),
    active: c.bool(d.active, 'dossier.active'),
    createdDate: c.str(d.createdDate, 'dossier.createdDate'),
    modifiedDate: c.str(d.modifiedDate, 'dossier.modifiedDate'),
  };
  return { kind: 'dossier', ...base, state: { dossier, faces: c.arr(s.faces, 'state.faces').map((f, i) => decodeFace(c, f, i)) } };
}

function decodeRecord(c: Check, v: unknown, i: number): RecordEntry {
  const o = c.obj(v, `records[${i}]`);
  return {
    gallery: c.str(o.gallery, `records[${i}].gallery`),
    model: c.str(o.model, `records[${i}].model`),
    dim: c.id(o.dim, `records[${i}].dim`),
    id: c.id(o.id, `records[${i}].id`),
    feat: c.str(o.feat, `records[${i}].feat`),
    norm: c.str(o.norm, `records[${i}].norm`),
    meta: c.obj(o.meta, `records[${i}].meta`),
  };
}

function decodeFiles(c: Check, o: Record<string, unknown>, base: { dossierId: number; capturedAt: string }): FilesMessage {
  const files = c.arr(o.files, 'files').map((v, i) => {
    const f = c.obj(v, `files[${i}]`);
    const sha = c.str(f.sha256, `files[${i}].sha256`);
    if (!/^[0-9a-f]{64}$/.test(sha)) c.fail(`files[${i}].sha256`, 'is not a SHA-256 in hex');
    return { root: c.root(f.root, `files[${i}].root`), rel: c.rel(f.rel, `files[${i}].rel`), sha256: sha, size: c.id(f.size, `files[${i}].size`) };
  });
  const missing = c.arr(o.missing ?? [], 'missing').map((v, i) => {
    const f = c.obj(v, `missing[${i}]`);
    return { root: c.root(f.root, `missing[${i}].root`), rel: c.rel(f.rel, `missing[${i}].rel`) };
  });
  return { kind: 'files', ...base, files, missing };
}

/** Decodes and checks a message read from `subject`. */
export function decodeMessage(data: Uint8Array, subject: string): SyncMessage {
  const c = new Check(`on '${subject}'`);
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(data));
  } catch (err) {
    c.fail('payload', `is not JSON (${(err as Error).message})`);
  }
  const o = c.obj(raw, 'payload');
  const base = { dossierId: c.id(o.dossierId, 'dossierId'), capturedAt: c.str(o.capturedAt, 'capturedAt') };
  switch (o.kind) {
    case 'dossier':
      return decodeDossier(c, o, base);
    case 'records':
      return { kind: 'records', ...base, records: c.arr(o.records, 'records').map((r, i) => decodeRecord(c, r, i)) };
    case 'files':
      return decodeFiles(c, o, base);
    default:
      return c.fail('kind', `'${String(o.kind)}' is not dossier, records or files`);
  }
}
