/**
 * A scratch database on the machine's PostgreSQL server (127.0.0.1:5432, superuser `postgres`), one per
 * test: created empty with a unique name, dropped (with its connections) by `drop()`.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_HOST = process.env.FFK_TEST_PGHOST ?? '127.0.0.1';
export const PG_PORT = Number(process.env.FFK_TEST_PGPORT ?? 5432);
export const PG_SUPERUSER = process.env.FFK_TEST_PGUSER ?? 'postgres';

export interface ScratchDatabase {
  name: string;
  host: string;
  port: number;
  user: string;
  connectionString: string;
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ host: PG_HOST, port: PG_PORT, user: PG_SUPERUSER, database: 'postgres' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createScratchDatabase(prefix = 'ffk_test'): Promise<ScratchDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE "${name}"`));
  return {
    name,
    host: PG_HOST,
    port: PG_PORT,
    user: PG_SUPERUSER,
    connectionString: `postgres://${PG_SUPERUSER}@${PG_HOST}:${PG_PORT}/${name}`,
    drop: () => admin((c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => undefined),
  };
}
