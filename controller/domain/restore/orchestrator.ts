/**
 * The restore orchestrator (DESIGN.md §6): selects a sealed snapshot, maps its components onto the
 * target site's agents, and restores them under a job — safety snapshot first, every component staged
 * while the site runs, writers stopped, every component switched in, writers started, integrity checked
 * (execute.ts).
 * Every step is recorded in the job's detail, so an interrupted or failed restore can be resumed.
 * Free of transports: it talks to agents through `AgentClient` and takes snapshots through `SnapshotTaker`.
 */
import { IllegalStateError, ValidationError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { Manifest } from '../../../shared/manifest.js';
import type { FleetInventory } from '../fleet.js';
import type { JobContext } from '../jobs.js';
import type { AgentDeadlines } from '../deadlines.js';
import type { AgentClient, CatalogStore, SiteRepositories } from '../ports.js';
import { initDetail, readDetail, storedPlanOf } from './detail.js';
import { execute, remainingComponents, takeSafetySnapshot, type Execution, type SnapshotTaker } from './execute.js';
import { buildPlan } from './mapping.js';
import { catalogOf, newestOf, selectSnapshot } from './select.js';
import type { ResolvedRestorePlan, RestoreOutcome, RestoreRequest } from './types.js';

export type { SnapshotTaker } from './execute.js';

export interface RestoreOrchestratorDeps {
  catalog: CatalogStore;
  fleet: FleetInventory;
  agents: AgentClient;
  repositories: SiteRepositories;
  snapshots: SnapshotTaker;
  /** The sealed snapshots in a site's secondary repository (`from: 'secondary'`; of one cut, when given), read from it. */
  secondaryManifests: (site: string, cutId?: string) => Promise<Manifest[]>;
  /** Deadlines of agent calls: unit control, component restores, the integrity check. */
  deadlines: AgentDeadlines;
  logger: Logger;
}

export class RestoreOrchestrator {
  constructor(private readonly deps: RestoreOrchestratorDeps) {}

  /** Resolves what a restore would do, without side effects; throws naming what is wrong. */
  async plan(req: RestoreRequest): Promise<ResolvedRestorePlan> {
    const catalog = req.from === 'secondary' ? catalogOf(await this.deps.secondaryManifests(req.site, req.selector.kind === 'id' ? req.selector.id : undefined)) : this.deps.catalog;
    const snapshot = await selectSnapshot(catalog, req.site, req.selector);
    const targetSite = req.toSite ? req.toSite : snapshot.site;
    const targetAgents = this.deps.fleet.list(targetSite);
    if (targetAgents.length === 0) {
      throw new ValidationError(`site '${targetSite}' has no known agents to restore snapshot '${snapshot.cutId}' into`, {
        field: req.toSite ? 'toSite' : 'site',
      });
    }
    const plan = buildPlan({
      snapshot,
      sourceSite: req.site,
      targetSite,
      components: [...new Set(req.components)],
      safetySnapshot: !req.noSafetySnapshot,
      targetAgents,
      targetNewest: newestOf(await this.deps.catalog.list(targetSite)),
    });
    if (req.from === 'secondary') plan.notes.unshift(`read from the secondary repository of site '${req.site}' (its copy of the snapshot)`);
    return plan;
  }

  /** Plans and carries out a restore under the job `ctx`; the plan and progress go into `ctx.detail`. */
  async run(ctx: JobContext, req: RestoreRequest): Promise<RestoreOutcome> {
    ctx.step('plan', `planning the restore for site '${req.site}'`);
    const plan = await this.plan(req);
    const stored = storedPlanOf(plan, req);
    const progress = initDetail(ctx.detail, stored);
    await ctx.save();
    ctx.message(describePlan(plan, req.from));
    const e = this.execution(ctx, { plan: stored, progress });
    await takeSafetySnapshot(e);
    return execute(e);
  }

  /**
   * Continues an interrupted or failed restore from `ctx.detail`: takes the safety snapshot only if it
   * was never taken, skips the finished components, and does the rest (stop, restore, start, check).
   */
  async resume(ctx: JobContext): Promise<RestoreOutcome> {
    const { plan, progress } = readDetail(ctx.detail, ctx.id);
    if (progress.completed) throw new IllegalStateError(`restore job '${ctx.id}' already completed: there is nothing to resume`);
    const remaining = remainingComponents(plan, progress);
    ctx.step('resume', `resuming the restore of snapshot '${plan.snapshot.cutId}' into site '${plan.targetSite}': ` +
      `${remaining.length} of ${plan.components.length} components left${remaining.length ? ` (${remaining.map((c) => c.ref).join(', ')})` : ''}`);
    const e = this.execution(ctx, { plan, progress });
    if (progress.finished.length === 0 && progress.stoppedWriters.length === 0) await takeSafetySnapshot(e);
    return execute(e);
  }

  private execution(ctx: JobContext, state: Pick<Execution, 'plan' | 'progress'>): Execution {
    const { catalog: _catalog, secondaryManifests: _secondary, logger, ...rest } = this.deps;
    return {
      ctx,
      ...state,
      deps: { ...rest, logger: logger.child({ jobId: ctx.id, site: state.plan.targetSite }) },
      notes: [],
      startedAt: Date.now(),
    };
  }
}

/** The plan in one message for the job's event log. */
function describePlan(plan: ResolvedRestorePlan, from: RestoreRequest['from']): string {
  const comps = plan.components.map((c) => `${c.ref}→${c.host}`).join(', ');
  const notes = plan.notes.length ? `; notes: ${plan.notes.join('; ')}` : '';
  return `restore of snapshot '${plan.snapshot.cutId}' (site '${plan.sourceSite}'${from === 'secondary' ? ', from its secondary repository' : ''}) into site '${plan.targetSite}': ${comps}` +
    `; safety snapshot: ${plan.safetySnapshot ? 'yes' : 'no'}${notes}`;
}
