/**
 * Installing the sync capture on a busy FindFace database (real PostgreSQL, a scratch database with the
 * dossier tables): CREATE TRIGGER locks the dossier tables one after another, and a FindFace transaction
 * that deletes a dossier's faces and then the dossier locks two of them in the other order. That used to
 * deadlock, and PostgreSQL failed FindFace's transaction (a clean-clone run: the writer's "dossierDelete:
 * deadlock detected"). The install now lets go when a lock does not come quickly, and tries again.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgChangeSource } from '../../agent/adapters/sync/pg-capture.js';
import { createScratchDatabase, type ScratchDatabase } from '../harness/postgres.js';
import { waitFor } from '../harness/processes.js';

describe('sync capture install on a database FindFace writes', () => {
  let db: ScratchDatabase;

  beforeAll(async () => {
    db = await createScratchDatabase('ffk_sync_install');
    const c = new pg.Client({ connectionString: db.connectionString });
    await c.connect();
    await c.query(`
      CREATE TABLE ffsecurity_dossier (id bigint PRIMARY KEY, name text NOT NULL DEFAULT '');
      CREATE TABLE ffsecurity_dossier_watch_lists (id serial PRIMARY KEY, dossier_id bigint NOT NULL, watchlist_id integer NOT NULL);
      CREATE TABLE ffsecurity_dossierface (id bigint PRIMARY KEY, dossier_id bigint NOT NULL);
      INSERT INTO ffsecurity_dossier (id) VALUES (1), (2);
      INSERT INTO ffsecurity_dossierface (id, dossier_id) VALUES (10, 1), (20, 2);`);
    await c.end();
  }, 60_000);

  afterAll(async () => {
    await db?.drop();
  });

  it("neither deadlocks nor fails a FindFace transaction that deletes a dossier's faces, then the dossier, meanwhile", async () => {
    const findface = new pg.Client({ connectionString: db.connectionString, application_name: 'findface-security' });
    const observer = new pg.Client({ connectionString: db.connectionString });
    await Promise.all([findface.connect(), observer.connect()]);
    const source = new PgChangeSource({ host: db.host, port: db.port, user: db.user }, db.name, () => undefined);
    try {
      // FindFace's transaction has deleted the faces (ROW EXCLUSIVE on the faces table) when the install starts.
      await findface.query('BEGIN');
      await findface.query('DELETE FROM ffsecurity_dossierface WHERE dossier_id = 1');
      const installed = source.install().then(
        () => 'installed',
        (err: unknown) => `install failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      // The install holds the dossier table's lock and waits for the faces table's.
      await waitFor(
        async () =>
          (
            await observer.query(
              `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
               WHERE a.application_name = 'ffkeeper-sync-capture' AND NOT l.granted AND l.relation = 'ffsecurity_dossierface'::regclass`,
            )
          ).rowCount === 1 || undefined,
        10_000,
        5,
      );
      // Now FindFace deletes the dossier: it needs the dossier table, which the install holds.
      const deleted = await findface.query('DELETE FROM ffsecurity_dossier WHERE id = 1').then(
        (r) => `deleted ${r.rowCount}`,
        (err: unknown) => `FindFace's delete failed: ${err instanceof Error ? err.message : String(err)}`,
      );
      expect(deleted).toBe('deleted 1');
      await findface.query('COMMIT');
      expect(await installed).toBe('installed');

      const triggers = await observer.query<{ tbl: string }>(
        `SELECT tgrelid::regclass::text AS tbl FROM pg_trigger WHERE tgname = 'ffkeeper_sync_capture' ORDER BY 1`,
      );
      expect(triggers.rows.map((r) => r.tbl)).toEqual(['ffsecurity_dossier', 'ffsecurity_dossier_watch_lists', 'ffsecurity_dossierface']);
      // The capture works: the next write is recorded.
      await findface.query('DELETE FROM ffsecurity_dossierface WHERE dossier_id = 2');
      expect((await observer.query('SELECT dossier_id FROM ffkeeper_sync.changes')).rows).toEqual([{ dossier_id: '2' }]);
    } finally {
      await source.close();
      await Promise.all([findface.end(), observer.end()]);
    }
  }, 60_000);
});
