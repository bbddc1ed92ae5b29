/**
 * The dev site's PostgreSQL side: the `ntech` role, the per-site database (created the way FindFace's
 * restore docs create `ffsecurity`), and a schema modelled on FindFace Multi's (Django-style table
 * names): users and groups, watch lists, dossiers, dossier faces, cameras, events, native-sync replicas. Also what the
 * `findface-security migrate|create_groups|create_default_user` shims do — all idempotent.
 */
import pg from 'pg';
import { UnavailableError } from '../../shared/errors.js';

/** Where the dev site's PostgreSQL server is and who owns the site's database. */
export interface PgTarget {
  host: string;
  port: number;
  superuser: string;
  database: string;
  owner: string;
}

/** FindFace's default user groups. */
export const DEFAULT_GROUPS = ['Administrator', 'Operator', 'User'] as const;
export const DEFAULT_USER = 'admin';

/**
 * Tables in dependency order; `migrate` creates what is missing. `ffsecurity_sync_dossierlistreplica` is
 * what FindFace's `ffsecurity_sync` plugin adds: watch lists of this site replicating a master's
 * (native-sync-store.ts); the checker does not read it (it references no record or file).
 */
const DDL = `
CREATE TABLE IF NOT EXISTS django_migrations (
  id serial PRIMARY KEY, app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied timestamptz NOT NULL DEFAULT now(),
  UNIQUE (app, name));
CREATE TABLE IF NOT EXISTS auth_group (id serial PRIMARY KEY, name varchar(150) NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS users_user (
  id serial PRIMARY KEY, username varchar(150) NOT NULL UNIQUE, password varchar(128) NOT NULL DEFAULT '',
  is_superuser boolean NOT NULL DEFAULT false, is_active boolean NOT NULL DEFAULT true,
  primary_group_id integer REFERENCES auth_group(id) DEFERRABLE INITIALLY DEFERRED,
  date_joined timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS users_user_groups (
  id serial PRIMARY KEY,
  user_id integer NOT NULL REFERENCES users_user(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  group_id integer NOT NULL REFERENCES auth_group(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  UNIQUE (user_id, group_id));
CREATE TABLE IF NOT EXISTS ffsecurity_watchlist (
  id serial PRIMARY KEY, name varchar(256) NOT NULL, comment text NOT NULL DEFAULT '', color varchar(6) NOT NULL DEFAULT 'ff0000',
  active boolean NOT NULL DEFAULT true, notify boolean NOT NULL DEFAULT false, threshold real,
  created_date timestamptz NOT NULL DEFAULT now(), modified_date timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS ffsecurity_dossier (
  id bigserial PRIMARY KEY, name varchar(256) NOT NULL, comment text NOT NULL DEFAULT '', active boolean NOT NULL DEFAULT true,
  created_date timestamptz NOT NULL DEFAULT now(), modified_date timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS ffsecurity_dossier_watch_lists (
  id bigserial PRIMARY KEY,
  dossier_id bigint NOT NULL REFERENCES ffsecurity_dossier(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  watchlist_id integer NOT NULL REFERENCES ffsecurity_watchlist(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  UNIQUE (dossier_id, watchlist_id));
CREATE TABLE IF NOT EXISTS ffsecurity_dossierface (
  id bigserial PRIMARY KEY,
  dossier_id bigint NOT NULL REFERENCES ffsecurity_dossier(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  source_photo varchar(256) NOT NULL, thumbnail varchar(256) NOT NULL, normalized varchar(256) NOT NULL,
  record_id bigint NOT NULL UNIQUE, model varchar(64) NOT NULL, created_date timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS ffsecurity_dossierface_dossier_id ON ffsecurity_dossierface (dossier_id);
CREATE TABLE IF NOT EXISTS ffsecurity_cameragroup (id serial PRIMARY KEY, name varchar(256) NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS ffsecurity_camera (
  id serial PRIMARY KEY, name varchar(256) NOT NULL, url varchar(512) NOT NULL, active boolean NOT NULL DEFAULT true,
  group_id integer NOT NULL REFERENCES ffsecurity_cameragroup(id) DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE IF NOT EXISTS ffsecurity_event (
  id bigserial PRIMARY KEY,
  camera_id integer NOT NULL REFERENCES ffsecurity_camera(id) DEFERRABLE INITIALLY DEFERRED,
  created_date timestamptz NOT NULL, record_id bigint NOT NULL UNIQUE,
  thumbnail varchar(256) NOT NULL, fullframe varchar(256) NOT NULL, normalized varchar(256) NOT NULL,
  matched_dossier_id bigint REFERENCES ffsecurity_dossier(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
  confidence real, model varchar(64) NOT NULL);
CREATE INDEX IF NOT EXISTS ffsecurity_event_created_date ON ffsecurity_event (created_date);
CREATE INDEX IF NOT EXISTS ffsecurity_event_matched_dossier_id ON ffsecurity_event (matched_dossier_id);
CREATE TABLE IF NOT EXISTS ffsecurity_sync_dossierlistreplica (
  id serial PRIMARY KEY, remote_dossier_list integer NOT NULL, remote_url varchar(512) NOT NULL,
  slave_dossier_list_id integer NOT NULL UNIQUE REFERENCES ffsecurity_watchlist(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  created_date timestamptz NOT NULL DEFAULT now(),
  last_sync_started timestamptz, last_sync_finished timestamptz, last_sync_status varchar(16), last_sync_error text,
  last_sync_dossiers integer, last_sync_faces integer);
INSERT INTO django_migrations (app, name) VALUES ('ffsecurity', '0001_initial'), ('users', '0001_initial'), ('ffsecurity_sync', '0001_initial')
  ON CONFLICT (app, name) DO NOTHING;
`;

/** Quotes an SQL identifier. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Runs `fn` with a connected client; always closes it. Connection failures become UnavailableError. */
export async function withClient<T>(config: pg.ClientConfig, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(config);
  try {
    await client.connect();
  } catch (err) {
    throw new UnavailableError(`postgres ${config.host}:${config.port}/${config.database}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function adminConfig(t: PgTarget): pg.ClientConfig {
  return { host: t.host, port: t.port, user: t.superuser, database: 'postgres' };
}

/** Connection to the site database as its owner (what the app and the shims use). */
export function ownerConfig(t: PgTarget): pg.ClientConfig {
  return { host: t.host, port: t.port, user: t.owner, database: t.database };
}

/** Creates the owner role (LOGIN) unless it exists; tolerates a concurrent creation. */
export async function ensureRole(t: PgTarget): Promise<void> {
  await withClient(adminConfig(t), async (c) => {
    const { rowCount } = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [t.owner]);
    if (rowCount) return;
    await c.query(`CREATE ROLE ${ident(t.owner)} LOGIN`).catch((err: { code?: string }) => {
      if (err.code !== '42710' && err.code !== '23505') throw err;
    });
  });
}

/** Creates the site database as FindFace's docs do; fails if it exists. */
export async function createDatabase(t: PgTarget): Promise<void> {
  await withClient(adminConfig(t), (c) =>
    c.query(
      `CREATE DATABASE ${ident(t.database)} WITH OWNER ${ident(t.owner)} ENCODING 'UTF-8' ` +
        `LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0`,
    ),
  );
}

/** Drops the site database (disconnecting its sessions); no error when it does not exist. */
export async function dropDatabase(t: PgTarget): Promise<void> {
  await withClient(adminConfig(t), (c) => c.query(`DROP DATABASE IF EXISTS ${ident(t.database)} WITH (FORCE)`));
}

/** Drops the staging and aside databases of restores of the site (`<db>_ffk_stage_*`, `<db>_ffk_aside_*`) an interrupted run left. */
export async function dropRestoreDatabases(t: PgTarget): Promise<string[]> {
  return withClient(adminConfig(t), async (c) => {
    const base = t.database.slice(0, 40).replace(/[\\_%]/g, (ch) => `\\${ch}`);
    const r = await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${base}\\_ffk\\_%`]);
    for (const { datname } of r.rows) await c.query(`DROP DATABASE IF EXISTS ${ident(datname)} WITH (FORCE)`);
    return r.rows.map((row) => row.datname);
  });
}

export async function databaseExists(t: PgTarget): Promise<boolean> {
  return withClient(adminConfig(t), async (c) => {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [t.database]);
    return (rowCount ?? 0) > 0;
  });
}

/** `findface-security migrate`: creates whatever part of the schema is missing. */
export async function migrate(t: PgTarget): Promise<void> {
  await withClient(ownerConfig(t), (c) => c.query(DDL));
}

/** `findface-security create_groups`: upserts FindFace's default groups. */
export async function createGroups(t: PgTarget): Promise<void> {
  await withClient(ownerConfig(t), (c) =>
    c.query('INSERT INTO auth_group (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING', [[...DEFAULT_GROUPS]]),
  );
}

/** `findface-security create_default_user`: upserts the `admin` superuser in the Administrator group. */
export async function createDefaultUser(t: PgTarget): Promise<void> {
  await withClient(ownerConfig(t), async (c) => {
    await c.query(
      `INSERT INTO users_user (username, password, is_superuser, primary_group_id)
       VALUES ($1, 'pbkdf2_sha256$dev$site', true, (SELECT id FROM auth_group WHERE name = 'Administrator'))
       ON CONFLICT (username) DO UPDATE SET is_superuser = true, is_active = true`,
      [DEFAULT_USER],
    );
    await c.query(
      `INSERT INTO users_user_groups (user_id, group_id)
       SELECT u.id, g.id FROM users_user u, auth_group g WHERE u.username = $1 AND g.name = 'Administrator'
       ON CONFLICT DO NOTHING`,
      [DEFAULT_USER],
    );
  });
}

/** Reference data a fresh site starts with: operators, camera groups and cameras, watch lists. */
export async function seedReferenceData(t: PgTarget, counts = { cameras: 8, watchLists: 5 }): Promise<void> {
  await withClient(ownerConfig(t), async (c) => {
    await c.query(
      `INSERT INTO users_user (username, primary_group_id)
       SELECT 'operator' || i, (SELECT id FROM auth_group WHERE name = 'Operator') FROM generate_series(1, 3) i
       ON CONFLICT (username) DO NOTHING`,
    );
    await c.query(`INSERT INTO ffsecurity_cameragroup (name) VALUES ('Entrances'), ('Parking') ON CONFLICT DO NOTHING`);
    await c.query(
      `INSERT INTO ffsecurity_camera (name, url, group_id)
       SELECT 'camera-' || i, 'rtsp://10.0.0.' || i || '/stream',
              (SELECT min(id) FROM ffsecurity_cameragroup) + (i % 2)
       FROM generate_series(1, $1::int) i`,
      [counts.cameras],
    );
    await c.query(
      `INSERT INTO ffsecurity_watchlist (name, comment, threshold)
       SELECT 'watch list ' || i, 'dev site watch list', 0.7 FROM generate_series(1, $1::int) i`,
      [counts.watchLists],
    );
  });
}
