/**
 * A verify drill's PostgreSQL sandbox: the cut's dump loaded into a scratch database on the same server
 * (`ffk_drill_<hash of sandbox and component>`), owned like the live one, so the site's integrity check
 * can read it. The live database, pgbouncer and findface-security are never touched, and FindFace's
 * management commands are not run (they act on the live database): the drill proves the dump loads
 * completely (ON_ERROR_STOP, one transaction, sha256 and length as recorded; a foreign key its rows
 * violate is loaded NOT VALID and named in the step) and that its rows are consistent with the other
 * components.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { SandboxRestoreContext, SandboxRestoreReport } from '../types.js';
import type { DatabaseServer, SqlLoader } from './ports.js';
import { checkArtifact, dumpSourceOf, type DumpSource } from './dump-source.js';
import { loadDump } from './load.js';
import { RestoreStepFailedError, StepFailure, StepRunner } from './steps.js';

export interface PostgresSandboxSettings {
  /** `postgres:<name>` */
  ref: string;
  owner: string;
  /** Where the server is, as the integrity check reaches it. */
  endpoint: { host: string; port: number };
}

/** The scratch database of one component's sandbox: stable for a sandbox id, so a retry or a drop finds it. */
export function drillDatabaseName(sandboxId: string, ref: string): string {
  return `ffk_drill_${createHash('sha256').update(`${sandboxId}\n${ref}`).digest('hex').slice(0, 12)}`;
}

/** Loads the dump into the scratch database; throws `RestoreStepFailedError` naming the failed step. */
export async function restorePostgresSandbox(
  ports: { server: DatabaseServer; loader: SqlLoader },
  settings: PostgresSandboxSettings,
  ctx: SandboxRestoreContext,
): Promise<SandboxRestoreReport> {
  const runner = new StepRunner({
    component: settings.ref,
    logger: ctx.logger,
    ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  const database = drillDatabaseName(ctx.sandboxId, settings.ref);
  const run = runner.run.bind(runner);
  let opened: Readable | undefined;
  try {
    // The check reads the first bytes of the stream the load then continues: one repository run for both.
    const checked = await run(
      'check artifact',
      async () => {
        const s = dumpSourceOf(ctx.artifact);
        return { source: s, ...(await checkArtifact(ctx.repository, s, { full: false, ...(ctx.signal ? { signal: ctx.signal } : {}) })) };
      },
      (v) => v.detail,
    );
    const { source } = checked;
    opened = checked.stream;
    await run('check tools', () => ports.loader.check());
    await run(`create database ${database}`, async () => {
      await ctx.record({ kind: 'database', component: settings.ref, database });
      await ports.server.dropDatabase(database); // a leftover of an interrupted attempt of the same sandbox
      await ports.server.createDatabase({ database, owner: settings.owner });
    }, () => `owner ${settings.owner} on ${ports.server.address}`);
    const input = opened;
    await run(`load ${source.file} into ${database}`, () => load(ports, database, { source, ...(input ? { input } : {}) }, ctx), (v) => v);
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    throw new RestoreStepFailedError({
      report: runner.report(),
      step: err.step,
      siteChanged: false,
      outcome: `the live database was not touched; scratch database ${database} goes with the sandbox`,
      cause: err.error,
    });
  } finally {
    opened?.destroy(); // the check's stream, when no load read it to its end
  }
  const { host, port } = settings.endpoint;
  return { ...runner.report(), endpoint: { kind: 'postgres', component: settings.ref, host, port, database, owner: settings.owner } };
}

/** psql fed from the repository into the scratch database; commits only after a clean end with the recorded sha256 (load.ts). */
async function load(
  ports: { server: DatabaseServer; loader: SqlLoader },
  database: string,
  dump: { source: DumpSource; input?: Readable },
  ctx: SandboxRestoreContext,
): Promise<string> {
  const loaded = await loadDump({ ...ports, repository: ctx.repository, database, ...dump, ...(ctx.signal ? { signal: ctx.signal } : {}) });
  return loaded.detail;
}
