/**
 * What a restore job keeps in its detail (persisted by `ctx.save()`, as JSON) so `resume` can continue:
 * the plan (with the whole manifest it restores, so a resume does not depend on the catalog), and the
 * progress (safety snapshot id, writers stopped, components finished, the failure). Read back with a
 * schema, so a damaged or foreign detail is named instead of trusted.
 */
import { z } from 'zod';
import { IllegalStateError } from '../../../shared/errors.js';
import type { Manifest, ManifestComponent } from '../../../shared/manifest.js';
import { decodeManifest } from '../../../shared/manifest-codec.js';
import type { ComponentOutcome, ModelCheck, PlannedWriter, ResolvedRestorePlan, RestoreOutcome, RestoreRequest } from './types.js';

/** Format version of the stored detail. */
export const RESTORE_DETAIL_VERSION = 1;

const writerSchema = z.object({ host: z.string(), unit: z.string(), component: z.string(), kind: z.enum(['postgres', 'sf-api']) });
const stepSchema = z.object({ component: z.string(), step: z.string(), ok: z.boolean(), durationMs: z.number(), detail: z.string() });

const storedPlanSchema = z.object({
  version: z.literal(RESTORE_DETAIL_VERSION),
  request: z.object({
    site: z.string(),
    selector: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('id'), id: z.string() }),
      z.object({ kind: z.literal('before'), time: z.coerce.date() }),
      z.object({ kind: z.literal('latest') }),
    ]),
    components: z.array(z.string()),
    toSite: z.string().optional(),
    noSafetySnapshot: z.boolean(),
    from: z.enum(['primary', 'secondary']).optional(),
  }),
  snapshot: z.unknown(),
  sourceSite: z.string(),
  targetSite: z.string(),
  crossSite: z.boolean(),
  safetySnapshot: z.boolean(),
  components: z.array(z.object({ ref: z.string(), kind: z.enum(['postgres', 'tarantool', 'uploads']), sourceHost: z.string(), host: z.string() })).min(1),
  writers: z.array(writerSchema),
  models: z.object({ status: z.enum(['compatible', 'unchecked', 'not-applicable']), detail: z.string() }),
  notes: z.array(z.string()),
});

const progressSchema = z.object({
  safetySnapshotId: z.string().optional(),
  stoppedWriters: z.array(z.object({ host: z.string(), unit: z.string() })),
  writersStoppedAt: z.string().optional(),
  writersStoppedMs: z.number().optional(),
  aside: z.array(z.string()).optional(),
  finished: z.array(z.object({ component: z.string(), host: z.string(), sourceHost: z.string(), steps: z.array(stepSchema) })),
  failed: z.object({ component: z.string(), host: z.string(), stage: z.string(), message: z.string() }).optional(),
  completed: z.boolean(),
});

/** A component as stored: where it goes; its artifact is looked up in the stored manifest. */
export interface StoredComponent {
  ref: string;
  kind: ManifestComponent['kind'];
  sourceHost: string;
  host: string;
}

/** A writer unit as stored. */
export type StoredWriter = Omit<PlannedWriter, 'address'>;

/** The plan as stored in `detail.plan` (no addresses: they are looked up when acting). */
export interface StoredPlan {
  version: typeof RESTORE_DETAIL_VERSION;
  request: RestoreRequest;
  snapshot: Manifest;
  sourceSite: string;
  targetSite: string;
  crossSite: boolean;
  safetySnapshot: boolean;
  components: StoredComponent[];
  /** In stop order; addresses are looked up when acting. */
  writers: StoredWriter[];
  models: ModelCheck;
  notes: string[];
}

/** `detail.progress`: mutated as the restore goes, saved after every change that matters to a resume. */
export interface RestoreProgress {
  safetySnapshotId?: string;
  /** Writer units this job stopped and nobody started since. */
  stoppedWriters: { host: string; unit: string }[];
  /** When the first writer was stopped (ISO), while any stays stopped. */
  writersStoppedAt?: string;
  /** How long the writers were stopped, summed over the times they were (downtime). */
  writersStoppedMs?: number;
  /** Components switched in whose moved-aside previous state is not deleted yet (`componentKey`). */
  aside?: string[];
  /** Components restored, in order (cumulative over resumes). */
  finished: ComponentOutcome[];
  /** The last failure, when the job stopped on one. */
  failed?: { component: string; host: string; stage: string; message: string };
  completed: boolean;
}

export function storedPlanOf(plan: ResolvedRestorePlan, request: RestoreRequest): StoredPlan {
  return {
    version: RESTORE_DETAIL_VERSION,
    request,
    snapshot: plan.snapshot,
    sourceSite: plan.sourceSite,
    targetSite: plan.targetSite,
    crossSite: plan.crossSite,
    safetySnapshot: plan.safetySnapshot,
    components: plan.components.map((c) => ({ ref: c.ref, kind: c.kind, sourceHost: c.sourceHost, host: c.host })),
    writers: plan.writers.map(({ address: _address, ...w }) => w),
    models: plan.models,
    notes: plan.notes,
  };
}

/** Puts a new plan and empty progress into the detail. */
export function initDetail(detail: Record<string, unknown>, plan: StoredPlan): RestoreProgress {
  const progress: RestoreProgress = { stoppedWriters: [], finished: [], completed: false };
  detail.plan = plan;
  detail.progress = progress;
  delete detail.outcome;
  return progress;
}

/** Records the outcome (the CLI and `jobs show` read it from here). */
export function setOutcome(detail: Record<string, unknown>, outcome: RestoreOutcome): void {
  detail.outcome = outcome;
}

/**
 * Reads the plan and progress of an interrupted job back (from memory or from its JSON form). The
 * progress object returned is the one in `detail`, so changes to it are saved with the job.
 */
export function readDetail(detail: Record<string, unknown>, jobId: string): { plan: StoredPlan; progress: RestoreProgress } {
  if (detail.plan === undefined) {
    throw new IllegalStateError(`job '${jobId}' has no restore plan in its detail: it cannot be resumed (start a new restore)`);
  }
  const json = JSON.parse(JSON.stringify(detail.plan)) as unknown;
  const parsed = storedPlanSchema.safeParse(json);
  if (!parsed.success) throw new IllegalStateError(`job '${jobId}': its stored restore plan is invalid (${issue(parsed.error)})`);
  const snapshot = decodeManifest(JSON.stringify(parsed.data.snapshot), `job '${jobId}'`);
  const { toSite, from, ...request } = parsed.data.request;
  const plan: StoredPlan = { ...parsed.data, snapshot, request: { ...request, ...(toSite ? { toSite } : {}), ...(from ? { from } : {}) } };
  const rawProgress = detail.progress ?? { stoppedWriters: [], finished: [], completed: false };
  const progressParsed = progressSchema.safeParse(JSON.parse(JSON.stringify(rawProgress)));
  if (!progressParsed.success) throw new IllegalStateError(`job '${jobId}': its stored restore progress is invalid (${issue(progressParsed.error)})`);
  const progress: RestoreProgress = progressParsed.data;
  detail.progress = progress;
  return { plan, progress };
}

function issue(error: z.ZodError): string {
  const first = error.issues[0];
  return first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'unknown';
}

/** The manifest entry a stored component restores. */
export function artifactOf(plan: StoredPlan, c: StoredComponent): ManifestComponent {
  const entry = plan.snapshot.components.find((m) => m.component === c.ref && m.host === c.sourceHost);
  if (!entry) {
    throw new IllegalStateError(`snapshot '${plan.snapshot.cutId}' has no component '${c.ref}' taken on host '${c.sourceHost}'`);
  }
  return entry;
}
