/**
 * `PgRowsTarget`: the slave database side of a link. `ffkeeper_sync.replicas` registers each replica
 * list with its link and the stream position applied last; every apply changes the rows and that
 * position in one transaction, so a change applied twice changes nothing. A guard (BEFORE ROW
 * triggers on the dossier, membership and face tables) rejects every write touching a replica list
 * unless it comes from the apply (a transaction-local setting) — except deletes while the master is
 * unreachable, which it records so the master's state can undo them when it returns. The guard runs
 * SECURITY DEFINER (FindFace's role has no rights on ffkeeper's schema).
 */
import type pg from 'pg';
import { replicaId, replicaPath, LINK_ID_RANGE, type SyncLink } from '../../../shared/sync/link.js';
import type { DossierMessage } from '../../domain/sync/messages.js';
import type { RowsTarget } from '../../domain/sync/ports.js';
import { clientConfig, connectClient, type PgEndpoint } from '../postgres/connection.js';
import { attachTriggers, installWithoutDeadlock } from './pg-triggers.js';

const INSTALL = `
CREATE SCHEMA IF NOT EXISTS ffkeeper_sync;
CREATE TABLE IF NOT EXISTS ffkeeper_sync.replicas (
  link_id text PRIMARY KEY, list_id integer NOT NULL UNIQUE, link_number integer NOT NULL, master text NOT NULL,
  position bigint NOT NULL DEFAULT 0, replaced boolean NOT NULL DEFAULT false, master_reachable boolean NOT NULL DEFAULT true);
CREATE TABLE IF NOT EXISTS ffkeeper_sync.local_deletes (
  link_id text NOT NULL, master_id bigint NOT NULL, deleted_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (link_id, master_id));
CREATE OR REPLACE FUNCTION ffkeeper_sync.guard() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
  r ffkeeper_sync.replicas;
  row_data jsonb := to_jsonb(COALESCE(NEW, OLD));
  dossier bigint;
BEGIN
  IF current_setting('ffkeeper.sync_apply', true) = 'on' THEN RETURN COALESCE(NEW, OLD); END IF;
  IF TG_TABLE_NAME = 'ffsecurity_dossier_watch_lists' THEN
    SELECT * INTO r FROM ffkeeper_sync.replicas
      WHERE list_id IN ((to_jsonb(OLD) ->> 'watchlist_id')::int, (to_jsonb(NEW) ->> 'watchlist_id')::int) LIMIT 1;
  ELSE
    dossier := (row_data ->> TG_ARGV[0])::bigint;
    SELECT rp.* INTO r FROM ffkeeper_sync.replicas rp JOIN public.ffsecurity_dossier_watch_lists m ON m.watchlist_id = rp.list_id
      WHERE m.dossier_id IN (dossier, (to_jsonb(OLD) ->> TG_ARGV[0])::bigint) LIMIT 1;
  END IF;
  IF r.link_id IS NULL THEN RETURN COALESCE(NEW, OLD); END IF;
  IF TG_OP = 'DELETE' AND NOT r.master_reachable THEN
    dossier := (to_jsonb(OLD) ->> TG_ARGV[0])::bigint;
    IF dossier >= r.link_number * ${LINK_ID_RANGE}::bigint AND dossier < (r.link_number + 1) * ${LINK_ID_RANGE}::bigint THEN
      INSERT INTO ffkeeper_sync.local_deletes (link_id, master_id) VALUES (r.link_id, dossier - r.link_number * ${LINK_ID_RANGE}::bigint)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'watch list % is a read-only replica of %''s list (ffkeeper sync link %): change it on the master site',
    r.list_id, r.master, r.link_id USING ERRCODE = 'insufficient_privilege';
END
$fn$;
${attachTriggers('ffkeeper_sync_guard', 'BEFORE', 'ffkeeper_sync.guard')}
`;

const UPSERT_DOSSIERS = `
INSERT INTO ffsecurity_dossier (id, name, comment, active, created_date, modified_date)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::boolean[], $5::timestamptz[], $6::timestamptz[])
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, comment = EXCLUDED.comment, active = EXCLUDED.active,
  created_date = EXCLUDED.created_date, modified_date = EXCLUDED.modified_date`;

const UPSERT_FACES = `
INSERT INTO ffsecurity_dossierface (id, dossier_id, source_photo, thumbnail, normalized, record_id, model, created_date)
SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::timestamptz[])
ON CONFLICT (id) DO UPDATE SET dossier_id = EXCLUDED.dossier_id, source_photo = EXCLUDED.source_photo, thumbnail = EXCLUDED.thumbnail,
  normalized = EXCLUDED.normalized, record_id = EXCLUDED.record_id, model = EXCLUDED.model, created_date = EXCLUDED.created_date`;

/** Writes the dossiers' states (set-based: a handful of statements for the whole batch). */
async function writeDossiers(c: pg.Client, link: SyncLink, messages: readonly DossierMessage[]): Promise<void> {
  const id = (masterId: number): number => replicaId(link.number, masterId);
  const gone = messages.filter((m) => m.state === null).map((m) => id(m.dossierId));
  const present = messages.flatMap((m) => (m.state ? [{ id: id(m.dossierId), ...m.state }] : []));
  if (gone.length > 0) await c.query('DELETE FROM ffsecurity_dossier WHERE id = ANY($1::bigint[])', [gone]);
  if (present.length === 0) return;
  const ids = present.map((d) => d.id);
  await c.query(UPSERT_DOSSIERS, [ids, present.map((d) => d.dossier.name), present.map((d) => d.dossier.comment), present.map((d) => d.dossier.active), present.map((d) => d.dossier.createdDate), present.map((d) => d.dossier.modifiedDate)]);
  await c.query('INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) SELECT unnest($1::bigint[]), $2 ON CONFLICT DO NOTHING', [ids, link.to.list]);
  const faces = present.flatMap((d) => d.faces.map((f) => ({ ...f, dossier: d.id })));
  await c.query('DELETE FROM ffsecurity_dossierface WHERE dossier_id = ANY($1::bigint[]) AND NOT (id = ANY($2::bigint[]))', [ids, faces.map((f) => id(f.id))]);
  if (faces.length === 0) return;
  const site = link.from.site;
  await c.query(UPSERT_FACES, [
    faces.map((f) => id(f.id)),
    faces.map((f) => f.dossier),
    faces.map((f) => replicaPath(site, f.sourcePhoto)),
    faces.map((f) => replicaPath(site, f.thumbnail)),
    faces.map((f) => replicaPath(site, f.normalized)),
    faces.map((f) => id(f.recordId)),
    faces.map((f) => f.model),
    faces.map((f) => f.createdDate),
  ]);
}

export class PgRowsTarget implements RowsTarget {
  private client: pg.Client | undefined;

  constructor(
    private readonly endpoint: PgEndpoint,
    private readonly database: string,
  ) {}

  private async run<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    if (!this.client) {
      const c = await connectClient(clientConfig(this.endpoint, this.database, 'ffkeeper-sync-apply'), 'PostgreSQL');
      c.on('end', () => {
        if (this.client === c) this.client = undefined;
      });
      this.client = c;
    }
    const c = this.client;
    try {
      return await fn(c);
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {
        this.client = undefined;
        void c.end().catch(() => undefined);
      });
      throw err;
    }
  }

  private async tx<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
    return this.run(async (c) => {
      await c.query('BEGIN');
      await c.query(`SET LOCAL ffkeeper.sync_apply = 'on'`);
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    });
  }

  async prepare(link: SyncLink): Promise<void> {
    await this.run(async (c) => {
      await installWithoutDeadlock(c, INSTALL, `installing the sync guard in ${this.database}`);
      await c.query(
        `INSERT INTO ffkeeper_sync.replicas (link_id, list_id, link_number, master) VALUES ($1, $2, $3, $4)
         ON CONFLICT (link_id) DO UPDATE SET list_id = EXCLUDED.list_id, link_number = EXCLUDED.link_number, master = EXCLUDED.master`,
        [link.id, link.to.list, link.number, link.from.site],
      );
    });
  }

  async position(link: SyncLink): Promise<number> {
    return this.run(async (c) => Number((await c.query<{ p: string }>('SELECT position AS p FROM ffkeeper_sync.replicas WHERE link_id = $1', [link.id])).rows[0]?.p ?? 0));
  }

  async replaced(link: SyncLink): Promise<boolean> {
    return this.run(async (c) => (await c.query<{ r: boolean }>('SELECT replaced AS r FROM ffkeeper_sync.replicas WHERE link_id = $1', [link.id])).rows[0]?.r ?? false);
  }

  async replaceList(link: SyncLink): Promise<number> {
    return this.tx(async (c) => {
      // The first sync replaces the list's content: its own dossiers leave the list (they stay on the site).
      const lo = link.number * LINK_ID_RANGE;
      const r = await c.query('DELETE FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = $1 AND NOT (dossier_id >= $2 AND dossier_id < $3)', [link.to.list, lo, lo + LINK_ID_RANGE]);
      await c.query('UPDATE ffkeeper_sync.replicas SET replaced = true WHERE link_id = $1', [link.id]);
      return r.rowCount ?? 0;
    });
  }

  async apply(link: SyncLink, seq: number, m: DossierMessage, force = false): Promise<void> {
    await this.applyAll(link, seq, [m], force);
  }

  async applyBatch(link: SyncLink, seq: number, messages: readonly DossierMessage[]): Promise<void> {
    await this.applyAll(link, seq, messages, false);
  }

  private async applyAll(link: SyncLink, seq: number, messages: readonly DossierMessage[], force: boolean): Promise<void> {
    await this.tx(async (c) => {
      const { rows } = await c.query<{ p: string }>('SELECT position AS p FROM ffkeeper_sync.replicas WHERE link_id = $1 FOR UPDATE', [link.id]);
      const position = Number(rows[0]?.p ?? 0);
      if (position >= seq && !force) return; // applied already
      await writeDossiers(c, link, messages);
      await c.query('DELETE FROM ffkeeper_sync.local_deletes WHERE link_id = $1 AND master_id = ANY($2::bigint[])', [link.id, messages.map((m) => m.dossierId)]);
      await c.query('UPDATE ffkeeper_sync.replicas SET position = $2 WHERE link_id = $1', [link.id, Math.max(seq, position)]);
    });
  }

  async registered(): Promise<string[]> {
    return this.run(async (c) => {
      const exists = await c.query<{ t: string | null }>(`SELECT to_regclass('ffkeeper_sync.replicas')::text AS t`);
      if (!exists.rows[0]?.t) return [];
      return (await c.query<{ id: string }>('SELECT link_id AS id FROM ffkeeper_sync.replicas')).rows.map((r) => r.id);
    });
  }

  async replicatedIds(link: SyncLink): Promise<number[]> {
    const lo = link.number * LINK_ID_RANGE;
    return this.run(async (c) => {
      const { rows } = await c.query<{ id: string }>(
        'SELECT dossier_id AS id FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = $1 AND dossier_id >= $2 AND dossier_id < $3',
        [link.to.list, lo, lo + LINK_ID_RANGE],
      );
      return rows.map((r) => Number(r.id) - lo);
    });
  }

  async setMasterReachable(link: SyncLink, reachable: boolean): Promise<void> {
    await this.run((c) => c.query('UPDATE ffkeeper_sync.replicas SET master_reachable = $2 WHERE link_id = $1', [link.id, reachable]));
  }

  async deletedLocally(link: SyncLink): Promise<number[]> {
    return this.run(async (c) => (await c.query<{ id: string }>('SELECT master_id AS id FROM ffkeeper_sync.local_deletes WHERE link_id = $1', [link.id])).rows.map((r) => Number(r.id)));
  }

  async release(linkId: string): Promise<void> {
    await this.run(async (c) => {
      const exists = await c.query<{ t: string | null }>(`SELECT to_regclass('ffkeeper_sync.replicas')::text AS t`);
      if (!exists.rows[0]?.t) return;
      await c.query('DELETE FROM ffkeeper_sync.replicas WHERE link_id = $1', [linkId]);
      await c.query('DELETE FROM ffkeeper_sync.local_deletes WHERE link_id = $1', [linkId]);
    });
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
