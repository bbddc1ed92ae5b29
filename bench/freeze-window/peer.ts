/**
 * The freeze window's peer: a bare PAUSE-based cut as a script would take it on the same site under the
 * same writer — `PAUSE <db>` on pgbouncer's console, `pg_export_snapshot()` in a REPEATABLE READ
 * transaction on a direct connection, `RESUME <db>` — with both connections opened beforehand, as the
 * agent opens them at prepare. PAUSE returns only once the writer's transactions in flight have finished,
 * so this is the floor of any cut that stops writes with PAUSE on this machine, under this load.
 */
import pg from 'pg';
import type { SiteState } from '../../deploy/dev-site/index.js';

export interface PeerWindow {
  /** PAUSE sent → RESUME answered, ms. */
  windowMs: number;
  /** PAUSE sent → PAUSE answered: the wait for the transactions in flight, ms. */
  pauseMs: number;
}

/** Takes one bare cut of the site's database; always resumes and closes what it opened. */
export async function barePauseCut(state: SiteState): Promise<PeerWindow> {
  const { pgbouncer: b, postgres: p } = state;
  const console_ = new pg.Client({ host: b.host, port: b.port, user: b.adminUser, database: 'pgbouncer', application_name: 'ffkeeper-bench-peer' });
  const direct = new pg.Client({ host: p.host, port: p.port, user: p.superuser, database: p.database, application_name: 'ffkeeper-bench-peer' });
  try {
    await Promise.all([console_.connect(), direct.connect()]);
    let resumed = false;
    const t0 = performance.now();
    try {
      await console_.query(`PAUSE ${p.database}`);
      const t1 = performance.now();
      await direct.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await direct.query('SELECT pg_export_snapshot()');
      await console_.query(`RESUME ${p.database}`);
      resumed = true;
      return { windowMs: performance.now() - t0, pauseMs: t1 - t0 };
    } finally {
      // Whatever failed, the site must not stay paused (RESUME of a database not paused only errs).
      if (!resumed) await console_.query(`RESUME ${p.database}`).catch(() => undefined);
      await direct.query('ROLLBACK').catch(() => undefined);
    }
  } finally {
    await Promise.allSettled([console_.end(), direct.end()]);
  }
}
