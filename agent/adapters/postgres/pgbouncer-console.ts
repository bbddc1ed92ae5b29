/**
 * `PoolerConsole` over pgbouncer's admin console (the `pgbouncer` pseudo-database). The console speaks
 * only the simple query protocol, which node-postgres uses for a query without parameters. Each
 * command gets its own short-lived connection, so an abandoned PAUSE can be cut off by closing it.
 */
import type pg from 'pg';
import { CancelledError, NotFoundError, UnavailableError } from '../../../shared/errors.js';
import type { PoolerConsole } from '../../domain/drivers/postgres/ports.js';
import { clientConfig, connectClient, withClient, type PgEndpoint } from './connection.js';

const CONSOLE_DATABASE = 'pgbouncer';
const APP_NAME = 'ffkeeper-agent';

interface ShowPoolsRow {
  database: string;
  sv_login?: number | string;
  cl_waiting?: number | string;
}

/** One `SHOW POOLS` look of a login watcher: when it was sent (performance.now()) and whether the pool was quiet. */
interface PoolSample {
  at: number;
  quiet: boolean;
}

interface LoginWatch {
  database: string;
  /** The last few looks. */
  samples: PoolSample[];
  /** Looks taken in all. */
  looks: number;
  stop: boolean;
}

/** A login watcher's sample a PAUSE counts as its first quiet look: at least this long before its own look… */
const PRIOR_SAMPLE_MIN_AGE_MS = 2;

interface ShowDatabasesRow {
  name: string;
  paused?: number | string;
}

/** pgbouncer's admin console at `endpoint` (admin user and password). */
export class PgbouncerConsole implements PoolerConsole {
  readonly address: string;
  private readonly config: pg.ClientConfig;
  private readonly loginSettleMs: number;
  private readonly resumeCooldownMs: number;
  /** How old a login watcher's look may be for a PAUSE to count it (see `watchLogins`). */
  private readonly priorLookMaxAgeMs: number;
  /** When this console last resumed each database. */
  private readonly resumedAt = new Map<string, number>();
  /** A console connection opened ahead of a PAUSE (`warm`), or kept by a PAUSE for its RESUME. */
  private warmClient: pg.Client | undefined;
  /** The login watcher started ahead of a PAUSE (`watchLogins`). */
  private loginWatch: LoginWatch | undefined;
  /** `SHOW POOLS` samples the last PAUSE took itself before it was sent (its watcher's not counted). */
  lastPauseSamples = 0;

  /**
   * `loginSettleMs`: how long PAUSE waits at most for server logins in progress to finish (default 250);
   * `resumeCooldownMs`: least time between a RESUME and the next PAUSE of the same database (default
   * 500), so pgbouncer can re-open the server connections PAUSE closed. See `settleLogins`.
   */
  constructor(endpoint: PgEndpoint, options: { loginSettleMs?: number; resumeCooldownMs?: number; priorLookMaxAgeMs?: number } = {}) {
    this.address = `${endpoint.host}:${endpoint.port}`;
    this.config = clientConfig(endpoint, CONSOLE_DATABASE, APP_NAME);
    this.loginSettleMs = options.loginSettleMs ?? 250;
    this.resumeCooldownMs = options.resumeCooldownMs ?? 500;
    this.priorLookMaxAgeMs = options.priorLookMaxAgeMs ?? 10;
  }

  /** Looks the running login watcher has taken (0 when none runs). */
  get loginWatchLooks(): number {
    return this.loginWatch?.looks ?? 0;
  }

  /**
   * Opens the console connection the next PAUSE uses (and keeps for its RESUME), so that neither pays a
   * connection inside the freeze window. Idempotent.
   */
  async warm(): Promise<void> {
    if (this.warmClient) return;
    this.keep(await connectClient(this.config, 'pgbouncer console'));
  }

  /** Holds `client` as the warm connection until taken, or until it ends. */
  private keep(client: pg.Client): void {
    client.once('end', () => {
      if (this.warmClient === client) this.warmClient = undefined;
    });
    this.warmClient = client;
  }

  /** Closes the connection `warm` opened (or a PAUSE kept for its RESUME), if any, and stops the login watcher. */
  async cool(): Promise<void> {
    this.stopLoginWatch();
    const client = this.warmClient;
    this.warmClient = undefined;
    await client?.end().catch(() => undefined);
  }

  /**
   * Starts looking at `database`'s pool ahead of the next PAUSE (on a connection of its own, a `SHOW POOLS`
   * every 2 ms, at most `maxMs`): the PAUSE then counts the watcher's last quiet look, taken 2–10 ms
   * before (`priorLookMaxAgeMs`), as the first of the two quiet looks it needs (see `settleLogins`), and
   * takes only one itself inside the freeze window. Replaces a running watcher; ends at the PAUSE, at
   * `cool`, or after `maxMs`.
   * A watcher that cannot connect or query just ends: the PAUSE then takes both looks itself.
   */
  watchLogins(database: string, maxMs = 60_000): void {
    this.stopLoginWatch();
    const w: LoginWatch = { database, samples: [], looks: 0, stop: false };
    this.loginWatch = w;
    const until = performance.now() + maxMs;
    void (async () => {
      let client: pg.Client | undefined;
      try {
        client = await connectClient(this.config, 'pgbouncer console');
        while (!w.stop && performance.now() < until) {
          const at = performance.now();
          const quiet = await this.poolQuiet(client, database);
          w.samples.push({ at, quiet });
          w.looks += 1;
          if (w.samples.length > 4) w.samples.shift();
          await new Promise((r) => setTimeout(r, 2));
        }
      } catch {
        // The PAUSE takes both of its looks itself.
      } finally {
        w.stop = true;
        if (this.loginWatch === w) this.loginWatch = undefined;
        void client?.end().catch(() => undefined);
      }
    })();
  }

  private stopLoginWatch(): void {
    if (this.loginWatch) this.loginWatch.stop = true;
    this.loginWatch = undefined;
  }

  /** Stops the watcher and answers whether its newest look old enough to count was quiet (see `watchLogins`). */
  private takePriorLook(database: string): boolean {
    const w = this.loginWatch;
    this.stopLoginWatch();
    if (!w || w.database !== database) return false;
    const now = performance.now();
    const prior = w.samples.filter((x) => now - x.at >= PRIOR_SAMPLE_MIN_AGE_MS).at(-1);
    return prior !== undefined && prior.quiet && now - prior.at <= this.priorLookMaxAgeMs;
  }

  /** The warm connection, taken (the caller owns it now), or a new one. */
  private async client(): Promise<pg.Client> {
    const warm = this.warmClient;
    this.warmClient = undefined;
    return warm ?? connectClient(this.config, 'pgbouncer console');
  }

  async pause(database: string, options: { signal: AbortSignal; onSent: () => void }): Promise<void> {
    const client = await this.client();
    let keep = false;
    const close = (): void => void client.end().catch(() => undefined);
    if (options.signal.aborted) {
      close();
      throw new CancelledError(`PAUSE ${database} on pgbouncer ${this.address} was cancelled`);
    }
    options.signal.addEventListener('abort', close, { once: true });
    try {
      const cooldown = (this.resumedAt.get(database) ?? 0) + this.resumeCooldownMs - Date.now();
      if (cooldown > 0) await new Promise((r) => setTimeout(r, cooldown));
      await this.settleLogins(client, database, options.signal, this.takePriorLook(database));
      const query = client.query(`PAUSE ${database}`);
      options.onSent();
      await query;
      keep = !options.signal.aborted;
    } catch (err) {
      if (options.signal.aborted) throw new CancelledError(`PAUSE ${database} on pgbouncer ${this.address} was cancelled`, { cause: err });
      throw this.failure(`PAUSE ${database}`, err);
    } finally {
      options.signal.removeEventListener('abort', close);
      if (keep) {
        // Kept for the RESUME (see `warm`).
        await this.cool();
        this.keep(client);
      } else close();
    }
  }

  async kill(database: string): Promise<void> {
    await withClient(this.config, 'pgbouncer console', async (client) => {
      try {
        await client.query(`KILL ${database}`);
      } catch (err) {
        throw this.failure(`KILL ${database}`, err);
      }
    });
  }

  async resume(database: string): Promise<'resumed' | 'not-paused'> {
    const kept = this.warmClient;
    this.warmClient = undefined;
    if (kept) {
      // The PAUSE's connection; if it was lost meanwhile, RESUME on a new one (pgbouncer stays paused).
      const done = await this.resumeOn(kept, database).catch(() => undefined);
      if (done) return done;
    }
    return withClient(this.config, 'pgbouncer console', (client) => this.resumeOn(client, database));
  }

  /** `RESUME` on `client`, which it closes. */
  private async resumeOn(client: pg.Client, database: string): Promise<'resumed' | 'not-paused'> {
    try {
      await client.query(`RESUME ${database}`);
      this.resumedAt.set(database, Date.now());
      return 'resumed';
    } catch (err) {
      if (err instanceof Error && /is not paused/.test(err.message)) return 'not-paused';
      throw this.failure(`RESUME ${database}`, err);
    } finally {
      // Closed without waiting for the socket to go: the RESUME has its answer, and the thaw that waits
      // for this is the end of the freeze window.
      void client.end().catch(() => undefined);
    }
  }

  async check(database: string): Promise<{ paused: boolean }> {
    return withClient(this.config, 'pgbouncer console', async (client) => {
      let rows: ShowDatabasesRow[];
      try {
        rows = (await client.query<ShowDatabasesRow>('SHOW DATABASES')).rows;
      } catch (err) {
        throw this.failure('SHOW DATABASES', err);
      }
      const row = rows.find((r) => r.name === database);
      if (!row) throw new NotFoundError(`pgbouncer ${this.address} does not serve database '${database}' (it serves: ${rows.map((r) => r.name).join(', ')})`);
      return { paused: Number(row.paused ?? 0) === 1 };
    });
  }

  /**
   * Waits (bounded by `loginSettleMs`) until no server connection of `database` is logging in and no
   * client waits for one (which would make pgbouncer launch one any moment). PAUSE closes servers that
   * are still logging in, pgbouncer 1.18 counts that as a failed login and then launches no new server
   * connection for `server_login_retry` (15 s by default) after RESUME: writes would stall that long.
   * PAUSE also closes every idle server connection, so right after a RESUME pgbouncer re-opens them:
   * hence also the cool-down after our own RESUME. Both narrow the race; neither can close it.
   * `quietBefore`: the login watcher's quiet look, 2–10 ms before, counts as the first of the two.
   */
  private async settleLogins(client: pg.Client, database: string, signal: AbortSignal, quietBefore = false): Promise<void> {
    const deadline = Date.now() + this.loginSettleMs;
    let quiet = quietBefore ? 1 : 0; // consecutive quiet samples: a client between two queries is neither waiting nor served
    this.lastPauseSamples = 0;
    while (quiet < 2 && Date.now() < deadline && !signal.aborted) {
      this.lastPauseSamples += 1;
      quiet = (await this.poolQuiet(client, database)) ? quiet + 1 : 0;
      if (quiet < 2) await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** One `SHOW POOLS` look: no server connection of `database` logging in, no client waiting for one. */
  private async poolQuiet(client: pg.Client, database: string): Promise<boolean> {
    const pools = (await client.query<ShowPoolsRow>('SHOW POOLS')).rows.filter((r) => r.database === database);
    return pools.reduce((n, r) => n + Number(r.sv_login ?? 0) + Number(r.cl_waiting ?? 0), 0) === 0;
  }

  private failure(command: string, err: unknown): UnavailableError {
    const why = err instanceof Error ? err.message : String(err);
    return new UnavailableError(`${command} on pgbouncer ${this.address} failed: ${why}`, { cause: err });
  }
}
