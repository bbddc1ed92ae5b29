/**
 * The dev site's findface-security: a paced load of writes through pgbouncer (events, dossier faces,
 * watch-list edits, dossier deletions) plus event retention, running until told to stop. It survives
 * its peers going away (a paused pgbouncer, a restarting shard): failed operations are counted and
 * retried as new ones. Progress is written to a stats file every second and on exit.
 */
import { renameSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import type { Logger } from '../../shared/logger.js';
import { servingShards } from './instances.js';
import { ShardSet } from './shards.js';
import type { SiteState } from './state.js';
import { ImageWriter } from './uploads.js';
import { createDossierFace, createEvent, deleteDossier, deleteOldestEvents, editWatchList, type OpContext } from './writer-ops.js';

export type WriteKind = 'event' | 'dossierFace' | 'watchListEdit' | 'dossierDelete';

/** Share of each kind among paced writes. */
const MIX: ReadonlyArray<[WriteKind, number]> = [
  ['event', 0.7],
  ['dossierFace', 0.2],
  ['watchListEdit', 0.05],
  ['dossierDelete', 0.05],
];
const OPS: Record<WriteKind, (ctx: OpContext) => Promise<void>> = {
  event: createEvent,
  dossierFace: createDossierFace,
  watchListEdit: editWatchList,
  dossierDelete: deleteDossier,
};

export interface WriterOptions {
  /** Paced writes per second; 0: none (the unit only serves its API, security-service.ts). */
  rate: number;
  /** Writes in flight at most (each holds one pgbouncer connection). */
  concurrency: number;
  /** Retention keeps at most this many events (default: max(10,000, 2 × events at start)). */
  eventCap?: number;
  statsFile: string;
  logger: Logger;
}

export interface WriterStats {
  site: string;
  pid: number;
  startedAt: string;
  updatedAt: string;
  /** Seconds since start. */
  elapsed: number;
  targetRate: number;
  /** Successful paced writes. */
  writes: number;
  /** writes / elapsed. */
  rate: number;
  byKind: Record<WriteKind, number>;
  retentionDeleted: number;
  errors: number;
  lastError?: string;
  running: boolean;
}

function pickKind(): WriteKind {
  let roll = Math.random();
  for (const [kind, share] of MIX) {
    roll -= share;
    if (roll < 0) return kind;
  }
  return 'event';
}

/** The writer's counters, written to the stats file; errors are counted and logged at most once a second. */
class StatsRecorder {
  readonly stats: WriterStats;
  private readonly start = Date.now();
  private lastLog = 0;

  constructor(
    site: string,
    private readonly options: WriterOptions,
  ) {
    this.stats = {
      site, pid: process.pid, startedAt: new Date(this.start).toISOString(), updatedAt: '', elapsed: 0, targetRate: options.rate,
      writes: 0, rate: 0, byKind: { event: 0, dossierFace: 0, watchListEdit: 0, dossierDelete: 0 }, retentionDeleted: 0, errors: 0, running: true,
    };
  }

  flush(): void {
    const s = this.stats;
    s.updatedAt = new Date().toISOString();
    s.elapsed = (Date.now() - this.start) / 1000;
    s.rate = s.elapsed > 0 ? Math.round((s.writes / s.elapsed) * 10) / 10 : 0;
    // Written aside and renamed, so a reader never sees a half-written file.
    writeFileSync(`${this.options.statsFile}.tmp`, `${JSON.stringify(s, null, 2)}\n`);
    renameSync(`${this.options.statsFile}.tmp`, this.options.statsFile);
  }

  error(what: string, err: unknown): void {
    this.stats.errors++;
    this.stats.lastError = `${what}: ${(err as Error).message}`;
    if (Date.now() - this.lastLog > 1000) {
      this.lastLog = Date.now();
      this.options.logger.warn({ err }, `${what} failed`);
    }
  }
}

/** The writer's connections: a pgbouncer pool and the shards, reconnected when a connection is lost. */
class Connections {
  readonly pool: pg.Pool;
  private shardSet: ShardSet | undefined;

  constructor(private readonly state: SiteState, concurrency: number) {
    const { pgbouncer, postgres } = state;
    this.pool = new pg.Pool({ host: pgbouncer.host, port: pgbouncer.port, user: postgres.owner, database: postgres.database, max: concurrency });
    this.pool.on('error', () => undefined); // an idle connection dropped by pgbouncer; the next checkout reconnects
  }

  readonly shards = async (): Promise<ShardSet> => {
    if (!this.shardSet?.healthy) {
      this.shardSet?.close();
      this.shardSet = await ShardSet.connect(servingShards(this.state), 5_000);
    }
    return this.shardSet;
  };

  async close(): Promise<void> {
    this.shardSet?.close();
    await this.pool.end().catch(() => undefined);
  }
}

/** Runs the writer until `signal` aborts; resolves with the final stats once in-flight writes are done. */
export async function runWriter(state: SiteState, options: WriterOptions, signal: AbortSignal): Promise<WriterStats> {
  const conns = new Connections(state, options.concurrency);
  const rec = new StatsRecorder(state.site, options);
  const onError = rec.error.bind(rec);
  rec.flush();
  const timer = setInterval(() => rec.flush(), 1000);
  try {
    const opened = await openContextRetrying(state, conns, signal, onError);
    if (opened === undefined) return rec.stats;
    const { ctx } = opened;
    let events = opened.events;
    const cap = options.eventCap ?? Math.max(10_000, 2 * events);
    const deleted = (n: number): void => {
      events -= n;
      rec.stats.retentionDeleted += n;
    };
    const retention = runRetention({ ctx, cap, signal, onError, count: () => events, deleted });
    await pace(options, signal, async () => {
      const kind = pickKind();
      try {
        await OPS[kind](ctx);
        rec.stats.writes++;
        rec.stats.byKind[kind]++;
        if (kind === 'event') events++;
      } catch (err) {
        onError(kind, err);
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    await retention;
  } finally {
    clearInterval(timer);
    rec.stats.running = false;
    rec.flush();
    await conns.close();
  }
  return rec.stats;
}

async function openContext(state: SiteState, conns: Connections): Promise<OpContext> {
  const { pool, shards } = conns;
  const ids = async (table: string): Promise<number[]> => (await pool.query<{ id: number }>(`SELECT id FROM ${table}`)).rows.map((r) => r.id);
  const range = (await pool.query<{ min: string | null; max: string | null }>('SELECT min(id), max(id) FROM ffsecurity_dossier')).rows[0];
  await shards();
  return {
    state, pool, shards, images: new ImageWriter(state.uploads),
    cameras: await ids('ffsecurity_camera'),
    watchLists: await ids('ffsecurity_watchlist'),
    dossierIds: { min: Number(range?.min ?? 1), max: Number(range?.max ?? 1) },
  };
}

/** Like findface-security waiting for its database and shards: retries every second until aborted. */
async function openContextRetrying(
  state: SiteState,
  conns: Connections,
  signal: AbortSignal,
  onError: (what: string, err: unknown) => void,
): Promise<{ ctx: OpContext; events: number } | undefined> {
  while (!signal.aborted) {
    try {
      return { ctx: await openContext(state, conns), events: await countEvents(conns.pool) };
    } catch (err) {
      onError('start', err);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  return undefined;
}

async function countEvents(pool: pg.Pool): Promise<number> {
  return Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM ffsecurity_event')).rows[0]?.n ?? 0);
}

/** Starts `op` every 1/rate seconds with at most `concurrency` in flight, until `signal` aborts; rate 0: none. */
async function pace(options: WriterOptions, signal: AbortSignal, op: () => Promise<void>): Promise<void> {
  if (options.rate <= 0) {
    if (!signal.aborted) await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
    return;
  }
  const interval = 1000 / options.rate;
  const inFlight = new Set<Promise<void>>();
  let next = performance.now();
  while (!signal.aborted) {
    if (inFlight.size >= options.concurrency) {
      await Promise.race(inFlight);
      continue;
    }
    const now = performance.now();
    if (next > now) {
      await new Promise((r) => setTimeout(r, next - now));
      continue;
    }
    next = Math.max(next + interval, now - 1000); // catch up after a stall, but not by more than 1 s of writes
    const p = op().finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.allSettled(inFlight);
}

interface RetentionLoop {
  ctx: OpContext;
  cap: number;
  signal: AbortSignal;
  onError: (what: string, err: unknown) => void;
  count: () => number;
  deleted: (n: number) => void;
}

/** Twice a second, deletes the oldest events beyond the cap (at most 1,000 at a time). */
async function runRetention(r: RetentionLoop): Promise<void> {
  while (!r.signal.aborted) {
    await new Promise((res) => setTimeout(res, 500));
    const excess = r.count() - r.cap;
    if (excess <= 0) continue;
    try {
      r.deleted(await deleteOldestEvents(r.ctx, Math.min(excess, 1000)));
    } catch (err) {
      r.onError('retention', err);
    }
  }
}
