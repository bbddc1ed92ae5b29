/**
 * What the capture (master) and the guard (slave) share in the database: the tables of a watch list's
 * dossiers, each with the column holding the dossier id, and the SQL that attaches a trigger function
 * to all of them once (idempotent). The column is the function's argument (`TG_ARGV[0]`).
 */

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
