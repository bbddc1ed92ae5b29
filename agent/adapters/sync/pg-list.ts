/** `PgListAccess`: a whole watch list's dossiers and faces in one snapshot (for `sync check`), and the repair's requeue on the master. */
import type pg from 'pg';
import type { ListAccess } from '../../domain/sync/inspect.js';
import type { WatchListInfo } from '../../../shared/sync/inspect.js';
import type { DossierMessage } from '../../domain/sync/messages.js';
import { clientConfig, connectClient, type PgEndpoint } from '../postgres/connection.js';

type State = NonNullable<DossierMessage['state']>;

export class PgListAccess implements ListAccess {
  private client: pg.Client | undefined;

  constructor(
    private readonly endpoint: PgEndpoint,
    private readonly database: string,
  ) {}

  private async db(): Promise<pg.Client> {
    this.client ??= await connectClient(clientConfig(this.endpoint, this.database, 'ffkeeper-sync-check'), 'PostgreSQL');
    return this.client;
  }

  async list(list: number): Promise<Map<number, State>> {
    const c = await this.db();
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const dossiers = await c.query<{ id: string; name: string; comment: string; active: boolean; created_date: string; modified_date: string }>(
        `SELECT d.id, d.name, d.comment, d.active, d.created_date::text, d.modified_date::text FROM ffsecurity_dossier d
         JOIN ffsecurity_dossier_watch_lists m ON m.dossier_id = d.id AND m.watchlist_id = $1`,
        [list],
      );
      const faces = await c.query<{ id: string; dossier_id: string; source_photo: string; thumbnail: string; normalized: string; record_id: string; model: string; created_date: string }>(
        `SELECT f.id, f.dossier_id, f.source_photo, f.thumbnail, f.normalized, f.record_id, f.model, f.created_date::text FROM ffsecurity_dossierface f
         JOIN ffsecurity_dossier_watch_lists m ON m.dossier_id = f.dossier_id AND m.watchlist_id = $1`,
        [list],
      );
      const out = new Map<number, State>();
      for (const d of dossiers.rows) {
        out.set(Number(d.id), { dossier: { name: d.name, comment: d.comment, active: d.active, createdDate: d.created_date, modifiedDate: d.modified_date }, faces: [] });
      }
      for (const f of faces.rows) {
        out.get(Number(f.dossier_id))?.faces.push({
          id: Number(f.id), sourcePhoto: f.source_photo, thumbnail: f.thumbnail, normalized: f.normalized, recordId: Number(f.record_id), model: f.model, createdDate: f.created_date,
        });
      }
      return out;
    } finally {
      await c.query('COMMIT').catch(() => undefined);
    }
  }

  async lists(): Promise<WatchListInfo[]> {
    const c = await this.db();
    const { rows } = await c.query<{ id: number; name: string; n: string }>(
      'SELECT w.id, w.name, (SELECT count(*) FROM ffsecurity_dossier_watch_lists m WHERE m.watchlist_id = w.id) AS n FROM ffsecurity_watchlist w ORDER BY w.id',
    );
    return rows.map((r) => ({ id: r.id, name: r.name, dossiers: Number(r.n) }));
  }

  async requeue(list: number, dossierIds: readonly number[]): Promise<number> {
    if (dossierIds.length === 0) return 0;
    const c = await this.db();
    await c.query('BEGIN');
    try {
      // Marked as published, so a dossier that is no longer in the list is published as gone (a tombstone).
      await c.query('INSERT INTO ffkeeper_sync.published (list_id, dossier_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING', [list, dossierIds]);
      const r = await c.query('INSERT INTO ffkeeper_sync.changes (dossier_id) SELECT unnest($1::bigint[])', [dossierIds]);
      await c.query(`SELECT pg_notify('ffkeeper_sync', '')`);
      await c.query('COMMIT');
      return r.rowCount ?? 0;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}
