/**
 * A staged PostgreSQL restore rebuilt from the agent's restore journal (an agent killed during the switch)
 * rolls back from whatever point the switch reached, judged from which databases exist on the real server:
 * never begun, the live database renamed aside only, both renames done. pgbouncer is started again when the
 * journal says it ran; the restored database is dropped; the previous one is live again.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PgDatabaseServer } from '../../agent/adapters/postgres/postgres-server.js';
import { recoverStagedPostgres, stagedNames } from '../../agent/domain/drivers/postgres/staged.js';
import type { AppCommands, SqlLoader } from '../../agent/domain/drivers/postgres/ports.js';
import type { ServiceManager } from '../../agent/domain/ports.js';
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
      const units = new Map([['pgbouncer', false]]); // the switch stopped it; the journal says it ran before
      const services: ServiceManager = {
        start: async (u) => void units.set(u, true),
        stop: async (u) => void units.set(u, false),
        isActive: async (u) => units.get(u) ?? false,
      };
      const staged = recoverStagedPostgres(
        { server, services, loader: {} as SqlLoader, app: {} as AppCommands },
        { ref: 'postgres:main', database: live, owner: PG_SUPERUSER, units: { app: 'findface-security', pgbouncer: 'pgbouncer' }, progressIntervalMs: 1000 },
        'job-r',
        { database: live, ...names, wasActive: { pgbouncer: true } },
      );
      const report = await staged.rollBack({ jobId: 'job-r', logger: silentLogger() });
      const found = report.steps[0];
      expect(found?.step).toBe('find what the interrupted switch changed');
      expect(found?.detail).toBe(cut === 'never' ? 'nothing renamed' : cut === 'aside' ? `'${live}' renamed aside only` : 'both renames done');
      expect(await whatIs(live)).toBe('previous');
      expect(await server.databaseExists(names.staging)).toBe(false);
      expect(await server.databaseExists(names.aside)).toBe(false);
      expect(units.get('pgbouncer')).toBe(true);
    });
  }

  it('refuses to guess when the live, staging and aside databases all exist', async () => {
    const live = `ffk_rec_all_${Date.now().toString(36)}`;
    const names = stagedNames(live, 'job-r');
    await database(live, 'previous');
    await database(names.staging, 'restored');
    await database(names.aside, 'older');
    const services: ServiceManager = { start: async () => undefined, stop: async () => undefined, isActive: async () => true };
    const staged = recoverStagedPostgres(
      { server, services, loader: {} as SqlLoader, app: {} as AppCommands },
      { ref: 'postgres:main', database: live, owner: PG_SUPERUSER, units: { app: 'findface-security', pgbouncer: 'pgbouncer' }, progressIntervalMs: 1000 },
      'job-r',
      { database: live, ...names },
    );
    await expect(staged.rollBack({ jobId: 'job-r', logger: silentLogger() })).rejects.toThrow('all exist, so which one was live is unclear; check by hand');
    expect(await whatIs(live)).toBe('previous');
  });
});
