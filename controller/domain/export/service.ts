/**
 * `snapshot export` (issue 19): a sealed snapshot written in FindFace's own backup layout (reference 000),
 * so a site can be rebuilt with FindFace's documented tools alone and a vendor's support engineer gets
 * what they expect. A job of kind `export`, holding the site's lease (a prune cannot remove the snapshot
 * meanwhile), per host of the snapshot in parallel:
 *
 * 1. its Tarantool and uploads artifacts restored into a sandbox of its agent (as a verify drill does:
 *    scratch instances started from the checkpoint files, temp directories; the live site is not touched);
 * 2. the agent writes its part into the directory `toDir` **of its host** — galleries as
 *    `<gallery>.json` (findface-storage-api-dump's files), the database's plain dump, each upload root as
 *    a `.tar.gz`, and the manifest — as FindFace's procedure runs each command on the server holding the
 *    data (agent/domain/export.ts);
 * 3. the sandbox is dropped, whatever happened.
 *
 * The job's detail lists every file written, per host, with its size and sha256.
 */
import { FfkError, NotFoundError, ValidationError, toFfkError } from '../../../shared/errors.js';
import { checkSiteId } from '../../../shared/ids.js';
import type { Logger } from '../../../shared/logger.js';
import { artifactsByHost, type Manifest } from '../../../shared/manifest.js';
import { deadlineFor, type AgentDeadlines } from '../deadlines.js';
import { onlineAgentAddress, type FleetInventory } from '../fleet.js';
import type { JobContext, JobRunner, RunningJob } from '../jobs.js';
import type { LeaseMode, SiteLeases } from '../leases.js';
import type { AgentClient, CatalogStore, ExportedFileInfo, SiteRepositories } from '../ports.js';
import { drillHost } from '../verify/drill.js';
import { messageOf, StepLog } from '../verify/steps.js';

export interface ExportRequest {
  site: string;
  snapshotId: string;
  /** An absolute directory on each agent's host. */
  toDir: string;
}

export interface ExportServiceDeps {
  catalog: CatalogStore;
  fleet: FleetInventory;
  agents: AgentClient;
  repositories: SiteRepositories;
  jobs: JobRunner;
  leases?: SiteLeases;
  deadlines: AgentDeadlines;
  logger: Logger;
}

/** What one host wrote. */
export interface HostExport {
  host: string;
  dir: string;
  files: ExportedFileInfo[];
}

export class ExportService {
  constructor(private readonly deps: ExportServiceDeps) {}

  /** Starts the export job; a bad request or an unknown snapshot is refused before any job exists. */
  async start(req: ExportRequest, mode: LeaseMode = { wait: false }): Promise<RunningJob> {
    const manifest = await this.select(req);
    const leases = this.deps.leases;
    return this.deps.jobs.start(
      'export',
      req.site,
      async (ctx) => {
        await this.run(ctx, manifest, req.toDir);
      },
      { snapshotId: manifest.cutId, toDir: req.toDir },
      leases ? leases.forJob(req.site, 'export', mode) : {},
    );
  }

  private async select(req: ExportRequest): Promise<Manifest> {
    checkSiteId(req.site);
    if (!req.snapshotId) throw new ValidationError('the snapshot to export is missing', { field: 'snapshotId' });
    if (!req.toDir || !req.toDir.startsWith('/') || req.toDir.split('/').includes('..')) {
      throw new ValidationError(`export directory '${req.toDir}' must be an absolute path without '..' (a directory on each agent's host)`, { field: 'toDir' });
    }
    const manifest = await this.deps.catalog.get(req.site, req.snapshotId);
    if (!manifest) throw new NotFoundError(`snapshot '${req.snapshotId}' not found for site '${req.site}'`);
    return manifest;
  }

  /** Exports every host's part; throws naming the hosts that failed (the others' files stay, listed). */
  async run(ctx: JobContext, manifest: Manifest, toDir: string): Promise<HostExport[]> {
    ctx.step('export', `exporting snapshot '${manifest.cutId}' of site '${manifest.site}' in FindFace's layout into ${toDir} on each host`);
    const access = await this.deps.repositories.access(manifest.site);
    const byHost = artifactsByHost(manifest.components);
    const manifestJson = JSON.stringify(manifest, null, 2);
    const log = new StepLog();
    const results = await Promise.allSettled(
      [...byHost].map(async ([host, artifacts]): Promise<HostExport> => {
        const sandboxed = artifacts.filter((a) => a.kind !== 'postgres');
        let drilled = false;
        let address = '';
        try {
          address = onlineAgentAddress(this.deps.fleet, manifest.site, host, 'its part of the export');
          let sandbox: Awaited<ReturnType<typeof drillHost>>['components'] = [];
          if (sandboxed.length > 0) {
            drilled = true;
            sandbox = (
              await drillHost(
                { ctx, agents: this.deps.agents, access, deadline: deadlineFor(this.deps.deadlines, 'transferMs', 'restore into a sandbox'), log },
                { host, address, artifacts: sandboxed },
              )
            ).components;
          }
          ctx.message(`export on host '${host}': writing ${artifacts.map((a) => a.component).join(', ')} into ${toDir}`);
          const written = await this.deps.agents.exportSnapshot(
            address,
            { jobId: ctx.id, artifacts, repository: access, sandboxId: ctx.id, sandbox: sandbox.map(({ agentHost: _h, ...c }) => c), toDir, manifestJson },
            { ...deadlineFor(this.deps.deadlines, 'transferMs', `export on host '${host}'`), signal: ctx.signal },
          );
          ctx.message(`export on host '${host}': ${written.files.map((f) => `${f.name} (${f.bytes} bytes)`).join(', ')}`);
          return { host, dir: written.dir, files: written.files };
        } catch (err) {
          throw new FfkError(toFfkError(err).code, `host '${host}': ${messageOf(err)}`, { cause: err });
        } finally {
          if (drilled) await this.drop(ctx, manifest.site, host, address);
        }
      }),
    );
    const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    ctx.detail.hosts = done.map((h) => ({ host: h.host, dir: h.dir, files: h.files }));
    await ctx.save();
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (failed.length > 0) {
      const first = toFfkError(failed[0]);
      throw new FfkError(first.code, `export of snapshot '${manifest.cutId}' of site '${manifest.site}' failed: ${failed.map(messageOf).join('; ')}`, { cause: failed[0] });
    }
    const files = done.reduce((n, h) => n + h.files.length, 0);
    const bytes = done.reduce((n, h) => n + h.files.reduce((m, f) => m + f.bytes, 0), 0);
    ctx.step('done', `snapshot '${manifest.cutId}' of site '${manifest.site}' exported: ${files} file(s), ${bytes} bytes into ${toDir} on ${done.map((h) => `'${h.host}'`).join(', ')}`);
    return done;
  }

  private async drop(ctx: JobContext, site: string, host: string, address: string): Promise<void> {
    try {
      await this.deps.agents.dropSandbox(address, ctx.id, deadlineFor(this.deps.deadlines, 'checkMs', `dropping the sandbox on host '${host}'`));
    } catch (err) {
      ctx.message(`warning: sandbox ${ctx.id} of site '${site}' NOT dropped on host '${host}' (its agent drops it at its next start): ${messageOf(err)}`);
    }
  }
}
