/**
 * The acting half of a restore (DESIGN.md §6), shared by `run` and `resume`: safety snapshot, stop the
 * site's writers, restore the remaining components one by one (each recorded in the job's detail as it
 * finishes), start the writers again, run the integrity check. Agent addresses are looked up in the
 * fleet when needed, so a resume after an agent restart reaches it at its new address.
 */
import { CancelledError, UnavailableError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { ComponentArtifact, Manifest } from '../../../shared/manifest.js';
import type { FleetInventory } from '../fleet.js';
import type { JobContext } from '../jobs.js';
import { deadlineFor, namingDeadline, type AgentDeadlines } from '../deadlines.js';
import type { AgentClient, RepositoryAccess, SiteRepositories } from '../ports.js';
import { artifactOf, setOutcome, type RestoreProgress, type StoredComponent, type StoredPlan } from './detail.js';
import { messageOf, RestoreFailedError } from './errors.js';
import { unitsStartedBy } from './mapping.js';
import type { IntegrityOutcome, RestoreOutcome } from './types.js';

/** Takes a snapshot of a site (the snapshot coordinator implements it). */
export interface SnapshotTaker {
  take(site: string, reason: string): Promise<Manifest>;
}

/** The ports and settings a restore acts through. */
export interface ExecuteDeps {
  fleet: FleetInventory;
  agents: AgentClient;
  repositories: SiteRepositories;
  snapshots: SnapshotTaker;
  /** Deadlines of agent calls: unit control, component restores, the integrity check. */
  deadlines: AgentDeadlines;
  logger: Logger;
}

/** One restore being carried out. */
export interface Execution {
  ctx: JobContext;
  plan: StoredPlan;
  progress: RestoreProgress;
  deps: ExecuteDeps;
  /** Notes gathered while acting, added to the plan's in the outcome. */
  notes: string[];
}

function checkCancelled(e: Execution, before: string): void {
  if (e.ctx.signal.aborted) throw new CancelledError(`restore job '${e.ctx.id}' was cancelled before ${before}`);
}

/** The address of an online agent of the target site, or UnavailableError saying what it was needed for. */
function addressOf(e: Execution, host: string, purpose: string): string {
  const entry = e.deps.fleet.get(e.plan.targetSite, host);
  if (!entry) throw new UnavailableError(`no agent on host '${host}' of site '${e.plan.targetSite}' is known (needed to ${purpose})`);
  if (entry.status !== 'online') throw new UnavailableError(`the agent on host '${host}' of site '${e.plan.targetSite}' is offline (needed to ${purpose})`);
  return entry.description.grpcAddress;
}

/** Takes the target site's safety snapshot unless told not to or already taken; nothing is touched before. */
export async function takeSafetySnapshot(e: Execution): Promise<void> {
  const { plan, progress, ctx } = e;
  if (!plan.safetySnapshot || progress.safetySnapshotId) return;
  checkCancelled(e, 'the safety snapshot');
  ctx.step('safety-snapshot', `taking a safety snapshot of site '${plan.targetSite}'`);
  let safety: Manifest;
  try {
    safety = await e.deps.snapshots.take(plan.targetSite, `safety before restore of ${plan.snapshot.cutId}`);
  } catch (err) {
    progress.failed = { component: '', host: '', stage: 'safety-snapshot', message: messageOf(err) };
    await ctx.save();
    throw new RestoreFailedError({
      stage: 'safety-snapshot',
      message: `safety snapshot of site '${plan.targetSite}' failed, so nothing was restored or stopped: ${messageOf(err)}`,
      cause: err,
    });
  }
  progress.safetySnapshotId = safety.cutId;
  await ctx.save();
  ctx.message(`safety snapshot '${safety.cutId}' of site '${plan.targetSite}' taken`);
}

/** Stops or starts one writer unit, under the unit-control deadline (a unit start can take minutes). */
async function controlUnit(e: Execution, action: 'start' | 'stop', w: { host: string; unit: string }): Promise<void> {
  const deadline = deadlineFor(e.deps.deadlines, 'unitControlMs', `${action} ${w.unit} on host '${w.host}'`);
  try {
    await e.deps.agents.controlUnits(addressOf(e, w.host, `${action} ${w.unit}`), { action, units: [w.unit] }, deadline);
  } catch (err) {
    throw namingDeadline(deadline, err);
  }
}

function isStopped(progress: RestoreProgress, w: { host: string; unit: string }): boolean {
  return progress.stoppedWriters.some((s) => s.host === w.host && s.unit === w.unit);
}

function forgetStopped(progress: RestoreProgress, w: { host: string; unit: string }): void {
  progress.stoppedWriters = progress.stoppedWriters.filter((s) => s.host !== w.host || s.unit !== w.unit);
}

const stoppedList = (progress: RestoreProgress): string => progress.stoppedWriters.map((w) => `${w.host}: ${w.unit}`).join(', ');

/** Stops the writer units site-wide (idempotent); on failure starts again what it stopped when nothing was restored. */
export async function stopWriters(e: Execution): Promise<void> {
  const { plan, progress, ctx } = e;
  checkCancelled(e, 'stopping the writers');
  ctx.step('stop-writers', `stopping writers of site '${plan.targetSite}'`);
  for (const w of plan.writers) {
    try {
      await controlUnit(e, 'stop', w);
    } catch (err) {
      const restarted = progress.finished.length === 0 ? await restartAfterFailure(e) : '';
      throw new RestoreFailedError({
        stage: 'stop-writers',
        host: w.host,
        message: `could not stop ${w.unit} on host '${w.host}' of site '${plan.targetSite}': ${messageOf(err)}${restarted}`,
        cause: err,
      });
    }
    if (!isStopped(progress, w)) progress.stoppedWriters.push({ host: w.host, unit: w.unit });
    await ctx.save();
    ctx.message(`stopped ${w.unit} on host '${w.host}'`);
  }
}

/**
 * Best effort after a failure that left the site as it was: starts the stopped writers again. Returns
 * a clause for the error message saying what happened.
 */
async function restartAfterFailure(e: Execution): Promise<string> {
  if (e.progress.stoppedWriters.length === 0) return '';
  try {
    const started = await startStopped(e);
    await e.ctx.save();
    return `; nothing was restored and the writers were started again (${started.join(', ')})`;
  } catch (err) {
    e.deps.logger.error({ err, jobId: e.ctx.id }, 'could not start the writers again after a failed restore');
    return `; nothing was restored, but starting the writers again failed too (${messageOf(err)}); still stopped: ${stoppedList(e.progress)}`;
  }
}

/** Starts what this job stopped and nobody started since, in reverse stop order; returns `host: unit`. */
async function startStopped(e: Execution): Promise<string[]> {
  const { plan, progress } = e;
  const started: string[] = [];
  for (const w of [...plan.writers].reverse()) {
    if (!isStopped(progress, w)) continue;
    await controlUnit(e, 'start', w);
    forgetStopped(progress, w);
    started.push(`${w.host}: ${w.unit}`);
  }
  return started;
}

function isFinished(progress: RestoreProgress, c: StoredComponent): boolean {
  return progress.finished.some((f) => f.component === c.ref && f.host === c.host && f.sourceHost === c.sourceHost);
}

/** The components not restored yet, in plan order. */
export function remainingComponents(plan: StoredPlan, progress: RestoreProgress): StoredComponent[] {
  return plan.components.filter((c) => !isFinished(progress, c));
}

/**
 * Restores the remaining components: Tarantool shards and upload directories first — hosts in parallel,
 * one host's components one after another — then PostgreSQL last (it starts findface-security at its
 * end). Returns the `host: unit` a PostgreSQL restore started itself.
 */
export async function restoreComponents(e: Execution, repository: RepositoryAccess): Promise<string[]> {
  const remaining = remainingComponents(e.plan, e.progress);
  const byHost = new Map<string, StoredComponent[]>();
  for (const c of remaining.filter((x) => x.kind !== 'postgres')) byHost.set(c.host, [...(byHost.get(c.host) ?? []), c]);
  const results = await Promise.allSettled(
    [...byHost.values()].map(async (list) => {
      for (const c of list) {
        try {
          checkCancelled(e, `restoring ${c.ref}`);
          await restoreOne(e, c, repository);
        } catch (err) {
          throw { component: c, err };
        }
        await e.ctx.save();
      }
    }),
  );
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    const { component, err } = failed.reason as { component: StoredComponent; err: unknown };
    await failComponent(e, component, err);
  }
  const startedByRestore: string[] = [];
  for (const c of remaining.filter((x) => x.kind === 'postgres')) {
    try {
      checkCancelled(e, `restoring ${c.ref}`);
      await restoreOne(e, c, repository);
    } catch (err) {
      await failComponent(e, c, err);
    }
    startedByRestore.push(...markStartedByPostgres(e, c));
    await e.ctx.save();
  }
  return startedByRestore;
}

async function restoreOne(e: Execution, c: StoredComponent, repository: RepositoryAccess): Promise<void> {
  const { ctx, plan, deps } = e;
  const from = plan.crossSite || c.host !== c.sourceHost ? ` (taken on ${plan.sourceSite}/${c.sourceHost})` : '';
  ctx.step(`restore ${c.ref}`, `restoring ${c.ref} on host '${c.host}' from snapshot '${plan.snapshot.cutId}'${from}`);
  const address = addressOf(e, c.host, `restore ${c.ref}`);
  const steps = await deps.agents.restore(
    address,
    { jobId: ctx.id, artifacts: [artifactFor(plan, c)], repository },
    {
      ...deadlineFor(deps.deadlines, 'transferMs', `restore of ${c.ref} on host '${c.host}'`),
      signal: ctx.signal,
      onProgress: (p) => ctx.progress(p),
      onStep: (s) => ctx.message(`${s.component} on '${c.host}': ${s.step} ${s.ok ? 'ok' : 'FAILED'} (${s.durationMs} ms)${s.detail ? `: ${s.detail}` : ''}`),
    },
  );
  e.progress.finished.push({ component: c.ref, host: c.host, sourceHost: c.sourceHost, steps });
  delete e.progress.failed;
  ctx.message(`${c.ref} restored on host '${c.host}'`);
}

/** The manifest entry as the agent takes it: the artifact without the host that took it. */
function artifactFor(plan: StoredPlan, c: StoredComponent): ComponentArtifact {
  const { host: _host, ...artifact } = artifactOf(plan, c);
  return artifact;
}

/** A PostgreSQL restore starts its app unit (findface-security) at its end: it is no longer stopped. */
function markStartedByPostgres(e: Execution, c: StoredComponent): string[] {
  const started = unitsStartedBy(c, e.plan.writers).filter((w) => isStopped(e.progress, w));
  for (const w of started) forgetStopped(e.progress, w);
  return started.map((w) => `${w.host}: ${w.unit} (started by the PostgreSQL restore)`);
}

/** Records the failure, leaves the site as it was when nothing was restored, and throws naming the component. */
async function failComponent(e: Execution, c: StoredComponent, err: unknown): Promise<never> {
  const { plan, progress, ctx } = e;
  progress.failed = { component: c.ref, host: c.host, stage: 'restore', message: messageOf(err) };
  await ctx.save();
  const total = plan.components.length;
  let after: string;
  if (progress.finished.length === 0) {
    after = (await restartAfterFailure(e)) || '; nothing was restored';
  } else {
    const done = progress.finished.map((f) => f.component).join(', ');
    const still = stoppedList(progress) || 'none';
    after = `; ${progress.finished.length} of ${total} components restored (${done}); writers still stopped: ${still}`;
  }
  throw new RestoreFailedError({
    stage: 'restore',
    component: c.ref,
    host: c.host,
    message: `restore of component '${c.ref}' on host '${c.host}' of site '${plan.targetSite}' failed: ${messageOf(err)}${after}; ` +
      `continue with 'ffkeeper restore --resume ${ctx.id}'`,
    cause: err,
  });
}

/** Starts the writers this job stopped; returns `host: unit` for each. */
export async function startWriters(e: Execution): Promise<string[]> {
  e.ctx.step('start-writers', `starting writers of site '${e.plan.targetSite}'`);
  try {
    const started = await startStopped(e);
    await e.ctx.save();
    return started;
  } catch (err) {
    await e.ctx.save();
    const still = stoppedList(e.progress);
    throw new RestoreFailedError({
      stage: 'start-writers',
      message: `every component of site '${e.plan.targetSite}' was restored, but starting the writers failed: ${messageOf(err)}; ` +
        `still stopped: ${still}; continue with 'ffkeeper restore --resume ${e.ctx.id}'`,
      cause: err,
    });
  }
}

/** The hosts to ask for the integrity check: those with a PostgreSQL component first, then the others online. */
function checkCandidates(e: Execution): { host: string; address: string }[] {
  const agents = e.deps.fleet.list(e.plan.targetSite).filter((a) => a.status === 'online');
  const hasPg = (a: (typeof agents)[number]): boolean => a.description.components.some((c) => c.kind === 'postgres');
  return [...agents.filter(hasPg), ...agents.filter((a) => !hasPg(a))].map((a) => ({ host: a.description.host, address: a.description.grpcAddress }));
}

/** Runs the integrity check on the first agent that has one configured. */
export async function integrityCheck(e: Execution): Promise<IntegrityOutcome> {
  e.ctx.step('integrity-check', `checking the integrity of site '${e.plan.targetSite}'`);
  const failures: string[] = [];
  for (const { host, address } of checkCandidates(e)) {
    try {
      const report = await e.deps.agents.runCheck(address, deadlineFor(e.deps.deadlines, 'checkMs', `the integrity check on host '${host}'`));
      if (report.configured) return { ...report, host };
    } catch (err) {
      failures.push(`host '${host}': ${messageOf(err)}`);
    }
  }
  if (failures.length > 0) {
    throw new RestoreFailedError({
      stage: 'integrity-check',
      message: `the integrity check of site '${e.plan.targetSite}' could not run (${failures.join('; ')}); continue with 'ffkeeper restore --resume ${e.ctx.id}'`,
      code: 'UNAVAILABLE',
    });
  }
  e.notes.push(`no agent of site '${e.plan.targetSite}' has an integrity check configured: the restore was not verified`);
  return { configured: false, ok: false, errors: 0, warnings: 0, summary: 'no integrity check configured', host: '' };
}

async function openRepository(e: Execution): Promise<RepositoryAccess> {
  try {
    return await e.deps.repositories.access(e.plan.sourceSite);
  } catch (err) {
    throw new RestoreFailedError({
      stage: 'restore',
      message: `cannot open the repository of site '${e.plan.sourceSite}' to restore snapshot '${e.plan.snapshot.cutId}' ` +
        `(nothing was stopped or restored): ${messageOf(err)}`,
      cause: err,
    });
  }
}

/** Steps 4–6 for whatever is left: stop writers (when a component remains), restore, start, check, report. */
export async function execute(e: Execution): Promise<RestoreOutcome> {
  const { plan, progress, ctx } = e;
  let startedByRestore: string[] = [];
  if (remainingComponents(plan, progress).length > 0) {
    checkCancelled(e, 'opening the repository');
    const repository = await openRepository(e);
    await stopWriters(e);
    startedByRestore = await restoreComponents(e, repository);
  }
  const started = await startWriters(e);
  const integrity = await integrityCheck(e);
  const outcome: RestoreOutcome = {
    snapshotId: plan.snapshot.cutId,
    sourceSite: plan.sourceSite,
    targetSite: plan.targetSite,
    ...(progress.safetySnapshotId ? { safetySnapshotId: progress.safetySnapshotId } : {}),
    components: progress.finished,
    writersRestarted: [...startedByRestore, ...started],
    integrity,
    notes: [...plan.notes, ...e.notes],
  };
  setOutcome(ctx.detail, outcome);
  return finish(e, outcome);
}

async function finish(e: Execution, outcome: RestoreOutcome): Promise<RestoreOutcome> {
  const { integrity } = outcome;
  if (integrity.configured && integrity.errors > 0) {
    await e.ctx.save();
    throw new RestoreFailedError({
      stage: 'integrity-check',
      code: 'ILLEGAL_STATE',
      host: integrity.host,
      message: `restore of snapshot '${outcome.snapshotId}' into site '${outcome.targetSite}' finished, but the integrity check (host '${integrity.host}') ` +
        `found ${integrity.errors} error(s) and ${integrity.warnings} warning(s): ${integrity.summary}`,
    });
  }
  e.progress.completed = true;
  await e.ctx.save();
  e.ctx.step('done', `restore of snapshot '${outcome.snapshotId}' into site '${outcome.targetSite}' completed: ${integrity.summary}`);
  return outcome;
}
