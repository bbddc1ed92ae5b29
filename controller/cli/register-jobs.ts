/**
 * Registers the snapshot, restore, jobs and catalog commands on the program: each parses its flags into
 * an options object and calls its run function with the controller API, io and terminal.
 */
import type { Command } from 'commander';
import type { ControllerApi } from './api.js';
import type { CliIo } from './io.js';
import type { Terminal } from './terminal.js';
import { parsePositiveInt } from './validate.js';
import { runCatalogRebuild } from './commands/catalog.js';
import { runRepoQualify } from './commands/repo.js';
import { runJobsList, runJobsLogs, runJobsShow } from './commands/jobs.js';
import { runRestore } from './commands/restore.js';
import { runSnapshotCreate, runSnapshotDelete, runSnapshotList, runSnapshotShow } from './commands/snapshot.js';
import { runVerify } from './commands/verify.js';
import { runSnapshotCopy } from './commands/snapshot-copy.js';
import { runSnapshotImport } from './commands/snapshot-import.js';
import { runSnapshotExport } from './commands/snapshot-export.js';

/** Opens the controller API for one command and closes it afterwards (main.ts's `withApi`). */
export type WithApi = (cmd: Command, fn: (api: ControllerApi, g: { json: boolean }) => Promise<void>) => Promise<void>;

export interface RegisterContext {
  io: CliIo;
  term: Terminal;
  withApi: WithApi;
  /**
   * Ends the process at once (exit 0). Used after `snapshot create` without --wait: the job's event
   * stream is abandoned, and an open gRPC call would otherwise keep the process alive until the job ends.
   */
  exitNow: () => void;
}

function registerSnapshot(program: Command, ctx: RegisterContext): void {
  const { io, term, withApi } = ctx;
  const snapshot = program.command('snapshot').description('consistent snapshots of a site (all components at one cut)');
  snapshot
    .command('create')
    .description('take a snapshot of a site; with --wait, show progress and a summary')
    .requiredOption('--site <site>', 'the site to snapshot')
    .option('--wait', 'follow the job to its end with live progress', false)
    .option('--lease-ms <ms>', "freeze lease the agents arm (default: the controller's)")
    .action(async (opts: { site: string; wait: boolean; leaseMs?: string }, cmd: Command) => {
      let detached = false;
      await withApi(cmd, async (api, g) => {
        const leaseMs = opts.leaseMs === undefined ? undefined : parsePositiveInt(opts.leaseMs, '--lease-ms');
        const createOpts = { site: opts.site, wait: opts.wait, json: g.json, ...(leaseMs === undefined ? {} : { leaseMs }) };
        const res = await runSnapshotCreate(createOpts, { api, io, term });
        detached = res.detached;
      });
      if (detached) ctx.exitNow();
    });
  snapshot
    .command('list')
    .description("a site's sealed snapshots, newest first")
    .requiredOption('--site <site>', 'the site')
    .action((opts: { site: string }, cmd: Command) =>
      withApi(cmd, (api, g) => runSnapshotList({ site: opts.site, json: g.json }, { api, io, term })),
    );
  snapshot
    .command('show')
    .description('one snapshot: summary and components from its manifest (--json: the manifest)')
    .argument('<id>', 'the snapshot id')
    .option('--site <site>', 'the site (default: found in any site)')
    .action((id: string, opts: { site?: string }, cmd: Command) =>
      withApi(cmd, (api, g) => runSnapshotShow({ id, json: g.json, ...(opts.site === undefined ? {} : { site: opts.site }) }, { api, io, term })),
    );
  snapshot
    .command('copy')
    .description("copy sealed snapshots to the site's secondary repository (default: every one not copied yet)")
    .requiredOption('--site <site>', 'the site')
    .option('--snapshot <id...>', 'copy these snapshots only (repeatable)')
    .action((opts: { site: string; snapshot?: string[] }, cmd: Command) =>
      withApi(cmd, (api, g) => runSnapshotCopy({ site: opts.site, snapshots: opts.snapshot ?? [], json: g.json }, { api, io, term })),
    );
  snapshot
    .command('export')
    .description("write a snapshot in FindFace's own backup layout (galleries as findface-storage-api-dump writes them, the database's plain dump, upload roots as tar.gz) into a directory on each of the site's agent hosts")
    .argument('<id>', 'the snapshot id')
    .requiredOption('--site <site>', 'the site')
    .requiredOption('--to <dir>', "an absolute directory on each agent host (created when missing; files there are never overwritten)")
    .action((id: string, opts: { site: string; to: string }, cmd: Command) =>
      withApi(cmd, (api, g) => runSnapshotExport({ snapshot: id, site: opts.site, to: opts.to, json: g.json }, { api, io, term })),
    );
  snapshot
    .command('import')
    .description("bring an export in FindFace's backup layout (as snapshot export or FindFace's own tools write it) into the site's repository as a new sealed snapshot")
    .requiredOption('--site <site>', 'the site')
    .requiredOption('--from <dir>', "an absolute directory on each agent host holding that host's part of the export")
    .option('--reason <text>', 'why (shown with the snapshot)', '')
    .action((opts: { site: string; from: string; reason: string }, cmd: Command) =>
      withApi(cmd, (api, g) => runSnapshotImport({ site: opts.site, from: opts.from, reason: opts.reason, json: g.json }, { api, io, term })),
    );
  snapshot
    .command('delete')
    .description('delete a snapshot from the catalog and the repository')
    .argument('<id>', 'the snapshot id')
    .requiredOption('--site <site>', 'the site')
    .option('--yes', 'do not ask for confirmation', false)
    .action((id: string, opts: { site: string; yes: boolean }, cmd: Command) =>
      withApi(cmd, (api, g) => runSnapshotDelete({ id, site: opts.site, yes: opts.yes, json: g.json }, { api, io, term })),
    );
}

interface RestoreFlags {
  site?: string;
  snapshot?: string;
  before?: string;
  latest: boolean;
  component?: string[];
  toSite?: string;
  safetySnapshot: boolean;
  resume?: string;
  from?: string;
  yes: boolean;
}

function registerRestore(program: Command, ctx: RegisterContext): void {
  const { io, term, withApi } = ctx;
  program
    .command('restore')
    .description('restore a site from a snapshot (prints the plan and asks first), or --resume an interrupted restore')
    .option('--site <site>', 'the site whose snapshot is restored')
    .option('--snapshot <id>', 'restore this snapshot')
    .option('--before <time>', "the newest snapshot sealed before TIME (ISO 8601 or local 'YYYY-MM-DD HH:MM[:SS]')")
    .option('--latest', 'the newest snapshot', false)
    .option('--component <kind:name...>', 'restore only these components (repeatable)')
    .option('--to-site <site>', "restore into another site than the snapshot's own")
    .option('--no-safety-snapshot', 'do not snapshot the current state first')
    .option('--resume <job>', 'continue an interrupted restore job')
    .option('--from <repository>', "primary (default) or secondary: restore from the copies in the site's secondary repository")
    .option('--yes', 'do not ask for confirmation', false)
    .action((f: RestoreFlags, cmd: Command) =>
      withApi(cmd, (api, g) =>
        runRestore(
          {
            ...(f.site === undefined ? {} : { site: f.site }),
            ...(f.snapshot === undefined ? {} : { snapshot: f.snapshot }),
            ...(f.before === undefined ? {} : { before: f.before }),
            ...(f.toSite === undefined ? {} : { toSite: f.toSite }),
            ...(f.resume === undefined ? {} : { resume: f.resume }),
            ...(f.from === undefined ? {} : { from: f.from }),
            latest: f.latest,
            components: f.component ?? [],
            safetySnapshot: f.safetySnapshot,
            yes: f.yes,
            json: g.json,
          },
          { api, io, term },
        ),
      ),
    );
}

function registerVerify(program: Command, ctx: RegisterContext): void {
  const { io, term, withApi } = ctx;
  program
    .command('verify')
    .description('verify a snapshot: repository check, restore drill into sandboxes, integrity check; the result is kept with the snapshot')
    .requiredOption('--site <site>', 'the site')
    .option('--snapshot <id>', "the snapshot (default: the site's newest)")
    .option('--read-data', 'read every stored byte of the repository, not only its structure', false)
    .option('--from <repository>', "primary (default) or secondary: verify the copy in the site's secondary repository (not kept with the snapshot)")
    .action((opts: { site: string; snapshot?: string; readData: boolean; from?: string }, cmd: Command) =>
      withApi(cmd, (api, g) =>
        runVerify(
          { site: opts.site, readData: opts.readData, json: g.json, ...(opts.snapshot === undefined ? {} : { snapshot: opts.snapshot }), ...(opts.from === undefined ? {} : { from: opts.from }) },
          { api, io, term },
        ),
      ),
    );
}

function registerJobsAndCatalog(program: Command, ctx: RegisterContext): void {
  const { io, term, withApi } = ctx;
  const jobs = program.command('jobs').description('snapshot and restore jobs: records and event logs');
  jobs
    .command('list')
    .description('jobs, newest first')
    .option('--site <site>', 'only jobs of this site')
    .option('--limit <n>', 'at most N jobs')
    .action((opts: { site?: string; limit?: string }, cmd: Command) =>
      withApi(cmd, async (api, g) => {
        const limit = opts.limit === undefined ? undefined : parsePositiveInt(opts.limit, '--limit');
        const filter = { ...(opts.site === undefined ? {} : { site: opts.site }), ...(limit === undefined ? {} : { limit }) };
        await runJobsList({ ...filter, json: g.json }, { api, io, term });
      }),
    );
  jobs
    .command('show')
    .description("one job's record and detail")
    .argument('<job>', 'the job id')
    .action((id: string, _opts, cmd: Command) => withApi(cmd, (api, g) => runJobsShow({ id, json: g.json }, { api, io, term })));
  jobs
    .command('logs')
    .description("a job's events; --follow waits for the rest and exits with the job's result")
    .argument('<job>', 'the job id')
    .option('--follow', 'keep printing until the job ends', false)
    .action((id: string, opts: { follow: boolean }, cmd: Command) =>
      withApi(cmd, (api, g) => runJobsLogs({ id, follow: opts.follow, json: g.json }, { api, io, term })),
    );

  const catalog = program.command('catalog').description('the catalog of sealed snapshots');
  catalog
    .command('rebuild')
    .description("rebuild a site's catalog from its repository alone")
    .requiredOption('--site <site>', 'the site')
    .action((opts: { site: string }, cmd: Command) =>
      withApi(cmd, (api, g) => runCatalogRebuild({ site: opts.site, json: g.json }, { api, io, term })),
    );

  const repo = program.command('repo').description("a site's backup repository");
  repo
    .command('qualify')
    .description("write, list, read back and delete a test snapshot through the agents' and the maintenance credentials; measure throughput; check the agents cannot delete")
    .requiredOption('--site <site>', 'the site')
    .option('--size-mib <n>', 'size of the test object in MiB (default 16)')
    .action((opts: { site: string; sizeMib?: string }, cmd: Command) =>
      withApi(cmd, (api, g) =>
        runRepoQualify({ site: opts.site, ...(opts.sizeMib !== undefined ? { sizeMiB: parsePositiveInt(opts.sizeMib, '--size-mib') } : {}), json: g.json }, { api, io, term }),
      ),
    );
}

/** Adds `snapshot`, `restore`, `verify`, `jobs` and `catalog` to the program. */
export function registerJobCommands(program: Command, ctx: RegisterContext): void {
  registerSnapshot(program, ctx);
  registerRestore(program, ctx);
  registerVerify(program, ctx);
  registerJobsAndCatalog(program, ctx);
}
