/**
 * A staged PostgreSQL restore rebuilt from the agent's restore journal (an agent killed during the switch)
 * rolls back from whatever point the switch reached, judged from which databases exist on the real server:
 * never begun, the live database renamed aside only, both renames done. pgbouncer's database is resumed
 * (the switch may have been killed between KILL and RESUME); the restored database is dropped; the
 * previous one is live again.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PgDatabaseServer } from '../../agent/adapters/postgres/postgres-server.js';
import { recoverStagedPostgres, stagedNames } from '../../agent/domain/drivers/postgres/staged.js';
import type { AppCommands, PoolerConsole, SqlLoader } from '../../agent/domain/drivers/postgres/ports.js';
import { silentLogger } from '../../shared/logger.js';
import { PG_HOST, PG_PORT, PG_SUPERUSER } from '../harness/postgres.js';

const server = new PgDatabaseServer({ host: PG_HOST, port: PG_PORT, user: PG_SUPERUSER });
const created: string[] = [];

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_SUPERUSER, database: 'postgres' });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A database holding one row saying what it is. */
async function database(name: string, what: string): Promise<void> {
  created.push(name);
  await admin(`CREATE DATABASE "${name}"`);
  const c = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_SUPERUSER, database: name });
  await c.connect();
  try {
    await c.query(`CREATE TABLE what (v text); INSERT INTO what VALUES ('${what}')`);
  } finally {
    await c.end();
  }
}

async function whatIs(name: string): Promise<string | undefined> {
  if (!(await server.databaseExists(name))) return undefined;
  const c = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_SUPERUSER, database: name });
  await c.connect();
  try {
    return (await c.query<{ v: string }>('SELECT v FROM what')).rows[0]?.v;
  } finally {
    await c.end();
  }
}

/** pgbouncer's console as far as the switch uses it: KILL pauses the database, RESUME ends that. */
function fakePooler(paused: boolean): PoolerConsole & { paused: boolean } {
  const p = {
    paused,
    address: 'pgbouncer:6432',
    pause: async () => void (p.paused = true),
    kill: async () => void (p.paused = true),
    resume: async () => {
      const was = p.paused;
      p.paused = false;
      return was ? ('resumed' as const) : ('not-paused' as const);
    },
    check: async () => ({ paused: p.paused }),
  };
  return p;
}

afterAll(async () => {
  for (const name of created) {
    for (const n of [name, ...Object.values(stagedNames(name, 'job-r'))]) await admin(`DROP DATABASE IF EXISTS "${n}" WITH (FORCE)`);
  }
});

describe('a staged PostgreSQL restore recovered from the journal', () => {
  for (const cut of ['never', 'aside', 'both'] as const) {
    it(`rolls back a switch interrupted ${cut === 'never' ? 'before it renamed anything' : cut === 'aside' ? 'after renaming the live database aside' : 'after both renames'}`, async () => {
      const live = `ffk_rec_${cut}_${Date.now().toString(36)}`;
      const names = stagedNames(live, 'job-r');
      await database(live, 'previous');
      await database(names.staging, 'restored');
      created.push(names.staging);
      if (cut !== 'never') await server.renameDatabase(live, names.aside);
      if (cut === 'both') await server.renameDatabase(names.staging, live);
      const pooler = fakePooler(true); // the switch killed pgbouncer's connections and was killed before RESUME
      const staged = recoverStagedPostgres(
        { server, pooler, loader: {} as SqlLoader, app: {} as AppCommands },
        { ref: 'postgres:main', database: live, owner: PG_SUPERUSER, poolerDatabase: live, progressIntervalMs: 1000 },
        'job-r',
        { database: live, ...names },
      );
      const report = await staged.rollBack({ jobId: 'job-r', logger: silentLogger() });
      const found = report.steps[0];
      expect(found?.step).toBe('find what the interrupted switch changed');
      expect(found?.detail).toBe(cut === 'never' ? 'nothing renamed' : cut === 'aside' ? `'${live}' renamed aside only` : 'both renames done');
      expect(await whatIs(live)).toBe('previous');
      expect(await server.databaseExists(names.staging)).toBe(false);
      expect(await server.databaseExists(names.aside)).toBe(false);
      expect(pooler.paused).toBe(false);
      expect(report.steps.at(-2)?.detail).toBe('pgbouncer: resumed');
    });
  }

  it('refuses to guess when the live, staging and aside databases all exist', async () => {
    const live = `ffk_rec_all_${Date.now().toString(36)}`;
    const names = stagedNames(live, 'job-r');
    await database(live, 'previous');
    await database(names.staging, 'restored');
    await database(names.aside, 'older');
    const staged = recoverStagedPostgres(
      { server, pooler: fakePooler(false), loader: {} as SqlLoader, app: {} as AppCommands },
      { ref: 'postgres:main', database: live, owner: PG_SUPERUSER, poolerDatabase: live, progressIntervalMs: 1000 },
      'job-r',
      { database: live, ...names },
    );
    await expect(staged.rollBack({ jobId: 'job-r', logger: silentLogger() })).rejects.toThrow('all exist, so which one was live is unclear; check by hand');
    expect(await whatIs(live)).toBe('previous');
  });
});
