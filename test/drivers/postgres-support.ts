/**
 * Support for the PostgreSQL driver's integration tests: a small FindFace-like site made of real parts —
 * a scratch database on the machine's PostgreSQL with its own owner role, a pgbouncer run as a
 * "unit" by a `systemctl` shim (so the restore can really stop and start it), a `findface-security`
 * unit flag and command shim, failure injection per unit and verb — plus table checksums, writers
 * through pgbouncer and a temp restic repository. Everything is removed by `dispose()`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { postgresComponentSchema } from '../../shared/config/agent.js';
import { silentLogger } from '../../shared/logger.js';
import { freePort, isListening } from '../../shared/net.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { createPostgresDriver, type PostgresComponentConfig } from '../../agent/adapters/postgres/factory.js';
import type { PostgresDriver } from '../../agent/domain/drivers/postgres/driver.js';
import { createScratchDatabase, PG_HOST, PG_PORT, PG_SUPERUSER, type ScratchDatabase } from '../harness/postgres.js';

export const REPO_PASSWORD = 'pg-driver-test-password';

/** Per-table row count and md5 of the ordered rows. */
export type TableSums = Record<string, { rows: number; md5: string }>;

const SYSTEMCTL_SHIM = `#!/bin/bash
# systemctl shim of the PostgreSQL driver tests: units pgbouncer (a real daemon) and findface-security (a flag).
set -u
STATE=__STATE__
verb=$1; shift
[ "\${1:-}" = "--quiet" ] && shift
unit=\${1%.service}
echo "$verb $unit" >> "$STATE/systemctl.log"
if [ -e "$STATE/fail-$verb-$unit" ]; then echo "Job for $unit.service failed because the control process exited with error code (injected)" >&2; exit 1; fi
pidfile="$STATE/pgbouncer/pgbouncer.pid"
alive() { [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }
listening() { (exec 3<>/dev/tcp/127.0.0.1/__PORT__) 2>/dev/null; }
case "$unit:$verb" in
  pgbouncer:start)
    alive && exit 0
    runuser -u postgres -- /usr/sbin/pgbouncer -d -q "$STATE/pgbouncer/pgbouncer.ini" || exit 1
    for i in $(seq 200); do alive && listening && exit 0; sleep 0.05; done; echo "pgbouncer did not start" >&2; exit 1;;
  pgbouncer:stop)
    alive || exit 0
    pid=$(cat "$pidfile"); kill -TERM "$pid"
    for i in $(seq 200); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.05; done; kill -KILL "$pid"; exit 0;;
  pgbouncer:is-active) alive && listening;;
  findface-security:start) touch "$STATE/app.active";;
  findface-security:stop) rm -f "$STATE/app.active";;
  findface-security:is-active) [ -e "$STATE/app.active" ];;
  *) echo "Unit $unit.service not found." >&2; exit 5;;
esac
`;

const APP_SHIM = `#!/bin/bash
# findface-security shim: records the management commands it is asked to run.
STATE=__STATE__
echo "$1" >> "$STATE/app-commands.log"
if [ -e "$STATE/fail-app-$1" ]; then echo "findface-security $1: injected failure" >&2; exit 1; fi
case "$1" in migrate|create_groups|create_default_user) exit 0;; *) echo "unknown command $1" >&2; exit 2;; esac
`;

function postgresIds(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres']).toString().trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres']).toString().trim()),
  };
}

/** Admin work on the maintenance database. */
export async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<T>> {
  const c = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_SUPERUSER, database: 'postgres' });
  await c.connect();
  try {
    return await c.query<T>(sql, params);
  } finally {
    await c.end();
  }
}

/** Per-table row counts and content md5 of every table in `public`, optionally inside an imported snapshot. */
export async function tableSums(connectionString: string, snapshotName?: string): Promise<TableSums> {
  const c = new pg.Client({ connectionString });
  await c.connect();
  try {
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    if (snapshotName) await c.query(`SET TRANSACTION SNAPSHOT '${snapshotName}'`);
    const tables = await c.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
    const out: TableSums = {};
    for (const { t } of tables.rows) {
      const q = `SELECT count(*)::int AS n, coalesce(md5(string_agg(x::text, E'\\n' ORDER BY x::text)), '') AS h FROM public.${c.escapeIdentifier(t)} x`;
      const r = (await c.query<{ n: number; h: string }>(q)).rows[0];
      out[t] = { rows: r?.n ?? -1, md5: r?.h ?? '' };
    }
    await c.query('COMMIT');
    return out;
  } finally {
    await c.end();
  }
}

/** A test site: database, owner role, pgbouncer unit, app unit, shims. */
export class PgTestSite {
  readonly dir: string;
  readonly binDir: string;
  readonly stateDir: string;
  readonly owner: string;
  readonly config: PostgresComponentConfig;
  private constructor(
    readonly db: ScratchDatabase,
    readonly pgbouncerPort: number,
    dir: string,
    owner: string,
  ) {
    this.dir = dir;
    this.binDir = path.join(dir, 'bin');
    this.stateDir = path.join(dir, 'state');
    this.owner = owner;
    this.config = postgresComponentSchema.parse({
      kind: 'postgres',
      name: 'ffsecurity',
      database: db.name,
      host: PG_HOST,
      port: PG_PORT,
      user: PG_SUPERUSER,
      owner,
      pgbouncer: { host: '127.0.0.1', port: pgbouncerPort, adminUser: 'postgres' },
    });
  }

  /** Creates everything and starts pgbouncer and the app unit. */
  static async start(): Promise<PgTestSite> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-pgdrv-'));
    const owner = `ffk_owner_${randomBytes(4).toString('hex')}`;
    const db = await createScratchDatabase('ffk_pgdrv');
    const site = new PgTestSite(db, await freePort(), dir, owner);
    try {
      await adminQuery(`CREATE ROLE ${owner} LOGIN`);
      site.writeFiles();
      site.systemctl('start', 'pgbouncer');
      site.systemctl('start', 'findface-security');
    } catch (err) {
      await site.dispose();
      throw err;
    }
    return site;
  }

  private writeFiles(): void {
    const bouncerDir = path.join(this.stateDir, 'pgbouncer');
    mkdirSync(bouncerDir, { recursive: true });
    mkdirSync(this.binDir, { recursive: true });
    for (const d of [this.dir, this.stateDir]) chmodSync(d, 0o755); // pgbouncer runs as `postgres`
    const ini = [
      '[databases]',
      `${this.db.name} = host=${PG_HOST} port=${PG_PORT} dbname=${this.db.name}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${this.pgbouncerPort}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(bouncerDir, 'userlist.txt')}`,
      'admin_users = postgres',
      'pool_mode = transaction',
      'max_client_conn = 200',
      'default_pool_size = 20',
      `logfile = ${path.join(bouncerDir, 'pgbouncer.log')}`,
      `pidfile = ${path.join(bouncerDir, 'pgbouncer.pid')}`,
      '',
    ].join('\n');
    writeFileSync(path.join(bouncerDir, 'pgbouncer.ini'), ini);
    writeFileSync(path.join(bouncerDir, 'userlist.txt'), `"postgres" ""\n"${this.owner}" ""\n`);
    const { uid, gid } = postgresIds();
    for (const f of ['', 'pgbouncer.ini', 'userlist.txt']) chownSync(path.join(bouncerDir, f), uid, gid);
    const fill = (s: string): string => s.replaceAll('__STATE__', this.stateDir).replaceAll('__PORT__', String(this.pgbouncerPort));
    writeFileSync(path.join(this.binDir, 'systemctl'), fill(SYSTEMCTL_SHIM));
    writeFileSync(path.join(this.binDir, 'findface-security'), fill(APP_SHIM));
    chmodSync(path.join(this.binDir, 'systemctl'), 0o755);
    chmodSync(path.join(this.binDir, 'findface-security'), 0o755);
  }

  /** Runs the shim directly (test set-up and clean-up). */
  systemctl(verb: 'start' | 'stop', unit: string): void {
    try {
      execFileSync(path.join(this.binDir, 'systemctl'), [verb, unit], { stdio: 'pipe' });
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
      throw new Error(`systemctl shim ${verb} ${unit} failed: ${stderr}`, { cause: err });
    }
  }

  /** The driver for this site, with the shims first on PATH. */
  driver(options: { pauseTimeoutMs?: number; restoreVerify?: 'open' | 'full' } = {}): PostgresDriver {
    return createPostgresDriver(this.config, { logger: silentLogger(), pathPrepend: [this.binDir], ...options });
  }

  /** Makes `systemctl <verb> <unit>` exit 1 (until `heal`). */
  inject(verb: 'start' | 'stop', unit: string): void {
    writeFileSync(path.join(this.stateDir, `fail-${verb}-${unit}`), '');
  }

  heal(verb: 'start' | 'stop', unit: string): void {
    rmSync(path.join(this.stateDir, `fail-${verb}-${unit}`), { force: true });
  }

  appActive(): boolean {
    return existsSync(path.join(this.stateDir, 'app.active'));
  }

  pgbouncerListening(): Promise<boolean> {
    return isListening(this.pgbouncerPort);
  }

  /** Lines the shims logged: `systemctl` verbs and units, app commands. */
  log(which: 'systemctl' | 'app-commands'): string[] {
    const file = path.join(this.stateDir, `${which}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];
  }

  clearLogs(): void {
    for (const f of ['systemctl.log', 'app-commands.log']) rmSync(path.join(this.stateDir, f), { force: true });
  }

  /** A client of the database through pgbouncer (what the app uses). */
  /** Rows in a table of the site's database, read from PostgreSQL itself (not through pgbouncer). */
  async rowCount(table: string): Promise<number> {
    const c = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_SUPERUSER, database: this.db.name });
    await c.connect();
    try {
      return Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n ?? 0);
    } finally {
      await c.end();
    }
  }

  async appClient(): Promise<pg.Client> {
    const c = new pg.Client({ host: '127.0.0.1', port: this.pgbouncerPort, user: PG_SUPERUSER, database: this.db.name });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  }

  /** Stops pgbouncer, drops the database and the role, removes the directory. */
  async dispose(): Promise<void> {
    try {
      execFileSync(path.join(this.binDir, 'systemctl'), ['stop', 'pgbouncer'], { stdio: 'pipe' });
    } catch {
      // shim missing (start failed early) or pgbouncer never started
    }
    await this.db.drop().catch(() => undefined);
    await adminQuery(`DROP ROLE IF EXISTS ${this.owner}`).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A FindFace-flavoured schema owned by the site's owner, with `rows` dossiers and some events. */
export async function seedSchema(site: PgTestSite, rows: number): Promise<void> {
  const c = new pg.Client({ connectionString: site.db.connectionString });
  await c.connect();
  try {
    await c.query(`
      CREATE TABLE ffsecurity_watchlist (id serial PRIMARY KEY, name text NOT NULL);
      CREATE TABLE ffsecurity_dossier (id bigserial PRIMARY KEY, name text NOT NULL, watchlist_id int REFERENCES ffsecurity_watchlist(id),
        comment text NOT NULL DEFAULT '', modified timestamptz NOT NULL DEFAULT now());
      CREATE TABLE ffsecurity_event (id bigserial PRIMARY KEY, dossier_id bigint REFERENCES ffsecurity_dossier(id) ON DELETE SET NULL,
        confidence real, payload jsonb);
      INSERT INTO ffsecurity_watchlist (name) SELECT 'list ' || g FROM generate_series(1, 5) g;
      INSERT INTO ffsecurity_dossier (name, watchlist_id, comment) SELECT 'person ' || g, 1 + g % 5, repeat('x', g % 50) FROM generate_series(1, ${rows}) g;
      INSERT INTO ffsecurity_event (dossier_id, confidence, payload)
        SELECT 1 + g % ${rows}, (g % 100) / 100.0, jsonb_build_object('n', g, 'quote', E'it''s \\\\ "tricky"\\n')
        FROM generate_series(1, ${rows * 2}) g;
      ALTER TABLE ffsecurity_watchlist OWNER TO ${site.owner};
      ALTER TABLE ffsecurity_dossier OWNER TO ${site.owner};
      ALTER TABLE ffsecurity_event OWNER TO ${site.owner};
    `);
  } finally {
    await c.end();
  }
}

/** Inserts, updates and deletes rows (what happens on a site after a backup). */
export async function changeRows(connectionString: string): Promise<void> {
  const c = new pg.Client({ connectionString });
  await c.connect();
  try {
    await c.query(`
      INSERT INTO ffsecurity_dossier (name, watchlist_id) SELECT 'late ' || g, 2 FROM generate_series(1, 25) g;
      UPDATE ffsecurity_dossier SET comment = 'changed after the backup' WHERE id % 7 = 0;
      DELETE FROM ffsecurity_event WHERE id % 5 = 0;
      DELETE FROM ffsecurity_watchlist WHERE id = 5 AND NOT EXISTS (SELECT 1 FROM ffsecurity_dossier WHERE watchlist_id = 5);
      CREATE TABLE added_after_backup (id int);
    `);
  } finally {
    await c.end();
  }
}

/** A fresh local restic repository (initialised) in its own temp dir; `remove()` deletes it. */
export async function tempRepository(password = REPO_PASSWORD): Promise<{ repo: ResticRepository; url: string; remove(): void }> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ffk-pgdrv-repo-'));
  const url = path.join(root, 'repo');
  const repo = new ResticRepository({ url, password });
  await repo.init();
  return { repo, url, remove: () => rmSync(root, { recursive: true, force: true }) };
}

/** Writers through pgbouncer: each commits small transactions in a loop until stopped. */
export function startWriters(site: PgTestSite, count: number): { commits(): number; errors(): unknown[]; stop(): Promise<void> } {
  let running = true;
  let commits = 0;
  const errors: unknown[] = [];
  const loops = Array.from({ length: count }, async (_, i) => {
    const c = await site.appClient();
    try {
      while (running) {
        await c.query('INSERT INTO ffsecurity_event (dossier_id, confidence, payload) VALUES ($1, $2, $3)', [1, i / 10, JSON.stringify({ writer: i })]);
        commits += 1;
      }
    } catch (err) {
      errors.push(err); // e.g. pgbouncer's query_wait_timeout on a PAUSE held too long: the test decides
    } finally {
      await c.end().catch(() => undefined);
    }
  });
  return {
    commits: () => commits,
    errors: () => errors,
    async stop() {
      running = false;
      await Promise.allSettled(loops);
    },
  };
}
