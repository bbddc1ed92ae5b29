/**
 * `retention set|show|apply`: a site's policy (KV), what it keeps and removes and why, and applying it
 * as a `prune` job under the site's lease (no snapshot, verify or other prune of the site meanwhile):
 * the removed cuts leave the catalog first (nothing can pick them any more), then every repository
 * snapshot of theirs is forgotten and the repository pruned — and so are their copies in the site's
 * secondary repository, when it has one (copies follow the primary's policy).
 */
import { NotFoundError } from '../../shared/errors.js';
import { checkSiteId } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import { parseSnapshotTags, siteTag } from '../../shared/tags.js';
import type { JobRunner, RunningJob } from './jobs.js';
import type { LeaseMode, SiteLeases } from './leases.js';
import type { CatalogStore, SiteRepositories } from './ports.js';
import { applyPolicy, checkPolicy, type RetentionDecision, type RetentionPolicy } from './retention.js';

export interface RetentionStore {
  get(site: string): Promise<RetentionPolicy | undefined>;
  put(site: string, policy: RetentionPolicy): Promise<void>;
}

export interface RetentionPlan {
  site: string;
  policy: RetentionPolicy;
  /** Every sealed cut, newest first. */
  decisions: RetentionDecision[];
}

export type RetentionInput = Omit<RetentionPolicy, 'updatedAt'>;

export class RetentionService {
  private readonly now: () => Date;

  constructor(
    private readonly deps: {
      store: RetentionStore;
      catalog: CatalogStore;
      repositories: SiteRepositories;
      jobs: JobRunner;
      leases: SiteLeases;
      logger: Logger;
      now?: () => Date;
    },
  ) {
    this.now = deps.now ?? (() => new Date());
  }

  async set(site: string, input: RetentionInput): Promise<RetentionPolicy> {
    checkSiteId(site);
    checkPolicy(input);
    const policy = { ...input, updatedAt: this.now() };
    await this.deps.store.put(site, policy);
    return policy;
  }

  async show(site: string): Promise<RetentionPolicy> {
    const p = await this.deps.store.get(checkSiteId(site));
    if (!p) throw new NotFoundError(`site '${site}' has no retention policy; set one with: ffkeeper retention set --site ${site} --keep-last N …`);
    return p;
  }

  /** What the policy keeps and removes now (the dry run). */
  async plan(site: string): Promise<RetentionPlan> {
    const policy = await this.show(site);
    const cuts = (await this.deps.catalog.list(site)).map((m) => ({ cutId: m.cutId, createdAt: m.createdAt }));
    return { site, policy, decisions: applyPolicy(cuts, policy) };
  }

  /** Applies the policy as a `prune` job holding the site's lease; refused (or waits) while the site is busy. */
  async apply(site: string, mode: LeaseMode = { wait: false }): Promise<RunningJob> {
    await this.show(site); // no policy: refuse before any job exists
    return this.deps.jobs.start(
      'prune',
      site,
      async (ctx) => {
        ctx.step('plan');
        const plan = await this.plan(site); // under the lease: no cut can be sealed meanwhile
        const removed = plan.decisions.filter((d) => !d.keep).map((d) => d.cutId);
        ctx.detail.removed = removed;
        ctx.detail.kept = plan.decisions.filter((d) => d.keep).map((d) => d.cutId);
        await ctx.save();
        ctx.message(`${plan.decisions.length} sealed cuts: keeping ${plan.decisions.length - removed.length}, removing ${removed.length}`);
        if (removed.length === 0) return;
        ctx.step('uncatalog', `removing ${removed.length} cuts from the catalog`);
        for (const id of removed) await this.deps.catalog.delete(site, id);
        ctx.step('forget');
        const repo = await this.deps.repositories.open(site);
        const gone = new Set(removed);
        const snaps = (await repo.listSnapshots({ tags: [siteTag(site)] }, { signal: ctx.signal })).filter((s) => {
          const t = parseSnapshotTags(s.tags);
          return t !== undefined && gone.has(t.cutId);
        });
        ctx.message(`forgetting ${snaps.length} repository snapshots of ${removed.length} cuts and pruning`);
        const r = await repo.forget({ snapshotIds: snaps.map((s) => s.id), prune: true }, { signal: ctx.signal });
        ctx.detail.repositorySnapshotsRemoved = r.removed.length;
        await ctx.save();
        ctx.message(`removed ${removed.length} cuts (${r.removed.length} repository snapshots); repository pruned`);
        const secondary = await this.deps.repositories.secondary(site);
        if (!secondary) return;
        ctx.step('forget-copies');
        const copies = (await secondary.repository.listSnapshots({ tags: [siteTag(site)] }, { signal: ctx.signal })).filter((s) => gone.has(parseSnapshotTags(s.tags)?.cutId ?? ''));
        if (copies.length === 0) return;
        const c = await secondary.repository.forget({ snapshotIds: copies.map((s) => s.id), prune: true }, { signal: ctx.signal });
        ctx.detail.secondarySnapshotsRemoved = c.removed.length;
        await ctx.save();
        ctx.message(`removed their copies from the secondary repository (${c.removed.length} repository snapshots); it was pruned`);
      },
      {},
      this.deps.leases.forJob(site, 'prune', mode),
    );
  }
}
