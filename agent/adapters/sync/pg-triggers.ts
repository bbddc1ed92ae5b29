/**
 * What the capture (master) and the guard (slave) share in the database: the tables of a watch list's
 * dossiers, each with the column holding the dossier id, and the SQL that attaches a trigger function
 * to all of them once (idempotent). The column is the function's argument (`TG_ARGV[0]`). Both install
 * through `installWithoutDeadlock`: the dossier tables are FindFace's, written while the install runs.
 */
import type pg from 'pg';
import { UnavailableError } from '../../../shared/errors.js';

/** Tables whose rows belong to a dossier, and the column naming it. */
export const DOSSIER_TABLES: readonly (readonly [table: string, column: string])[] = [
  ['ffsecurity_dossier', 'id'],
  ['ffsecurity_dossier_watch_lists', 'dossier_id'],
  ['ffsecurity_dossierface', 'dossier_id'],
];

/** A DO block attaching `fn` as row trigger `name` (`timing` INSERT OR UPDATE OR DELETE) to every dossier table that lacks it. */
export function attachTriggers(name: string, timing: 'BEFORE' | 'AFTER', fn: string): string {
  const values = DOSSIER_TABLES.map(([t, c]) => `('${t}', '${c}')`).join(', ');
  return `DO $do$
DECLARE t record;
BEGIN
  FOR t IN SELECT * FROM (VALUES ${values}) AS v(tbl, col) LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = '${name}' AND tgrelid = t.tbl::regclass) THEN
      EXECUTE format('CREATE TRIGGER ${name} ${timing} INSERT OR UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION ${fn}(%L)', t.tbl, t.col);
    END IF;
  END LOOP;
END
$do$;`;
}

/** How long the install waits for any one lock before it lets go of every lock and tries again: below deadlock_timeout (1 s by default). */
const INSTALL_LOCK_TIMEOUT_MS = 200;
/** How long the install keeps trying before it reports the tables as held by others. */
const INSTALL_GIVE_UP_MS = 15_000;
/** SQLSTATE of a lock wait that ran into lock_timeout. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Runs an install script (schema, functions, `attachTriggers`) in one transaction that neither makes
 * FindFace wait long nor deadlocks it. CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock on each dossier
 * table in turn; a FindFace transaction that writes those tables in another order (a dossier's faces,
 * then the dossier) would deadlock with it, and PostgreSQL may fail FindFace's transaction to break the
 * cycle. So each lock is waited for at most INSTALL_LOCK_TIMEOUT_MS — the deadlock detector never runs —
 * and on that timeout the install lets go of everything and tries again a moment later.
 */
export async function installWithoutDeadlock(c: pg.Client, sql: string, what: string): Promise<void> {
  const started = Date.now();
  for (let attempt = 1; ; attempt += 1) {
    try {
      await c.query(`BEGIN;\nSET LOCAL lock_timeout = '${INSTALL_LOCK_TIMEOUT_MS}ms';\n${sql};\nCOMMIT;`);
      return;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw err;
      if (Date.now() - started > INSTALL_GIVE_UP_MS) {
        throw new UnavailableError(
          `${what}: FindFace's dossier tables (${DOSSIER_TABLES.map(([t]) => t).join(', ')}) stayed locked by other transactions for ${Math.round((Date.now() - started) / 1000)} s (${attempt} tries, each lock waited for at most ${INSTALL_LOCK_TIMEOUT_MS} ms)`,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 200));
    }
  }
}
