/**
 * PostgreSQL driver, freeze/cut/thaw on real servers: PAUSE really blocks writes through pgbouncer and
 * RESUME lets them go; the PAUSE → pg_export_snapshot() → RESUME window measured under write load; a
 * PAUSE that cannot complete is cancelled by RESUME and reported as a TimeoutError; thaw is idempotent
 * and safe after a failed freeze; the cut's transaction is held until release; prepare names what is wrong.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IllegalStateError, NotFoundError, TimeoutError, UnavailableError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import { freePort } from '../../shared/net.js';
import { createPostgresDriver } from '../../agent/adapters/postgres/factory.js';
import { PgbouncerConsole } from '../../agent/adapters/postgres/pgbouncer-console.js';
import { withTimeout } from '../../shared/timeout.js';
import { waitFor } from '../harness/processes.js';
import { adminQuery, PgTestSite, seedSchema, startWriters } from './postgres-support.js';

async function consolePaused(site: PgTestSite): Promise<number> {
  const c = new pg.Client({ host: '127.0.0.1', port: site.pgbouncerPort, user: 'postgres', database: 'pgbouncer' });
  await c.connect();
  try {
    const rows = (await c.query<{ name: string; paused: number }>('SHOW DATABASES')).rows;
    return Number(rows.find((r) => r.name === site.db.name)?.paused ?? -1);
  } finally {
    await c.end();
  }
}

/** Console connections of this test's own (application name `ffkeeper-agent`) besides the one asking. */
async function consolePools(site: PgTestSite): Promise<number> {
  const c = new pg.Client({ host: '127.0.0.1', port: site.pgbouncerPort, user: 'postgres', database: 'pgbouncer' });
  await c.connect();
  try {
    const rows = (await c.query<{ database: string; application_name?: string }>('SHOW CLIENTS')).rows;
    return rows.filter((r) => r.database === 'pgbouncer' && r.application_name === 'ffkeeper-agent').length;
  } finally {
    await c.end();
  }
}

async function cutBackends(database: string): Promise<string[]> {
  const r = await adminQuery<{ state: string }>("SELECT state FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ffkeeper-cut'", [database]);
  return r.rows.map((row) => row.state);
}

const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('PostgreSQL driver: freeze, cut, thaw', () => {
  let site: PgTestSite;

  beforeAll(async () => {
    site = await PgTestSite.start();
    await seedSchema(site, 200);
  });

  afterAll(async () => {
    await site?.dispose();
  });

  it('blocks writes through pgbouncer while frozen and lets them go on thaw', async () => {
    const driver = site.driver();
    const writers = startWriters(site, 4);
    const probe = await site.appClient();
    try {
      await waitFor(async () => writers.commits() > 0, 30_000);
      await driver.freeze();
      // Counted in PostgreSQL itself: a commit acknowledged before the PAUSE may reach this process's
      // event loop only after freeze() returned, so the writers' own count can still move.
      const frozenRows = await site.rowCount('ffsecurity_event');
      const frozenAt = writers.commits();
      let probeDone = false;
      const started = Date.now();
      const write = probe.query("INSERT INTO ffsecurity_watchlist (name) VALUES ('written while frozen')").then(() => (probeDone = true));
      await settle(400);
      expect(await site.rowCount('ffsecurity_event')).toBe(frozenRows); // nothing committed through pgbouncer while paused
      expect(probeDone).toBe(false);
      expect(await consolePaused(site)).toBe(1);
      await driver.thaw();
      await write;
      console.log(`write issued while frozen completed ${Date.now() - started} ms after it was issued (400 ms frozen)`);
      await waitFor(async () => writers.commits() > frozenAt, 30_000);
      expect(await consolePaused(site)).toBe(0);
      expect(writers.errors()).toEqual([]);
    } finally {
      await driver.thaw(); // a failed assertion above must not leave the writers paused until pgbouncer gives up on them
      await writers.stop();
      await probe.end();
    }
  });

  // The window's length is the machine's: printed here, measured against a peer in bench/freeze-window.
  it('measures PAUSE → export → RESUME under write load, leaves no cut transaction, and writes flow again after each thaw', async () => {
    const driver = site.driver();
    const writers = startWriters(site, 8);
    const windows: number[] = [];
    const resumedWithin: number[] = [];
    try {
      await settle(200);
      for (let i = 0; i < 8; i += 1) {
        const t0 = performance.now();
        await driver.freeze();
        await driver.cut();
        await driver.thaw();
        windows.push(performance.now() - t0);
        const before = writers.commits();
        await driver.release();
        const { elapsedMs } = await waitFor(async () => writers.commits() > before, 30_000, 2);
        resumedWithin.push(elapsedMs);
        await settle(550); // cuts are minutes apart in practice; back-to-back ones wait out a cool-down

      }
    } finally {
      await writers.stop();
    }
    console.log(`first commit after each thaw within: max ${Math.max(...resumedWithin)} ms`);
    const sorted = [...windows].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    const max = sorted[sorted.length - 1] ?? NaN;
    console.log(`PAUSE→export→RESUME over ${windows.length} rounds with 8 writers (${writers.commits()} commits): median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms`);
    expect(windows).toHaveLength(8);
    expect(await cutBackends(site.db.name)).toEqual([]);
  });

  it('a login watcher started ahead of the PAUSE stands for its first look: the PAUSE takes one look itself, two without it', async () => {
    // The watcher's look counts however old it is here: the test is about which looks count, not about this machine's pace.
    const console_ = new PgbouncerConsole({ host: '127.0.0.1', port: site.pgbouncerPort, user: 'postgres' }, { priorLookMaxAgeMs: 60_000 });
    const pause = async (): Promise<void> => {
      await console_.pause(site.db.name, { signal: new AbortController().signal, onSent: () => undefined });
      await console_.resume(site.db.name);
    };
    try {
      await pause(); // no watcher: both quiet looks inside the window (the pool is idle: no writers here)
      expect(console_.lastPauseSamples).toBe(2);
      await settle(600); // pgbouncer's cool-down after our RESUME
      console_.watchLogins(site.db.name);
      await waitFor(async () => console_.loginWatchLooks >= 1, 30_000);
      await settle(5); // its first look is now 2 ms or more before the PAUSE's own
      await pause();
      expect(console_.lastPauseSamples).toBe(1);
      expect(console_.loginWatchLooks).toBe(0); // the PAUSE ended the watcher
      await waitFor(async () => (await consolePools(site)) === 0, 30_000); // and its connection
    } finally {
      await console_.cool();
    }
  });

  it('cancels a PAUSE that does not return in time with RESUME and reports a TimeoutError', async () => {
    const driver = site.driver({ pauseTimeoutMs: 500 });
    const open = await site.appClient();
    const other = await site.appClient();
    try {
      await open.query('BEGIN');
      await open.query('SELECT 1'); // holds a server connection: PAUSE waits for this transaction
      const started = Date.now();
      const err = await driver.freeze().catch((e: unknown) => e);
      const took = Date.now() - started;
      expect(err).toBeInstanceOf(TimeoutError);
      expect((err as Error).message).toBe(
        `PAUSE ${site.db.name} on pgbouncer 127.0.0.1:${site.pgbouncerPort} did not return within 500 ms; cancelled with RESUME`,
      );
      // The PAUSE waited its timeout and was then given up, not left hanging (the upper bound is slack for a
      // loaded machine, not a speed: without the cancel it would wait for the open transaction forever).
      expect(took).toBeGreaterThanOrEqual(500);
      expect(took).toBeLessThan(500 + 10_000);
      expect(await consolePaused(site)).toBe(0);
      // Not left frozen: a paused pgbouncer would hold this query until a RESUME that nobody sends.
      await withTimeout(other.query('SELECT 1'), 10_000, 'a query through pgbouncer after the cancelled PAUSE did not return: the site was left frozen');
      await driver.thaw(); // idempotent after a failed freeze
    } finally {
      await open.query('COMMIT').catch(() => undefined);
      await open.end();
      await other.end();
    }
  });

  it('thaws without complaint when freeze never reached pgbouncer, was never called, or already thawed', async () => {
    const closed = await freePort();
    const unreachable = createPostgresDriver(
      { ...site.config, pgbouncer: { ...site.config.pgbouncer, port: closed } },
      { logger: silentLogger(), pathPrepend: [site.binDir] },
    );
    const err = await unreachable.freeze().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(new RegExp(`^PAUSE ${site.db.name} on pgbouncer 127\\.0\\.0\\.1:${closed} failed: pgbouncer console postgres@127\\.0\\.0\\.1:${closed}/pgbouncer is unreachable: .*ECONNREFUSED.*; nothing was paused$`));
    await expect(unreachable.thaw()).resolves.toBeUndefined();
    const driver = site.driver();
    await expect(driver.thaw()).resolves.toBeUndefined();
    await driver.freeze();
    await driver.thaw();
    await driver.thaw();
    expect(await consolePaused(site)).toBe(0);
  });

  it('holds the cut transaction open until release, which is idempotent', async () => {
    const driver = site.driver();
    const cut = await driver.cut();
    expect(await cutBackends(site.db.name)).toEqual(['idle in transaction']);
    await expect(driver.cut()).rejects.toThrow(IllegalStateError);
    const reader = new pg.Client({ connectionString: site.db.connectionString });
    await reader.connect();
    try {
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      if (cut.kind !== 'postgres') throw new Error('unreachable');
      await reader.query(`SET TRANSACTION SNAPSHOT '${cut.snapshotName}'`); // importable while held
      await reader.query('COMMIT');
    } finally {
      await reader.end();
    }
    await driver.release();
    await driver.release();
    expect(await cutBackends(site.db.name)).toEqual([]);
    const err = await driver.upload({ jobId: 'j', tags: { site: 's', cutId: 'c', component: driver.ref }, repository: undefined as never, logger: silentLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IllegalStateError);
    expect((err as Error).message).toBe('postgres:ffsecurity: upload without a cut (call cut() first)');
  });

  it('prepare names an unreachable server and a database pgbouncer does not serve', async () => {
    await expect(site.driver().prepare()).resolves.toBeUndefined();
    const closed = await freePort();
    const noServer = createPostgresDriver({ ...site.config, port: closed }, { logger: silentLogger() });
    const e1 = await noServer.prepare().catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(UnavailableError);
    expect((e1 as Error).message).toMatch(new RegExp(`^PostgreSQL postgres@127\\.0\\.0\\.1:${closed}/${site.db.name} is unreachable: .*ECONNREFUSED`));
    const wrongDb = createPostgresDriver({ ...site.config, pgbouncer: { ...site.config.pgbouncer, database: 'not_served' } }, { logger: silentLogger() });
    const e2 = await wrongDb.prepare().catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(NotFoundError);
    expect((e2 as Error).message).toMatch(new RegExp(`^pgbouncer 127\\.0\\.0\\.1:${site.pgbouncerPort} does not serve database 'not_served' \\(it serves: .*${site.db.name}`));
  });
});
