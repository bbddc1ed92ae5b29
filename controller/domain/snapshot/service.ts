/**
 * Snapshot use cases behind the Controller service: create (as a job), list, show, delete, and rebuild
 * a site's catalog from the manifests in its repository.
 */
import { FfkError, NotFoundError } from '../../../shared/errors.js';
import { checkSiteId } from '../../../shared/ids.js';
import type { Logger } from '../../../shared/logger.js';
import { summarize, type Manifest, type SnapshotSummary } from '../../../shared/manifest.js';
import { cutTag, siteTag } from '../../../shared/tags.js';
import type { JobRunner, RunningJob } from '../jobs.js';
import type { LeaseMode, SiteLeases } from '../leases.js';
import type { CatalogStore, SiteRepositories } from '../ports.js';
import type { SnapshotCoordinator } from './coordinator.js';
import type { ManifestSealer } from './seal.js';
import { readStoredManifests } from './stored-manifests.js';

/** How long a snapshot taken on behalf of another job (a restore's safety snapshot) waits for the site. */
const SAFETY_WAIT_MS = 10 * 60_000;


export class SnapshotService {
  constructor(
    private readonly deps: {
      coordinator: SnapshotCoordinator;
      jobs: JobRunner;
      catalog: CatalogStore;
      repositories: SiteRepositories;
      /** Checks the seals of manifests read back from a repository (seal.ts). */
      sealer: ManifestSealer;
      /** Excludes other snapshots, pruning and verification of the site while a snapshot runs. */
      leases: SiteLeases;
      logger: Logger;
    },
  ) {}

  /**
   * Starts a snapshot job of `site`. While another snapshot (or a prune, a verify) of the site runs, the
   * request is refused with a ConflictError naming it, or with `wait` waits for it to end.
   */
  create(req: { site: string; leaseMs?: number; reason?: string; wait?: LeaseMode; leaseHeld?: boolean }): Promise<RunningJob> {
    checkSiteId(req.site);
    const reason = req.reason || 'manual';
    return this.deps.jobs.start(
      'snapshot',
      req.site,
      async (ctx) => {
        await this.deps.coordinator.run(ctx, { site: req.site, reason, ...(req.leaseMs ? { leaseMs: req.leaseMs } : {}) });
      },
      {},
      // `leaseHeld`: the caller's job (a restore) holds the site's lease and this snapshot runs inside it.
      req.leaseHeld ? {} : this.deps.leases.forJob(req.site, 'snapshot', req.wait ?? { wait: false }),
    );
  }

  /**
   * Takes a snapshot as its own job and waits for it (e.g. the safety snapshot before a restore). With
   * `leaseHeld` the caller holds the site's lease already (a restore) and the snapshot runs under it.
   */
  async take(site: string, reason: string, options: { leaseHeld?: boolean } = {}): Promise<Manifest> {
    const job = await this.create({ site, reason, wait: { wait: true, timeoutMs: SAFETY_WAIT_MS }, ...(options.leaseHeld ? { leaseHeld: true } : {}) });
    const record = await job.done;
    if (record.phase !== 'Completed') {
      throw new FfkError(record.error?.code ?? 'INTERNAL', `snapshot of site '${site}' (${reason}) failed in job ${record.id}: ${record.error?.message ?? record.phase}`);
    }
    const id = record.detail.snapshotId as string;
    const m = await this.deps.catalog.get(site, id);
    if (!m) throw new NotFoundError(`snapshot '${id}' of job ${record.id} is not in the catalog`);
    return m;
  }

  async list(site: string): Promise<SnapshotSummary[]> {
    checkSiteId(site);
    return (await this.deps.catalog.list(site)).map(summarize);
  }

  async get(id: string, site?: string): Promise<Manifest> {
    const m = site ? await this.deps.catalog.get(site, id) : await this.deps.catalog.find(id);
    if (!m) throw new NotFoundError(site ? `snapshot '${id}' not found for site '${site}'` : `snapshot '${id}' not found`);
    return m;
  }

  /** Removes a whole cut: from the catalog first (so nothing can pick it any more), then from the repository. */
  async delete(site: string, id: string): Promise<number> {
    checkSiteId(site);
    await this.get(id, site);
    return this.deps.leases.with(site, 'delete', id, { wait: false }, async () => {
      await this.deps.catalog.delete(site, id);
      const repo = await this.deps.repositories.open(site);
      const snaps = await repo.listSnapshots({ tags: [siteTag(site), cutTag(id)] });
      if (snaps.length === 0) return 0;
      const r = await repo.forget({ snapshotIds: snaps.map((s) => s.id) });
      return r.removed.length;
    });
  }

  /**
   * Makes the site's catalog match the manifests stored in its repository. A stored manifest the controller
   * did not seal (where agents' credentials may append: an unsealed one is accepted only from a repository
   * whose agents hold the controller's own credentials), one dated in the future, or one that does not
   * decode is left out and reported in `flagged`, one line each.
   */
  async rebuildCatalog(site: string): Promise<{ snapshots: number; added: number; removed: number; flagged: string[] }> {
    checkSiteId(site);
    const { maintenance: repo, separate } = await this.deps.repositories.credentialSets(site);
    const { manifests, flagged } = await readStoredManifests(repo, site, { sealer: this.deps.sealer, acceptUnsealed: !separate, now: new Date() });
    if (flagged.length > 0) this.deps.logger.warn({ site, flagged }, 'catalog rebuild left out manifests it cannot trust');
    const before = new Set((await this.deps.catalog.list(site)).map((m) => m.cutId));
    const ids = new Set(manifests.map((m) => m.cutId));
    for (const m of manifests) await this.deps.catalog.put(m);
    const removed = [...before].filter((id) => !ids.has(id));
    for (const id of removed) await this.deps.catalog.delete(site, id);
    return { snapshots: manifests.length, added: [...ids].filter((id) => !before.has(id)).length, removed: removed.length, flagged };
  }
}
