/**
 * What the sync bench counts on both ends of a link: the master list's dossiers, faces, gallery
 * records and photo files (with their bytes), and — polled on the slave — how much of it has arrived
 * in the replica list (rows by one query, then the remaining records and files until none is left).
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { ShardSet, SiteState } from '../../deploy/dev-site/index.js';
import { mapLimit } from '../../deploy/dev-site/uploads.js';
import { LINK_ID_RANGE, replicaId, replicaPath } from '../../shared/sync/link.js';

/** One photo file of a face: its root, its path under it and its size on the master. */
export interface ListFile {
  root: 'uploads' | 'ffupload';
  rel: string;
  size: number;
}

/** The master list as the bench found it before linking. */
export interface MasterList {
  dossierIds: number[];
  faces: number;
  recordIds: number[];
  files: ListFile[];
  /** Bytes of `files` (uploads source photo + thumbnail + ffupload normalized of every face). */
  bytes: number;
}

/** A superuser connection to a dev site's database (directly on PostgreSQL, not through pgbouncer). */
export async function connect(state: SiteState): Promise<pg.Client> {
  const c = new pg.Client({ host: state.postgres.host, port: state.postgres.port, user: 'postgres', database: state.postgres.database });
  await c.connect();
  return c;
}

export function rootDir(state: SiteState, root: ListFile['root']): string {
  return root === 'uploads' ? state.uploads.uploadsDir : state.uploads.ffuploadDir;
}

/** Reads list `list` of the master: its dossiers, faces, records, and the size of every file. */
export async function readMasterList(state: SiteState, list: number): Promise<MasterList> {
  const db = await connect(state);
  try {
    const dossiers = await db.query<{ id: string }>('SELECT dossier_id AS id FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = $1', [list]);
    const faces = await db.query<{ record_id: string; source_photo: string; thumbnail: string; normalized: string }>(
      `SELECT f.record_id, f.source_photo, f.thumbnail, f.normalized FROM ffsecurity_dossierface f
       JOIN ffsecurity_dossier_watch_lists m ON m.dossier_id = f.dossier_id AND m.watchlist_id = $1`,
      [list],
    );
    const refs = faces.rows.flatMap((f) => [
      { root: 'uploads' as const, rel: f.source_photo },
      { root: 'uploads' as const, rel: f.thumbnail },
      { root: 'ffupload' as const, rel: f.normalized },
    ]);
    const files = await mapLimit(refs, 64, async (r) => ({ ...r, size: (await stat(path.join(rootDir(state, r.root), r.rel))).size }));
    return {
      dossierIds: dossiers.rows.map((r) => Number(r.id)),
      faces: faces.rows.length,
      recordIds: faces.rows.map((f) => Number(f.record_id)),
      files,
      bytes: files.reduce((a, f) => a + f.size, 0),
    };
  } finally {
    await db.end();
  }
}

/** The slave's replica list right now: its dossiers and face rows, and how many of them are not the link's. */
export interface ReplicaRows {
  dossiers: number;
  faces: number;
  /** Dossiers in the list that are not replicas of this link (the slave's own, still to be removed). */
  foreign: number;
}

export async function countReplicaRows(db: pg.Client, list: number, linkNumber: number): Promise<ReplicaRows> {
  const [lo, hi] = [String(linkNumber * LINK_ID_RANGE), String((linkNumber + 1) * LINK_ID_RANGE)];
  const { rows } = await db.query<{ dossiers: string; foreign: string; faces: string }>(
    `SELECT count(*) FILTER (WHERE m.dossier_id >= $2 AND m.dossier_id < $3) AS dossiers,
            count(*) FILTER (WHERE m.dossier_id < $2 OR m.dossier_id >= $3) AS foreign,
            (SELECT count(*) FROM ffsecurity_dossierface f JOIN ffsecurity_dossier_watch_lists w ON w.dossier_id = f.dossier_id AND w.watchlist_id = $1
              WHERE f.id >= $2 AND f.id < $3) AS faces
     FROM ffsecurity_dossier_watch_lists m WHERE m.watchlist_id = $1`,
    [list, lo, hi],
  );
  const r = rows[0];
  return { dossiers: Number(r?.dossiers ?? 0), faces: Number(r?.faces ?? 0), foreign: Number(r?.foreign ?? 0) };
}

/**
 * The master's records and files not yet on the slave; each call re-checks only what was missing at
 * the previous one (a replica file counts once it has the master's size; `sync check` compares digests).
 * Files are checked in the order of their faces' ids (roughly the order the link sends them) and a call
 * stops after `MISSING_STOP` missing ones, so polling costs little CPU while many are still to come.
 */
export class Remaining {
  private records: number[];
  private files: ListFile[];

  constructor(
    private readonly slave: SiteState,
    private readonly masterSite: string,
    linkNumber: number,
    master: MasterList,
  ) {
    this.records = master.recordIds.map((id) => replicaId(linkNumber, id));
    const faceId = (f: ListFile): number => Number(/(\d+)(?:_photo|_thumb)?\.jpg$/.exec(f.rel)?.[1] ?? 0);
    this.files = [...master.files].sort((a, b) => faceId(a) - faceId(b));
  }

  get counts(): { records: number; files: number } {
    return { records: this.records.length, files: this.files.length };
  }

  async refresh(shards: ShardSet): Promise<{ records: number; files: number }> {
    const found = new Set<number>();
    for (let i = 0; i < this.slave.shards.length; i++) {
      const mine = this.records.filter((id) => shards.shardOf(id) === i);
      for (let k = 0; k < mine.length; k += 2000) for (const id of (await shards.get('ffsec_face_objects', i, mine.slice(k, k + 2000))).ids) found.add(Number(id));
    }
    this.records = this.records.filter((id) => !found.has(id));
    const present = new Set<ListFile>();
    let missing = 0;
    for (let k = 0; k < this.files.length && missing < MISSING_STOP; k += CHUNK) {
      const chunk = this.files.slice(k, k + CHUNK);
      const ok = await mapLimit(chunk, 16, async (f) => {
        const s = await stat(path.join(rootDir(this.slave, f.root), replicaPath(this.masterSite, f.rel))).catch(() => undefined);
        return s?.size === f.size;
      });
      chunk.forEach((f, i) => (ok[i] ? present.add(f) : missing++));
    }
    this.files = this.files.filter((f) => !present.has(f));
    return this.counts;
  }
}

const CHUNK = 256;
const MISSING_STOP = 200;
