/**
 * `snapshot import` (issue 19): an export in FindFace's own backup layout (reference 000, as `snapshot
 * export` writes it, or as an operator made it with FindFace's tools) brought into the site's repository as
 * a new sealed snapshot, which restore, verify, export and retention then take like any other. A job of kind
 * `import`, holding the site's lease:
 *
 * 1. the components, and where each lives, are those of the site's newest sealed snapshot (the base):
 *    the export does not say which host held what, nor carry a shard's schema and users;
 * 2. per host in parallel, the agent reads its part of the export in the directory `fromDir` **of its
 *    host** and stores each component as an artifact tagged with the new snapshot's id
 *    (agent/domain/import.ts);
 * 3. the manifest is written and sealed as a cut's is — only then does the snapshot exist. If any host
 *    fails, what the others stored is removed and no snapshot appears.
 *
 * The snapshot is dated when the exported data was current (the export's own cut time when it holds
 * ffkeeper's manifest), never later than now.
 */
import { FfkError, NotFoundError, ValidationError, toFfkError } from '../../../shared/errors.js';
import { checkSiteId } from '../../../shared/ids.js';
import type { Logger } from '../../../shared/logger.js';
import { artifactsByHost, MANIFEST_VERSION, modelsOf, totalsOf, type ComponentArtifact, type Manifest } from '../../../shared/manifest.js';
import { cutTag } from '../../../shared/tags.js';
import { deadlineFor, type AgentDeadlines } from '../deadlines.js';
import { onlineAgentAddress, type FleetInventory } from '../fleet.js';
import { newJobId, type JobContext, type JobRunner, type RunningJob } from '../jobs.js';
import type { LeaseMode, SiteLeases } from '../leases.js';
import type { AgentClient, CatalogStore, SiteRepositories } from '../ports.js';
import type { ManifestSealer } from '../snapshot/seal.js';
import { forgetCut, storeManifest } from '../snapshot/stored-manifests.js';
import { messageOf } from '../verify/steps.js';

export interface ImportRequest {
  site: string;
  /** An absolute directory on each agent's host. */
  fromDir: string;
  reason?: string;
}

export interface ImportServiceDeps {
  catalog: CatalogStore;
  fleet: FleetInventory;
  agents: AgentClient;
  repositories: SiteRepositories;
  jobs: JobRunner;
  leases?: SiteLeases;
  sealer: ManifestSealer;
  deadlines: AgentDeadlines;
  logger: Logger;
  now?: () => Date;
}

/** What one host stored. */
interface HostImport {
  host: string;
  artifacts: ComponentArtifact[];
  time: Date;
  source?: { site: string; cutId: string };
}

export class ImportService {
  private readonly now: () => Date;

  constructor(private readonly deps: ImportServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /** Starts the import job; a bad request, or a site without a sealed snapshot, is refused before any job exists. */
  async start(req: ImportRequest, mode: LeaseMode = { wait: false }): Promise<RunningJob> {
    const base = await this.select(req);
    const leases = this.deps.leases;
    return this.deps.jobs.start(
      'import',
      req.site,
      async (ctx) => {
        await this.run(ctx, base, req);
      },
      { fromDir: req.fromDir, baseSnapshotId: base.cutId },
      leases ? leases.forJob(req.site, 'import', mode) : {},
    );
  }

  private async select(req: ImportRequest): Promise<Manifest> {
    checkSiteId(req.site);
    if (!req.fromDir || !req.fromDir.startsWith('/') || req.fromDir.split('/').includes('..')) {
      throw new ValidationError(`import directory '${req.fromDir}' must be an absolute path without '..' (a directory on each agent's host)`, { field: 'fromDir' });
    }
    const [base] = await this.deps.catalog.list(req.site);
    if (!base) {
      throw new NotFoundError(
        `site '${req.site}' has no sealed snapshot: an import takes the site's components, their hosts and each shard's schema from the newest one — take one first (ffkeeper snapshot create --site ${req.site})`,
      );
    }
    return base;
  }

  /** Imports every host's part and seals the snapshot; returns its manifest. */
  async run(ctx: JobContext, base: Manifest, req: ImportRequest): Promise<Manifest> {
    const site = base.site;
    const cutId = newJobId(this.now(), 'c');
    ctx.detail.snapshotId = cutId;
    ctx.step('import', `importing ${req.fromDir} on each host of site '${site}' as snapshot '${cutId}' (components as in snapshot '${base.cutId}')`);
    const access = await this.deps.repositories.access(site);
    const byHost = artifactsByHost(base.components);
    const results = await Promise.allSettled(
      [...byHost].map(async ([host, artifacts]): Promise<HostImport> => {
        try {
          const address = onlineAgentAddress(this.deps.fleet, site, host, 'its part of the import');
          ctx.message(`import on host '${host}': ${artifacts.map((a) => a.component).join(', ')} from ${req.fromDir}`);
          const done = await this.deps.agents.importSnapshot(
            address,
            { jobId: ctx.id, site, cutId, fromDir: req.fromDir, base: artifacts, repository: access },
            { ...deadlineFor(this.deps.deadlines, 'transferMs', `import on host '${host}'`), signal: ctx.signal },
          );
          ctx.message(`import on host '${host}': ${done.artifacts.map((a) => `${a.component} (${a.bytes} bytes, ${a.files} file(s))`).join(', ')}`);
          return { host, ...done };
        } catch (err) {
          throw new FfkError(toFfkError(err).code, `host '${host}': ${messageOf(err)}`, { cause: err });
        }
      }),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      if (failed.length > 0) {
        const first = toFfkError(failed[0]);
        throw new FfkError(first.code, `import of ${req.fromDir} into site '${site}' failed: ${failed.map(messageOf).join('; ')}`, { cause: failed[0] });
      }
      const manifest = this.manifest(ctx, base, req, cutId, done);
      await storeManifest(await this.deps.repositories.open(site), manifest, this.deps.sealer);
      await this.deps.catalog.put(manifest);
      ctx.detail.components = manifest.components.map((c) => ({ host: c.host, component: c.component, bytes: c.bytes, files: c.files }));
      await ctx.save();
      ctx.step('done', `snapshot '${cutId}' of site '${site}' sealed: ${manifest.components.length} component(s), ${manifest.totals.bytes} bytes (${manifest.reason}), dated ${manifest.createdAt.toISOString()}`);
      return manifest;
    } catch (err) {
      await this.discardPartial(ctx, site, cutId);
      throw err;
    }
  }

  private manifest(ctx: JobContext, base: Manifest, req: ImportRequest, cutId: string, hosts: HostImport[]): Manifest {
    const sources = new Map(hosts.flatMap((h) => (h.source ? [[`${h.source.site}/${h.source.cutId}`, h.source]] : [])));
    if (sources.size > 1) {
      throw new ValidationError(`the hosts' exports in ${req.fromDir} are of different snapshots (${[...sources.keys()].join(', ')}): one export per import`, { field: 'fromDir' });
    }
    const [source] = sources.values();
    const components = hosts.flatMap((h) => h.artifacts.map((a) => ({ ...a, host: h.host })));
    const now = this.now();
    const times = hosts.map((h) => h.time.getTime());
    return {
      version: MANIFEST_VERSION,
      site: base.site,
      cutId,
      jobId: ctx.id,
      reason: req.reason || `import of ${req.fromDir}${source ? ` (snapshot ${source.cutId} of site ${source.site})` : ''}`,
      createdAt: new Date(Math.min(now.getTime(), ...times)),
      sealedAt: now,
      freezeWindowMs: 0,
      agents: hosts.map((h) => ({ host: h.host, components: h.artifacts.map((a) => a.component), freezeWindowMs: 0 })),
      components,
      totals: totalsOf(components),
      models: modelsOf(components),
    };
  }

  /** Removes what the hosts stored for a snapshot that is not sealed (without a manifest it is invisible anyway). */
  private async discardPartial(ctx: JobContext, site: string, cutId: string): Promise<void> {
    try {
      const removed = await forgetCut(await this.deps.repositories.open(site), cutId);
      if (removed > 0) ctx.message(`removed ${removed} repository snapshot(s) the failed import had stored`);
    } catch (err) {
      this.deps.logger.warn({ err, site, cutId }, 'could not remove the failed import’s partial snapshots');
      ctx.message(`warning: the repository snapshots tagged ${cutTag(cutId)} could not be removed (${messageOf(err)}); no manifest names them, prune removes them`);
    }
  }
}
