/**
 * Keeps a dev site at its starting size across benchmark runs. The writer adds about 0.2 MB of files
 * per write (events, new dossiers, faces) and deletes a few dossiers, so at 200 writes/s a 1× site would
 * soon hold several times its data and the 1×/10× comparison would mean nothing. Between runs (writer
 * stopped, snapshot sealed, outside any measured window) the trimmer removes the newest dossiers, faces
 * and events beyond the starting counts — rows first, then gallery records, then files, the order the
 * writer deletes in — and tops up dossiers or events the writer deleted with the dev site's loader.
 */
import pg from 'pg';
import { loadSite, ShardSet, type SiteState } from '../../deploy/dev-site/index.js';
import { dossierFaceRefs, eventRefs, FACE_EVENTS, FACE_OBJECTS } from '../../deploy/dev-site/items.js';
import { ownerConfig } from '../../deploy/dev-site/schema.js';
import { ImageWriter } from '../../deploy/dev-site/uploads.js';

/** The counts a site is kept at. */
export interface SiteCounts {
  dossiers: number;
  faces: number;
  events: number;
}

/** What one trim did. */
export interface TrimResult {
  removed: SiteCounts;
  added: { dossiers: number; events: number };
}

interface FaceRow {
  record_id: string;
  source_photo: string;
  thumbnail: string;
  normalized: string;
}

interface EventRow {
  record_id: string;
  thumbnail: string;
  fullframe: string;
  normalized: string;
}

const NEWEST = (table: string): string => `SELECT id FROM ${table} ORDER BY id DESC LIMIT $1`;

/** A site's trimmer: one database connection and one shard connection set, kept for the whole bench. */
export class SiteTrimmer {
  private constructor(
    private readonly state: SiteState,
    private readonly db: pg.Client,
    private readonly shards: ShardSet,
    private readonly images: ImageWriter,
  ) {}

  static async open(state: SiteState): Promise<SiteTrimmer> {
    const db = new pg.Client(ownerConfig(state.postgres));
    await db.connect();
    try {
      return new SiteTrimmer(state, db, await ShardSet.connect(state.shards, 10_000), new ImageWriter(state.uploads));
    } catch (err) {
      await db.end().catch(() => undefined);
      throw err;
    }
  }

  async counts(): Promise<SiteCounts> {
    const { rows } = await this.db.query<{ d: string; f: string; e: string }>(
      'SELECT (SELECT count(*) FROM ffsecurity_dossier) AS d, (SELECT count(*) FROM ffsecurity_dossierface) AS f, (SELECT count(*) FROM ffsecurity_event) AS e',
    );
    const r = rows[0];
    return { dossiers: Number(r?.d ?? 0), faces: Number(r?.f ?? 0), events: Number(r?.e ?? 0) };
  }

  /** Brings the site back to `target` counts (faces approximately: a top-up loads 1–2 faces per dossier). */
  async trimTo(target: SiteCounts): Promise<TrimResult> {
    const now = await this.counts();
    const removed: SiteCounts = {
      dossiers: await this.removeNewestDossiers(now.dossiers - target.dossiers),
      faces: 0,
      events: await this.removeNewestEvents(now.events - target.events),
    };
    const after = await this.counts();
    removed.faces = await this.removeNewestFaces(after.faces - target.faces);
    const added = { dossiers: Math.max(0, target.dossiers - after.dossiers), events: Math.max(0, target.events - after.events) };
    if (added.dossiers > 0 || added.events > 0) await loadSite(this.state, added);
    return { removed, added };
  }

  async close(): Promise<void> {
    this.shards.close();
    await this.db.end().catch(() => undefined);
  }

  /** The newest `n` dossiers with their faces (rows in one transaction, then records, then files). */
  private async removeNewestDossiers(n: number): Promise<number> {
    if (n <= 0) return 0;
    await this.db.query('BEGIN');
    let faces: FaceRow[];
    let count: number;
    try {
      const ids = (await this.db.query<{ id: string }>(NEWEST('ffsecurity_dossier'), [n])).rows.map((r) => r.id);
      faces = (await this.db.query<FaceRow>('DELETE FROM ffsecurity_dossierface WHERE dossier_id = ANY($1::bigint[]) RETURNING record_id, source_photo, thumbnail, normalized', [ids])).rows;
      count = (await this.db.query('DELETE FROM ffsecurity_dossier WHERE id = ANY($1::bigint[])', [ids])).rowCount ?? 0;
      await this.db.query('COMMIT');
    } catch (err) {
      await this.db.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
    await this.dropFaces(faces);
    return count;
  }

  private async removeNewestFaces(n: number): Promise<number> {
    if (n <= 0) return 0;
    const sql = `DELETE FROM ffsecurity_dossierface WHERE id IN (${NEWEST('ffsecurity_dossierface')}) RETURNING record_id, source_photo, thumbnail, normalized`;
    const faces = (await this.db.query<FaceRow>(sql, [n])).rows;
    await this.dropFaces(faces);
    return faces.length;
  }

  private async removeNewestEvents(n: number): Promise<number> {
    if (n <= 0) return 0;
    const sql = `DELETE FROM ffsecurity_event WHERE id IN (${NEWEST('ffsecurity_event')}) RETURNING record_id, thumbnail, fullframe, normalized`;
    const events = (await this.db.query<EventRow>(sql, [n])).rows;
    await this.shards.delete(FACE_EVENTS, events.map((e) => Number(e.record_id)));
    await this.images.remove(events.flatMap((e) => eventRefs(e)));
    return events.length;
  }

  private async dropFaces(faces: FaceRow[]): Promise<void> {
    if (faces.length === 0) return;
    await this.shards.delete(FACE_OBJECTS, faces.map((f) => Number(f.record_id)));
    await this.images.remove(faces.flatMap((f) => dossierFaceRefs({ sourcePhoto: f.source_photo, thumbnail: f.thumbnail, normalized: f.normalized })));
  }
}
