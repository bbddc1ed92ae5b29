/** `PgListAccess`: a whole watch list's dossiers and faces in one snapshot (for `sync check`), and the repair's requeue on the master. */
import type pg from 'pg';
import type { ListAccess } from '../../domain/sync/inspect.js';
import type { WatchListInfo } from '../../../shared/sync/inspect.js';
import { readStates, type DossierState } from './pg-states.js';
import { clientConfig, connectClient, type PgEndpoint } from '../postgres/connection.js';

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

  async list(list: number): Promise<Map<number, DossierState>> {
    const c = await this.db();
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      return await readStates(c, list);
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
