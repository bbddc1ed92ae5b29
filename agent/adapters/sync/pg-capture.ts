/**
 * `PgChangeSource`: the master database's capture log. ffkeeper keeps it in its own schema
 * (`ffkeeper_sync`): AFTER ROW triggers on the dossier, membership and face tables append the dossier id
 * of every insert, update and delete (hard deletes included) to `ffkeeper_sync.changes` — FindFace's
 * columns, rows and server settings stay as they are, and no restart is needed (logical decoding would
 * need `wal_level = logical`). A change row becomes visible when its transaction commits, however long
 * that took, and is deleted once its dossier's state was published: nothing depends on commit order or
 * on a cursor that a long transaction could commit behind. The trigger function is SECURITY DEFINER
 * (owned by the agent's database user): FindFace writes as its own role, which has no rights on
 * ffkeeper's schema, and referential cascades run as the tables' owner.
 */
import type pg from 'pg';
import type { DossierMessage } from '../../domain/sync/messages.js';
import type { ChangeSource } from '../../domain/sync/ports.js';
import { clientConfig, connectClient, type PgEndpoint } from '../postgres/connection.js';
import { attachTriggers, installWithoutDeadlock } from './pg-triggers.js';
import { readStates } from './pg-states.js';

const INSTALL = `
CREATE SCHEMA IF NOT EXISTS ffkeeper_sync;
CREATE TABLE IF NOT EXISTS ffkeeper_sync.changes (id bigserial PRIMARY KEY, dossier_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS ffkeeper_sync.seeded (list_id integer PRIMARY KEY, seeded_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS ffkeeper_sync.published (list_id integer NOT NULL, dossier_id bigint NOT NULL, PRIMARY KEY (list_id, dossier_id));
CREATE OR REPLACE FUNCTION ffkeeper_sync.capture() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    INSERT INTO ffkeeper_sync.changes (dossier_id) VALUES ((to_jsonb(OLD) ->> TG_ARGV[0])::bigint);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO ffkeeper_sync.changes (dossier_id) VALUES ((to_jsonb(NEW) ->> TG_ARGV[0])::bigint);
  END IF;
  PERFORM pg_notify('ffkeeper_sync', '');
  RETURN NULL;
END
$fn$;
${attachTriggers('ffkeeper_sync_capture', 'AFTER', 'ffkeeper_sync.capture')}
`;

export class PgChangeSource implements ChangeSource {
  private client: pg.Client | undefined;

  constructor(
    private readonly endpoint: PgEndpoint,
    private readonly database: string,
    /** Called on every change notification (wakes the capture loop). */
    private readonly onNotify: () => void,
  ) {}

  private async db(): Promise<pg.Client> {
    if (this.client) return this.client;
    const c = await connectClient(clientConfig(this.endpoint, this.database, 'ffkeeper-sync-capture'), 'PostgreSQL');
    c.on('notification', () => this.onNotify());
    c.on('end', () => {
      if (this.client === c) this.client = undefined;
    });
    c.on('error', () => {
      if (this.client === c) this.client = undefined;
    });
    await c.query('LISTEN ffkeeper_sync');
    this.client = c;
    return c;
  }

  private async run<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    const c = await this.db();
    try {
      return await fn(c);
    } catch (err) {
      // A broken connection is reopened at the next call; a failed statement leaves no transaction open.
      await c.query('ROLLBACK').catch(() => {
        this.client = undefined;
        void c.end().catch(() => undefined);
      });
      throw err;
    }
  }

  async install(): Promise<void> {
    await this.run((c) => installWithoutDeadlock(c, INSTALL, `installing the sync capture in ${this.database}`));
  }

  async seed(list: number): Promise<number> {
    return this.run(async (c) => {
      await c.query('BEGIN');
      const claimed = await c.query('INSERT INTO ffkeeper_sync.seeded (list_id) VALUES ($1) ON CONFLICT DO NOTHING', [list]);
      if (!claimed.rowCount) {
        await c.query('ROLLBACK');
        return 0;
      }
      const r = await c.query('INSERT INTO ffkeeper_sync.changes (dossier_id) SELECT dossier_id FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = $1', [list]);
      await c.query('COMMIT');
      return r.rowCount ?? 0;
    });
  }

  async take(limit: number): Promise<{ ids: number[]; dossierIds: number[] }> {
    return this.run(async (c) => {
      const { rows } = await c.query<{ id: string; dossier_id: string }>('SELECT id, dossier_id FROM ffkeeper_sync.changes ORDER BY id LIMIT $1', [limit]);
      return { ids: rows.map((r) => Number(r.id)), dossierIds: [...new Set(rows.map((r) => Number(r.dossier_id)))] };
    });
  }

  async read(list: number, dossierIds: readonly number[]): Promise<Map<number, DossierMessage['state']>> {
    return this.run(async (c) => {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const states = await readStates(c, list, dossierIds);
      const published = await c.query<{ id: string }>('SELECT dossier_id AS id FROM ffkeeper_sync.published WHERE list_id = $1 AND dossier_id = ANY($2::bigint[])', [list, dossierIds]);
      await c.query('COMMIT');
      const out = new Map<number, DossierMessage['state']>(published.rows.map((r) => [Number(r.id), null]));
      for (const [id, state] of states) out.set(id, state);
      return out;
    });
  }

  async noted(list: number, present: readonly number[], gone: readonly number[]): Promise<void> {
    await this.run(async (c) => {
      if (present.length > 0) {
        await c.query('INSERT INTO ffkeeper_sync.published (list_id, dossier_id) SELECT $1, unnest($2::bigint[]) ON CONFLICT DO NOTHING', [list, present]);
      }
      if (gone.length > 0) await c.query('DELETE FROM ffkeeper_sync.published WHERE list_id = $1 AND dossier_id = ANY($2::bigint[])', [list, gone]);
    });
  }

  async ack(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.run((c) => c.query('DELETE FROM ffkeeper_sync.changes WHERE id = ANY($1::bigint[])', [ids]));
  }

  async backlog(): Promise<number> {
    return this.run(async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM ffkeeper_sync.changes')).rows[0]?.n ?? 0));
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
