/**
 * pgbouncer's configuration (`/etc/pgbouncer/pgbouncer.ini`, the pgbouncer in front of FindFace's
 * `ffsecurity` database): the `[databases]` entries (`ffsecurity = host=127.0.0.1 port=5432
 * dbname=ffsecurity`) and the `[pgbouncer]` settings ffkeeper needs — where it listens and who may use
 * its admin console (`PAUSE` / `RESUME`). Read only; passwords in connection strings are never returned.
 * Pure: no file access.
 */
import { ValidationError } from '../errors.js';

/** One `[databases]` entry: where pgbouncer connects for that name. */
export interface PgbouncerDatabase {
  host?: string;
  port?: number;
  /** The server-side database name; when absent, the entry's own name. */
  dbname?: string;
  user?: string;
}

export interface PgbouncerIni {
  /** By the name clients connect to (what `PAUSE <db>` names); `*` is the fallback entry. */
  databases: Record<string, PgbouncerDatabase>;
  /** `listen_addr` as written (`127.0.0.1`, `*`, a comma list), undefined when unset (pgbouncer: no TCP). */
  listenAddr?: string;
  /** `listen_port` (pgbouncer's default: 6432). */
  listenPort: number;
  /** `admin_users`, in order. */
  adminUsers: string[];
}

export const PGBOUNCER_DEFAULT_PORT = 6432;

/** `key=value key='quoted value'` (libpq connection-string style). */
function connectionString(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S*))/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out[(m[1] as string).toLowerCase()] = m[2] ?? m[3] ?? '';
  return out;
}

function port(value: string, file: string, field: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65535) throw new ValidationError(`${file}: ${field}: '${value}' is not a port`, { field });
  return Number(value);
}

/** Parses the ini; ValidationError naming the file and field for a malformed line or port. */
export function parsePgbouncerIni(text: string, file: string): PgbouncerIni {
  const sections: Record<string, Record<string, string>> = {};
  let section: Record<string, string> | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) return;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = sections[(header[1] as string).trim().toLowerCase()] ??= {};
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || !section) throw new ValidationError(`${file}: line ${i + 1}: expected 'key = value' inside a [section]`, { field: `line ${i + 1}` });
    section[line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  });
  const databases: Record<string, PgbouncerDatabase> = {};
  for (const [name, value] of Object.entries(sections.databases ?? {})) {
    const c = connectionString(value);
    databases[name] = {
      ...(c.host ? { host: c.host } : {}),
      ...(c.port ? { port: port(c.port, file, `databases.${name}.port`) } : {}),
      ...(c.dbname ? { dbname: c.dbname } : {}),
      ...(c.user ? { user: c.user } : {}),
    };
  }
  const pgb = sections.pgbouncer ?? {};
  return {
    databases,
    ...(pgb.listen_addr ? { listenAddr: pgb.listen_addr } : {}),
    listenPort: pgb.listen_port ? port(pgb.listen_port, file, 'pgbouncer.listen_port') : PGBOUNCER_DEFAULT_PORT,
    adminUsers: (pgb.admin_users ?? '').split(',').map((u) => u.trim()).filter(Boolean),
  };
}

/** The entry serving database `name`: the one so named, else the one whose `dbname` it is. */
export function pgbouncerEntryFor(ini: PgbouncerIni, name: string): { alias: string; entry: PgbouncerDatabase } | undefined {
  const own = ini.databases[name];
  if (own) return { alias: name, entry: own };
  const found = Object.entries(ini.databases).find(([alias, e]) => alias !== '*' && e.dbname === name);
  return found ? { alias: found[0], entry: found[1] } : undefined;
}
