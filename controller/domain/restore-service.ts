/** What the Controller service needs of restores (implemented over the restore orchestrator). */
import { ConflictError, IllegalStateError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { summarize, type SnapshotSummary } from '../../shared/manifest.js';
import type { JobContext, JobRunner, RunningJob } from './jobs.js';
import type { SiteLeases } from './leases.js';
import { measured, noMetrics, type ControllerMetrics } from './metrics.js';
import type { JobStore } from './ports.js';
import type { RestoreOrchestrator } from './restore/orchestrator.js';
import type { RestoreOutcome, RestoreRequest } from './restore/types.js';

export type { SnapshotSelector } from './restore/types.js';
/** What an operator asks a restore for (one definition: the orchestrator's). */
export type RestoreArgs = RestoreRequest;

export interface RestorePlanView {
  snapshot: SnapshotSummary;
  targetSite: string;
  safetySnapshot: boolean;
  steps: { host: string; component: string; action: string }[];
}

export interface RestoreService {
  plan(req: RestoreArgs): Promise<RestorePlanView>;
  start(req: RestoreArgs): Promise<RunningJob>;
  resume(jobId: string): Promise<RunningJob>;
}

/** RestoreService over the restore orchestrator: every restore runs as a job, resumable by id. */
export class OrchestratedRestores implements RestoreService {
  constructor(
    private readonly deps: { orchestrator: RestoreOrchestrator; jobs: JobRunner; jobStore: JobStore; leases?: SiteLeases; metrics?: ControllerMetrics },
  ) {}

  /** Runs one restore (or resumption) and reports its outcome on the target site. */
  private measure(ctx: JobContext, site: string, work: () => Promise<unknown>): Promise<unknown> {
    const metrics = this.deps.metrics ?? noMetrics;
    const downtime = (): number => (ctx.detail.progress as { writersStoppedMs?: number } | undefined)?.writersStoppedMs ?? 0;
    return measured(work, (ok, durationMs) => metrics.restoreFinished(site, { ok, durationMs, writersStoppedMs: downtime() }));
  }

  async plan(req: RestoreArgs): Promise<RestorePlanView> {
    const p = await this.deps.orchestrator.plan(req);
    const steps = p.notes.length > 0 ? [...p.steps, ...p.notes.map((n) => ({ host: '', component: '', action: `note: ${n}` }))] : p.steps;
    return { snapshot: summarize(p.snapshot), targetSite: p.targetSite, safetySnapshot: p.safetySnapshot, steps };
  }

  /**
   * Starts a restore job. It holds the target site's lease for its whole run (no snapshot, prune or
   * verify of the site runs beside it; its safety snapshot runs inside it): refused, naming the holder,
   * while another job holds it.
   */
  start(req: RestoreArgs): Promise<RunningJob> {
    const target = req.toSite || req.site;
    const { leases } = this.deps;
    return this.deps.jobs.start(
      'restore',
      target,
      async (ctx) => {
        try {
          await this.measure(ctx, target, () => this.deps.orchestrator.run(ctx, req));
        } finally {
          await summarizeDetail(ctx);
        }
      },
      {},
      leases ? leases.forJob(target, 'restore', { wait: false }) : {},
    );
  }

  async resume(jobId: string): Promise<RunningJob> {
    const record = await this.deps.jobStore.get(jobId);
    if (!record) throw new NotFoundError(`job '${jobId}' not found`);
    if (record.kind !== 'restore') throw new ValidationError(`job '${jobId}' is a ${record.kind} job; only restores can be resumed`, { field: 'job' });
    if (record.phase === 'Completed') throw new IllegalStateError(`restore job '${jobId}' already completed; nothing to resume`);
    if (this.deps.jobs.isRunning(jobId)) throw new ConflictError(`restore job '${jobId}' is still running`);
    const lease = await this.deps.leases?.acquire(record.site, 'restore', jobId, { wait: false });
    try {
      return await this.deps.jobs.resume(record, async (ctx) => {
        try {
          await this.measure(ctx, record.site, () => this.deps.orchestrator.resume(ctx));
        } finally {
          await summarizeDetail(ctx);
          await lease?.release();
        }
      });
    } catch (err) {
      await lease?.release();
      throw err;
    }
  }
}

/** What a restore job did, from its detail: the orchestrator's outcome first, then its plan and progress so far. */
export interface RestoreFacts {
  snapshotId?: string;
  safetySnapshotId?: string;
  integrity?: RestoreOutcome['integrity'];
  /** How long FindFace's writers were stopped; 0 before they were. */
  writersStoppedMs: number;
}

/** The one reading of a restore job's detail (the job's summary below and the console's restore report). */
export function restoreFacts(detail: Record<string, unknown>): RestoreFacts {
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const outcome = detail.outcome as Partial<RestoreOutcome> | undefined;
  const progress = detail.progress as { safetySnapshotId?: string; writersStoppedMs?: number } | undefined;
  const plan = detail.plan as { snapshot?: { cutId?: string } } | undefined;
  const snapshotId = str(outcome?.snapshotId) ?? str(detail.snapshotId) ?? str(plan?.snapshot?.cutId);
  const safetySnapshotId = str(outcome?.safetySnapshotId) ?? str(detail.safetySnapshotId) ?? str(progress?.safetySnapshotId);
  const integrity = outcome?.integrity ?? (detail.integrity as RestoreOutcome['integrity'] | undefined);
  const stopped = progress?.writersStoppedMs ?? detail.writersStoppedMs;
  return {
    ...(snapshotId ? { snapshotId } : {}),
    ...(safetySnapshotId ? { safetySnapshotId } : {}),
    ...(integrity ? { integrity } : {}),
    writersStoppedMs: typeof stopped === 'number' ? stopped : 0,
  };
}

/**
 * Puts the facts operators look for at the top of the job detail (`snapshotId`, `safetySnapshotId`,
 * `integrity`), taken from the orchestrator's own records, so `jobs show` and the CLI report find them.
 */
async function summarizeDetail(ctx: JobContext): Promise<void> {
  const facts = restoreFacts(ctx.detail);
  if (facts.snapshotId) ctx.detail.snapshotId = facts.snapshotId;
  if (facts.safetySnapshotId) ctx.detail.safetySnapshotId = facts.safetySnapshotId;
  if (facts.integrity) ctx.detail.integrity = facts.integrity;
  ctx.detail.writersStoppedMs = facts.writersStoppedMs;
  await ctx.save().catch(() => undefined);
}
