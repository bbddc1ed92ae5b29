/**
 * This agent's answers to `sync check` (shared/sync/inspect.ts): digests of the list's rows, of gallery
 * records and of files it holds, keyed by the master's ids and paths; on a slave, replica ids and paths
 * are mapped back first. Also the repair: queueing dossiers for publication again on the master.
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../../../shared/errors.js';
import { LINK_ID_RANGE, replicaId, replicaPath } from '../../../shared/sync/link.js';
import type { InspectRequest, InspectResult, ItemDigest, ReplicaOf, WatchListInfo } from '../../../shared/sync/inspect.js';
import type { DossierMessage, FaceRow, RecordEntry } from './messages.js';
import type { FilesAccess, RecordsAccess } from './ports.js';

/** Reads a whole list, and queues dossiers for publication (the master's capture log). */
export interface ListAccess {
  list(list: number): Promise<Map<number, NonNullable<DossierMessage['state']>>>;
  /** The database's watch lists with their dossier counts. */
  lists(): Promise<WatchListInfo[]>;
  requeue(list: number, dossierIds: readonly number[]): Promise<number>;
  close(): Promise<void>;
}

export interface InspectDeps {
  rows?: () => ListAccess;
  records?: () => RecordsAccess;
  files?: () => FilesAccess;
}

function sha(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

function back(id: number, r: ReplicaOf | undefined): number {
  return r ? id - r.number * LINK_ID_RANGE : id;
}

function backPath(rel: string, r: ReplicaOf | undefined): string {
  if (!r) return rel;
  const prefix = replicaPath(r.masterSite, '');
  return rel.startsWith(prefix) ? rel.slice(prefix.length) : `(not a replica path) ${rel}`;
}

function faceOf(f: FaceRow, r: ReplicaOf | undefined): FaceRow {
  return { ...f, id: back(f.id, r), recordId: back(f.recordId, r), sourcePhoto: backPath(f.sourcePhoto, r), thumbnail: backPath(f.thumbnail, r), normalized: backPath(f.normalized, r) };
}

async function rowDigests(access: ListAccess, list: number, r: ReplicaOf | undefined): Promise<ItemDigest[]> {
  const lo = r ? r.number * LINK_ID_RANGE : 0;
  const out: ItemDigest[] = [];
  for (const [id, state] of await access.list(list)) {
    if (r && (id < lo || id >= lo + LINK_ID_RANGE)) {
      out.push({ key: `dossier:local-${id}`, digest: 'not replicated' });
      continue;
    }
    const faces = state.faces.map((f) => faceOf(f, r)).sort((a, b) => a.id - b.id);
    out.push({
      key: `dossier:${back(id, r)}`,
      digest: sha({ dossier: state.dossier, faces }),
      recordIds: faces.map((f) => f.recordId),
      files: faces.flatMap((f) => [`uploads:${f.sourcePhoto}`, `uploads:${f.thumbnail}`, `ffupload:${f.normalized}`]),
    });
  }
  return out;
}

function recordDigest(rec: RecordEntry, r: ReplicaOf | undefined): ItemDigest {
  const meta: Record<string, unknown> = { ...rec.meta };
  for (const k of ['dossier_id', 'face_id']) if (typeof meta[k] === 'number') meta[k] = back(meta[k], r);
  const sorted = Object.fromEntries(Object.entries(meta).sort(([a], [b]) => a.localeCompare(b)));
  return { key: `record:${back(rec.id, r)}`, digest: sha({ model: rec.model, feat: rec.feat, norm: backPath(rec.norm, r), meta: sorted }) };
}

async function withAccess<A extends { close(): Promise<void> }, T>(make: (() => A) | undefined, what: string, fn: (a: A) => Promise<T>): Promise<T> {
  if (!make) throw new ValidationError(`this agent holds no ${what}`);
  const a = make();
  try {
    return await fn(a);
  } finally {
    await a.close();
  }
}

export async function inspect(deps: InspectDeps, req: InspectRequest): Promise<InspectResult> {
  switch (req.what) {
    case 'rows':
      return withAccess(deps.rows, 'PostgreSQL database', async (a) => ({ items: await rowDigests(a, req.list, req.replica) }));
    case 'lists':
      return withAccess(deps.rows, 'PostgreSQL database', async (a) => ({ items: [], lists: await a.lists() }));
    case 'requeue':
      return withAccess(deps.rows, 'PostgreSQL database', async (a) => ({ items: [], queued: await a.requeue(req.list, req.dossierIds) }));
    case 'records':
      return withAccess(deps.records, 'Tarantool shards', async (a) => {
        const ids = req.replica ? req.ids.map((id) => replicaId((req.replica as ReplicaOf).number, id)) : req.ids;
        return { items: (await a.read(ids)).map((rec) => recordDigest(rec, req.replica)) };
      });
    case 'files': {
      if (!deps.files) throw new ValidationError('this agent holds no upload directories');
      const files = deps.files();
      const items: ItemDigest[] = [];
      for (const f of req.files) {
        const rel = req.replica ? replicaPath(req.replica.masterSite, f.rel) : f.rel;
        const h = await files.hash(f.root, rel);
        if (h) items.push({ key: `file:${f.root}:${f.rel}`, digest: h });
      }
      return { items };
    }
  }
}
