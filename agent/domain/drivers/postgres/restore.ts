/**
 * Restore of the FindFace main database, following FindFace's documented sequence exactly, every step
 * checked and reported, stopping at the first failure:
 *
 *   1 stop findface-security · 2 stop pgbouncer · 3 DROP DATABASE · 4 CREATE DATABASE … TEMPLATE template0
 *   5 start pgbouncer · 6 psql ON_ERROR_STOP fed from the repository · 7 findface-security migrate,
 *   create_groups, create_default_user · 8 start findface-security
 *
 * Before step 1 nothing is touched until everything the sequence needs is proven available: the
 * artifact can be read (repository reachable, password right, snapshot and file exist, the first 64 KB
 * decrypt — read from the stream step 6 then loads, so one repository run serves both — or, with
 * `verify: 'full'`, the whole dump matches its sha256), psql and findface-security
 * are on PATH, the server answers and the owner role exists. A failure up to and including step 3
 * leaves the database as it was and starts again the units this restore stopped, so the site is as it
 * was. The load runs in one transaction and commits only when the stream ended cleanly with the
 * recorded sha256, so a damaged artifact never leaves a half-loaded database.
 */
import type { Readable } from 'node:stream';
import { CancelledError, ValidationError } from '../../../../shared/errors.js';
import type { ServiceManager } from '../../ports.js';
import type { RestoreContext, RestoreReport } from '../types.js';
import { checkArtifact, dumpSourceOf, type DumpSource } from './dump-source.js';
import { loadDumpReporting } from './load.js';
import { APP_COMMANDS, type AppCommands, type DatabaseServer, type SqlLoader } from './ports.js';
import { RestoreStepFailedError, StepFailure, StepRunner } from './steps.js';

/** What the restore works on. */
export interface RestoreSettings {
  /** `postgres:<name>` */
  ref: string;
  /** The database restored into (this site's). */
  database: string;
  owner: string;
  units: { app: string; pgbouncer: string };
  /** `open`: read the first bytes before touching anything; `full`: read and hash the whole dump first. */
  verify: 'open' | 'full';
  /** How often load progress is reported. */
  progressIntervalMs: number;
}

/** The ports the restore drives. */
export interface RestorePorts {
  server: DatabaseServer;
  loader: SqlLoader;
  app: AppCommands;
  services: ServiceManager;
}

/** Mutable facts the failure handling needs. */
interface RestoreState {
  /** True once DROP DATABASE succeeded. */
  destroyed: boolean;
  /** Units that were active before the restore. */
  wasActive: Record<string, boolean>;
}

/** One PostgreSQL restore. */
class PostgresRestore {
  private readonly runner: StepRunner;
  private readonly state: RestoreState = { destroyed: false, wasActive: {} };
  /** The dump's stream as the `open` check left it (its first bytes read): the load reads it. */
  private opened: Readable | undefined;

  constructor(
    private readonly ports: RestorePorts,
    private readonly settings: RestoreSettings,
    private readonly ctx: RestoreContext,
  ) {
    this.runner = new StepRunner({
      component: settings.ref,
      logger: ctx.logger,
      ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
  }

  async run(): Promise<RestoreReport> {
    try {
      const source = await this.preflight();
      await this.sequence(source);
      return this.runner.report();
    } catch (err) {
      if (!(err instanceof StepFailure)) throw err;
      const outcome = await this.afterFailure();
      throw new RestoreStepFailedError({ report: this.runner.report(), step: err.step, siteChanged: this.state.destroyed, outcome, cause: err.error });
    } finally {
      this.opened?.destroy(); // the check's stream, when no load read it to its end
    }
  }

  /** Everything checked before anything is touched. */
  private async preflight(): Promise<DumpSource> {
    const { ports, ctx } = this;
    const run = this.runner.run.bind(this.runner);
    const source = await run('check artifact', () => this.checkArtifact(), (v) => `snapshot ${v.source.snapshotId} in ${ctx.repository.displayUrl}: ${v.detail}`);
    await run('check tools', async () => {
      await ports.loader.check();
      await ports.app.check();
    });
    await run('check database server', () => this.checkServer(), (v) => v);
    await run('check services', () => this.recordServices(), (v) => v);
    return source.source;
  }

  private async checkArtifact(): Promise<{ source: DumpSource; detail: string }> {
    const { ctx, settings } = this;
    if (ctx.targetDir !== undefined) {
      throw new ValidationError(`${settings.ref} restores into its database; a target directory is not supported`, { field: 'targetDir' });
    }
    const source = dumpSourceOf(ctx.artifact);
    const options = { full: settings.verify === 'full', ...(ctx.signal ? { signal: ctx.signal } : {}) };
    const checked = await checkArtifact(ctx.repository, source, options);
    this.opened = checked.stream;
    return { source, detail: checked.detail };
  }

  private async checkServer(): Promise<string> {
    const { server } = this.ports;
    const info = await server.check();
    if (!(await server.roleExists(this.settings.owner))) {
      throw new ValidationError(`owner role '${this.settings.owner}' does not exist on PostgreSQL ${server.address}`, { field: 'owner' });
    }
    return `PostgreSQL ${info.version} at ${server.address}, owner '${this.settings.owner}' exists`;
  }

  private async recordServices(): Promise<string> {
    const { app, pgbouncer } = this.settings.units;
    for (const unit of [app, pgbouncer]) this.state.wasActive[unit] = await this.ports.services.isActive(unit);
    return [app, pgbouncer].map((u) => `${u} ${this.state.wasActive[u] ? 'active' : 'inactive'}`).join(', ');
  }

  /** FindFace's documented sequence. */
  private async sequence(source: DumpSource): Promise<void> {
    const { ports, settings } = this;
    const { database, owner, units } = settings;
    const run = this.runner.run.bind(this.runner);
    await run(`stop ${units.app}`, () => ports.services.stop(units.app));
    await run(`stop ${units.pgbouncer}`, () => ports.services.stop(units.pgbouncer));
    await run(`drop database ${database}`, () => ports.server.dropDatabase(database));
    this.state.destroyed = true;
    await run(`create database ${database}`, () => ports.server.createDatabase({ database, owner }));
    await run(`start ${units.pgbouncer}`, () => ports.services.start(units.pgbouncer));
    await run(`load ${source.file} into ${database}`, () => this.load(source), (v) => v);
    for (const command of APP_COMMANDS) await run(`${ports.app.program} ${command}`, () => ports.app.run(command));
    await run(`start ${units.app}`, () => ports.services.start(units.app));
  }

  /**
   * psql fed from the repository; commits only after a clean end with the recorded sha256. Foreign keys the
   * restored rows violate stay NOT VALID and are named in the step's detail (load.ts).
   */
  private load(source: DumpSource): Promise<string> {
    const { ctx, settings, ports } = this;
    const input = this.opened;
    this.opened = undefined; // read once: a repeated load step (there is none) would open the dump again
    const load = { ref: settings.ref, database: settings.database, source, intervalMs: settings.progressIntervalMs, ...(input ? { input } : {}) };
    return loadDumpReporting(ports, ctx, load);
  }

  /** Undo what can be undone (only while nothing was destroyed) and say what state the site is in. */
  private async afterFailure(): Promise<string> {
    const { units, database } = this.settings;
    if (this.state.destroyed) {
      return `database '${database}' had already been dropped: fix the cause and run the restore again (every step is repeatable); ${units.app} stays stopped until then`;
    }
    const restarted: string[] = [];
    const failed: string[] = [];
    for (const unit of [units.pgbouncer, units.app]) {
      if (!this.state.wasActive[unit]) continue;
      const active = await this.ports.services.isActive(unit).catch(() => false);
      if (active) continue;
      try {
        await this.runner.run(`undo: start ${unit}`, () => this.ports.services.start(unit));
        restarted.push(unit);
      } catch (err) {
        failed.push(`${unit} (${err instanceof StepFailure && err.error instanceof Error ? err.error.message : String(err)})`);
      }
    }
    if (failed.length > 0) return `database '${database}' is untouched, but could not start again: ${failed.join(', ')}`;
    if (restarted.length > 0) return `database '${database}' is untouched and ${restarted.join(', ')} started again, as before the restore`;
    return `nothing on the site was changed`;
  }
}

/** Runs the restore; resolves with the report, or throws `RestoreStepFailedError` naming the failed step. */
export async function restorePostgres(ports: RestorePorts, settings: RestoreSettings, ctx: RestoreContext): Promise<RestoreReport> {
  if (ctx.signal?.aborted) throw new CancelledError(`restore of ${settings.ref} was cancelled before it started`);
  return new PostgresRestore(ports, settings, ctx).run();
}
