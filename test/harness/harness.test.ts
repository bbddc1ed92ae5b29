/** The harness itself: each real server starts on a free port, answers, and is gone after stop(). */
import { existsSync } from 'node:fs';
import pg from 'pg';
import { connectNats } from '../../shared/transport/nats.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { isListening } from '../../shared/net.js';
import { TarantoolClient } from '../../shared/tarantool/iproto.js';
import { startNats } from './nats.js';
import { createScratchDatabase, PG_HOST, PG_PORT } from './postgres.js';
import { startTarantool } from './tarantool.js';
import { startPgbouncer } from './pgbouncer.js';

describe('test harness', () => {
  it('starts a nats-server with JetStream on a free port and removes it', async () => {
    const nats = await startNats();
    const nc = await connectNats({ config: nats.controller(), name: 'harness' });
    const info = await (await jetstreamManager(nc)).getAccountInfo();
    expect(info.limits).toBeDefined();
    await nc.close();
    await nats.stop();
    expect(await isListening(nats.port)).toBe(false);
  });

  it('creates and drops a scratch PostgreSQL database', async () => {
    const db = await createScratchDatabase();
    const c = new pg.Client({ connectionString: db.connectionString });
    await c.connect();
    expect((await c.query('select current_database() as d')).rows[0]).toEqual({ d: db.name });
    await c.end();
    await db.drop();
    const admin = new pg.Client({ host: PG_HOST, port: PG_PORT, user: 'postgres', database: 'postgres' });
    await admin.connect();
    const left = await admin.query('select 1 from pg_database where datname = $1', [db.name]);
    await admin.end();
    expect(left.rowCount).toBe(0);
  });

  it('starts a Tarantool instance that answers iproto and removes its files', async () => {
    const tnt = await startTarantool({ extraLua: "box.schema.space.create('t', { if_not_exists = true }):create_index('pk', { if_not_exists = true })" });
    const client = await TarantoolClient.connect({ host: tnt.host, port: tnt.port });
    await client.eval("box.space.t:replace({1, 'x'})");
    expect(await client.eval('return box.space.t:count()')).toEqual([1]);
    client.close();
    await tnt.stop();
    expect(existsSync(tnt.dir)).toBe(false);
    expect(await isListening(tnt.port)).toBe(false);
  });

  it('starts pgbouncer in front of a scratch database with a usable admin console', async () => {
    const db = await createScratchDatabase();
    const bouncer = await startPgbouncer({ database: db.name });
    try {
      const app = new pg.Client({ host: bouncer.host, port: bouncer.port, user: 'postgres', database: db.name });
      await app.connect();
      expect((await app.query('select 1 as one')).rows[0]).toEqual({ one: 1 });
      const admin = new pg.Client({ host: bouncer.host, port: bouncer.port, user: 'postgres', database: 'pgbouncer' });
      await admin.connect();
      await admin.query(`PAUSE ${db.name}`);
      await admin.query(`RESUME ${db.name}`);
      await admin.end();
      expect((await app.query('select 2 as two')).rows[0]).toEqual({ two: 2 });
      await app.end();
    } finally {
      await bouncer.stop();
      await db.drop();
    }
    expect(await isListening(bouncer.port)).toBe(false);
  });
});
