/**
 * Two-phase restore of the FindFace main database (DESIGN.md §6).
 *
 * Stage, while the site runs: the dump is loaded into a staging database on the same server
 * (`<db>_ffk_stage_<hash of the job>`, owned like the live one) — ON_ERROR_STOP, one transaction, sha256
 * and length as recorded, foreign keys the rows violate left NOT VALID and named (load.ts). The live
 * database, pgbouncer and findface-security are not touched; a failure drops the staging database.
 *
 * Switch, with the writers stopped (findface-security is one: the controller stops and starts it, the
 * switch does not touch it): `KILL <db>` on pgbouncer's admin console (its connections to the database
 * dropped; new clients wait), rename the live database aside (`<db>_ffk_aside_<hash>`; any session left on
 * it is ended) and the staging one into its name, `RESUME <db>` (pgbouncer connects to the restored one by
 * name), run FindFace's post-load commands (migrate, create_groups, create_default_user). No unit is
 * stopped or started. A failure renames back what was renamed and resumes pgbouncer.
 *
 * Rollback (after a switch): KILL, the restored database back under the staging name, the aside one back
 * into place, RESUME, the restored one dropped. Finish: the aside database dropped. Discard (never
 * switched): the staging database dropped.
 *
 * After an agent restart (`recoverStagedPostgres`, from the restore journal) the rollback reads how far an
 * interrupted switch got from which of the three names exist: aside and live → both renames done; aside
 * only → the live one renamed aside, the staging one not yet into place; no aside → nothing renamed. It
 * always ends with RESUME (a switch killed between KILL and RESUME left the database paused).
 */
import { createHash } from 'node:crypto';
import { ValidationError } from '../../../../shared/errors.js';
import type { PhaseContext, RestoreContext, RestoreReport, StagedComponent, StagedJournal } from '../types.js';
import { dumpSourceOf } from './dump-source.js';
import { checkStagingSpace } from '../space.js';
import { loadDumpReporting } from './load.js';
import { APP_COMMANDS, type AppCommands, type DatabaseServer, type PoolerConsole, type SqlLoader } from './ports.js';
import { RestoreStepFailedError, StepFailure, StepRunner } from './steps.js';

export interface StagedRestoreSettings {
  /** `postgres:<name>` */
  ref: string;
  /** The live database. */
  database: string;
  owner: string;
  /** The database's name on pgbouncer (KILL/RESUME). */
  poolerDatabase: string;
  /** How often load progress is reported. */
  progressIntervalMs: number;
}

export interface StagedRestorePorts {
  server: DatabaseServer;
  loader: SqlLoader;
  app: AppCommands;
  pooler: PoolerConsole;
  /** Free bytes of the filesystem holding a directory of this host; absent when the server is on another host. */
  freeBytes?: (dir: string) => Promise<number>;
}

/** The staging and aside names of a job's restore of `database` (PostgreSQL names stop at 63 bytes). */
export function stagedNames(database: string, jobId: string): { staging: string; aside: string } {
  const hash = createHash('sha256').update(`${database}\n${jobId}`).digest('hex').slice(0, 10);
  const base = database.slice(0, 40);
  return { staging: `${base}_ffk_stage_${hash}`, aside: `${base}_ffk_aside_${hash}` };
}

function runner(settings: StagedRestoreSettings, ctx: PhaseContext): StepRunner {
  return new StepRunner({
    component: settings.ref,
    logger: ctx.logger,
    ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
}

/**
 * The staging database needs room on the server's filesystem for a second copy of the database: as much as
 * the dump or the live database takes now, whichever is larger. Checked only when the server is on this
 * host and its data directory can be read; otherwise the detail says why not (a full disk then fails the
 * load, and the staging database is dropped).
 */
async function checkServerSpace(ports: StagedRestorePorts, settings: StagedRestoreSettings, dumpBytes: number): Promise<string> {
  const { server } = ports;
  if (!ports.freeBytes) return `not checked: PostgreSQL ${server.address} is not on this host`;
  const { dataDirectory, databaseBytes } = await server.storage(settings.database);
  if (!dataDirectory) return `not checked: PostgreSQL ${server.address} does not show its data directory to this role (superuser or pg_read_all_settings needed)`;
  const need = Math.max(dumpBytes, databaseBytes);
  return checkStagingSpace({ ref: settings.ref, dir: dataDirectory, need, free: await ports.freeBytes(dataDirectory) });
}

/** Loads the dump into the staging database; throws `RestoreStepFailedError` naming the step (the staging database dropped). */
export async function stagePostgres(ports: StagedRestorePorts, settings: StagedRestoreSettings, ctx: RestoreContext): Promise<StagedComponent> {
  if (ctx.targetDir !== undefined) throw new ValidationError(`${settings.ref} restores into its database; a target directory is not supported`, { field: 'targetDir' });
  const steps = runner(settings, ctx);
  const run = steps.run.bind(steps);
  const { staging } = stagedNames(settings.database, ctx.jobId);
  let created = false;
  try {
    const source = await run('check artifact', async () => dumpSourceOf(ctx.artifact), (s) => `${s.file} (${s.bytes} bytes${s.sha256 ? `, sha256 ${s.sha256.slice(0, 12)}…` : ''})`);
    await run('check tools', async () => {
      await ports.loader.check();
      await ports.app.check();
    });
    await run('check database server', async () => {
      const info = await ports.server.check();
      if (!(await ports.server.roleExists(settings.owner))) {
        throw new ValidationError(`owner role '${settings.owner}' does not exist on PostgreSQL ${ports.server.address}`, { field: 'owner' });
      }
      return `PostgreSQL ${info.version} at ${ports.server.address}`;
    }, (v) => v);
    await run('check space', () => checkServerSpace(ports, settings, ctx.artifact.bytes), (v) => v);
    await run(`create database ${staging}`, async () => {
      created = true;
      await ports.server.dropDatabase(staging); // a leftover of an interrupted attempt of the same job
      await ports.server.createDatabase({ database: staging, owner: settings.owner });
    }, () => `owner ${settings.owner}`);
    const load = { ref: settings.ref, database: staging, source, intervalMs: settings.progressIntervalMs };
    await run(`load ${source.file} into ${staging}`, () => loadDumpReporting(ports, ctx, load), (v) => v);
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    let outcome = `the live database '${settings.database}' was not touched`;
    if (created) {
      outcome += await ports.server.dropDatabase(staging).then(
        () => `; staging database ${staging} dropped`,
        (e: unknown) => `; dropping staging database ${staging} failed too (${e instanceof Error ? e.message : String(e)})`,
      );
    }
    throw new RestoreStepFailedError({ report: steps.report(), step: err.step, siteChanged: false, outcome, cause: err.error });
  }
  return new StagedDatabase(ports, settings, ctx.jobId, steps.report());
}

/**
 * Rebuilds a staged database from its journal after an agent restart; its rollback judges from the
 * database names that exist (see the top of this file).
 */
export function recoverStagedPostgres(ports: StagedRestorePorts, settings: StagedRestoreSettings, jobId: string, journal: StagedJournal): StagedComponent {
  if (journal.database !== settings.database) {
    throw new ValidationError(`${settings.ref}: the restore journal of job '${jobId}' is about database '${String(journal.database)}', not '${settings.database}'`, { field: 'journal' });
  }
  return new StagedDatabase(ports, settings, jobId, { component: settings.ref, steps: [] }, true);
}

/** What a switch changed, so that it can be undone. */
interface Switched {
  /** pgbouncer's connections to the database killed, and not resumed yet. */
  killed: boolean;
  asideDone: boolean;
  swapped: boolean;
}

/** The dump loaded into the staging database, waiting for the switch. */
class StagedDatabase implements StagedComponent {
  readonly ref: string;
  private readonly names: { staging: string; aside: string };
  private switched: Switched | undefined;

  constructor(
    private readonly ports: StagedRestorePorts,
    private readonly settings: StagedRestoreSettings,
    jobId: string,
    readonly report: RestoreReport,
    /** Rebuilt from the journal after an agent restart: how far a switch got is read from the server. */
    private readonly recovered = false,
  ) {
    this.ref = settings.ref;
    this.names = stagedNames(settings.database, jobId);
  }

  journal(): StagedJournal {
    return { database: this.settings.database, ...this.names };
  }

  /** After an agent restart: what the interrupted switch changed, from the names that exist now. */
  private async switchedFromServer(): Promise<Switched> {
    const { server } = this.ports;
    const { database } = this.settings;
    const [live = false, staging = false, aside = false] = await Promise.all([database, this.names.staging, this.names.aside].map((n) => server.databaseExists(n)));
    if (aside && live && staging) {
      throw new ValidationError(`${this.ref}: '${database}', '${this.names.staging}' and '${this.names.aside}' all exist, so which one was live is unclear; check by hand`, { field: 'database' });
    }
    return { killed: false, asideDone: aside, swapped: aside && live };
  }

  async switchIn(ctx: PhaseContext): Promise<RestoreReport> {
    const { ports, settings, names } = this;
    const { database, poolerDatabase } = settings;
    const steps = runner(settings, ctx);
    const run = steps.run.bind(steps);
    const state: Switched = { killed: false, asideDone: false, swapped: false };
    try {
      await run(`KILL ${poolerDatabase} on pgbouncer`, async () => {
        state.killed = true;
        await ports.pooler.kill(poolerDatabase);
      });
      await run(`rename ${database} to ${names.aside}`, () => ports.server.renameDatabase(database, names.aside));
      state.asideDone = true;
      await run(`rename ${names.staging} to ${database}`, () => ports.server.renameDatabase(names.staging, database));
      state.swapped = true;
      await run(`RESUME ${poolerDatabase} on pgbouncer`, () => ports.pooler.resume(poolerDatabase));
      state.killed = false;
      for (const command of APP_COMMANDS) await run(`${ports.app.program} ${command}`, () => ports.app.run(command));
    } catch (err) {
      if (!(err instanceof StepFailure)) throw err;
      const outcome = await this.undo(steps, state, false);
      throw new RestoreStepFailedError({ report: steps.report(), step: err.step, siteChanged: outcome.failed, outcome: outcome.text, cause: err.error });
    }
    this.switched = state;
    return steps.report();
  }

  async rollBack(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = runner(this.settings, ctx);
    let state = this.switched;
    if (!state && this.recovered) {
      state = await steps.run('find what the interrupted switch changed', () => this.switchedFromServer(), (s) =>
        s.swapped ? 'both renames done' : s.asideDone ? `'${this.settings.database}' renamed aside only` : 'nothing renamed').catch((err: unknown) => {
        throw err instanceof StepFailure ? new RestoreStepFailedError({ report: steps.report(), step: err.step, siteChanged: true, outcome: 'nothing was put back', cause: err.error }) : err;
      });
    }
    if (!state) throw new ValidationError(`${this.ref} was not switched in: there is nothing to roll back`, { field: 'phase' });
    const outcome = await this.undo(steps, state, true);
    if (outcome.failed) {
      throw new RestoreStepFailedError({ report: steps.report(), step: 'rollback', siteChanged: true, outcome: outcome.text, cause: new Error(outcome.text) });
    }
    this.switched = undefined;
    return steps.report();
  }

  /**
   * Puts back what `state` says was changed: the restored database under the staging name, the previous
   * one into place, the units as they were. With `dropRestored` the restored database is dropped too.
   */
  private async undo(steps: StepRunner, state: Switched, dropRestored: boolean): Promise<{ failed: boolean; text: string }> {
    const { ports, settings, names } = this;
    const { database, poolerDatabase } = settings;
    const run = steps.run.bind(steps);
    try {
      if (state.asideDone && !state.killed) {
        await run(`undo: KILL ${poolerDatabase} on pgbouncer`, () => ports.pooler.kill(poolerDatabase));
        state.killed = true;
      }
      if (state.swapped) await run(`undo: rename ${database} to ${names.staging}`, () => ports.server.renameDatabase(database, names.staging));
      state.swapped = false;
      if (state.asideDone) await run(`undo: rename ${names.aside} to ${database}`, () => ports.server.renameDatabase(names.aside, database));
      state.asideDone = false;
      // Also after an agent restart: a switch killed between KILL and RESUME left the database paused.
      if (state.killed || this.recovered) {
        await run(`undo: RESUME ${poolerDatabase} on pgbouncer`, async () => `pgbouncer: ${await ports.pooler.resume(poolerDatabase)}`, (v) => v);
        state.killed = false;
      }
      if (dropRestored) await run(`undo: drop ${names.staging}`, () => ports.server.dropDatabase(names.staging));
      return { failed: false, text: `database '${database}' is back as it was before the switch` };
    } catch (err) {
      const why = err instanceof StepFailure && err.error instanceof Error ? err.error.message : String(err);
      return { failed: true, text: `PUTTING BACK FAILED (${why}): the previous database is '${names.aside}' if it is not '${database}'; check by hand` };
    }
  }

  async finish(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = runner(this.settings, ctx);
    this.switched = undefined;
    await steps.run(`drop ${this.names.aside}`, () => this.ports.server.dropDatabase(this.names.aside)).catch((err: unknown) => {
      throw err instanceof StepFailure ? err.error : err; // the controller notes it: the previous database is still there
    });
    return steps.report();
  }

  async discard(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = runner(this.settings, ctx);
    await steps.run(`drop ${this.names.staging}`, () => this.ports.server.dropDatabase(this.names.staging)).catch((err: unknown) => {
      throw err instanceof StepFailure ? err.error : err;
    });
    return steps.report();
  }
}
