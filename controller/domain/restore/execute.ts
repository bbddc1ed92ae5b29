/**
 * The acting half of a restore (DESIGN.md §6), shared by `run` and `resume`: safety snapshot; stage every
 * remaining component beside the live one while the site runs (a failure: nothing changed, writers never
 * stopped); stop the site's writers; switch every staged component in (a failure: the switched ones put
 * back, the writers started, the site as it was); start the writers (the time they were stopped is the
 * restore's downtime, recorded); delete what the switch moved aside; run the integrity check. Agent
 * addresses are looked up in the fleet when needed, so a resume after an agent restart reaches it at its
 * new address.
 */
import { CancelledError, UnreachableError, ValidationError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { ComponentArtifact, Manifest } from '../../../shared/manifest.js';
import type { FleetInventory } from '../fleet.js';
import type { JobContext } from '../jobs.js';
import { deadlineFor, namingDeadline, type AgentDeadlines } from '../deadlines.js';
import { formatDowntime, formatDuration } from '../../../shared/duration.js';
import type { RestorePhase } from '../../../shared/restore-phases.js';
import type { AgentClient, AgentRestoreStep, RepositoryAccess, SiteRepositories } from '../ports.js';
import { artifactOf, setOutcome, type RestoreProgress, type StoredComponent, type StoredPlan } from './detail.js';
import { messageOf, RestoreFailedError } from './errors.js';
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
  /** When this run (or resume) of the restore started (ms since the epoch), for its duration. */
  startedAt: number;
  /** Writers started before the switch ended (sf-api once its shards were in), as `host: unit`. */
  startedEarly?: string[];
}

function checkCancelled(e: Execution, before: string): void {
  if (e.ctx.signal.aborted) throw new CancelledError(`restore job '${e.ctx.id}' was cancelled before ${before}`);
}

/** The address of an online agent of the target site, or UnavailableError saying what it was needed for. */
function addressOf(e: Execution, host: string, purpose: string): string {
  const entry = e.deps.fleet.get(e.plan.targetSite, host);
  if (!entry) throw new UnreachableError(`no agent on host '${host}' of site '${e.plan.targetSite}' is known (needed to ${purpose})`);
  if (entry.status !== 'online') throw new UnreachableError(`the agent on host '${host}' of site '${e.plan.targetSite}' is offline (needed to ${purpose})`);
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
  const stopStarted = new Date().toISOString();
  for (const w of plan.writers) {
    try {
      await controlUnit(e, 'stop', w);
    } catch (err) {
      const restarted = await restartAfterFailure(e);
      throw new RestoreFailedError({
        stage: 'stop-writers',
        host: w.host,
        message: `could not stop ${w.unit} on host '${w.host}' of site '${plan.targetSite}': ${messageOf(err)}${restarted}`,
        cause: err,
      });
    }
    if (!isStopped(progress, w)) progress.stoppedWriters.push({ host: w.host, unit: w.unit });
    progress.writersStoppedAt ??= stopStarted;
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
  if (progress.stoppedWriters.length === 0 && progress.writersStoppedAt !== undefined) {
    // Downtime: from the first stop to the last start (summed over resumes).
    progress.writersStoppedMs = (progress.writersStoppedMs ?? 0) + Math.max(0, Date.now() - Date.parse(progress.writersStoppedAt));
    delete progress.writersStoppedAt;
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

/** By host, in plan order: one host's components go one after another, hosts in parallel. */
function byHost(components: readonly StoredComponent[]): StoredComponent[][] {
  const groups = new Map<string, StoredComponent[]>();
  for (const c of components) groups.set(c.host, [...(groups.get(c.host) ?? []), c]);
  return [...groups.values()];
}

const PHASE_WORDS: Record<RestorePhase, string> = {
  stage: 'staging',
  switch: 'switching in',
  rollback: 'rolling back',
  finish: 'finishing',
  discard: 'discarding',
};

/**
 * One phase of one component on its agent. Progress and every step are reported naming the component.
 * Rollback, finish and discard run even after a cancellation (they put things back or clean up).
 */
async function phaseOf(e: Execution, c: StoredComponent, phase: RestorePhase, repository: RepositoryAccess, signal?: AbortSignal): Promise<AgentRestoreStep[]> {
  const { ctx, plan, deps } = e;
  const address = addressOf(e, c.host, `${phase} ${c.ref}`);
  return deps.agents.restore(
    address,
    { jobId: ctx.id, artifacts: [artifactFor(plan, c)], repository, phase },
    {
      ...deadlineFor(deps.deadlines, 'transferMs', `${phase} of ${c.ref} on host '${c.host}'`),
      ...(signal ? { signal } : {}),
      onProgress: (p) => ctx.progress(p),
      onStep: (s) => ctx.message(`${phase} ${c.ref} on '${c.host}': ${s.step} ${s.ok ? 'ok' : 'FAILED'} (${s.durationMs} ms)${s.detail ? `: ${s.detail}` : ''}`),
    },
  );
}

/** Per component, the first failure of a phase run over several hosts. */
interface PhaseFailure {
  component: StoredComponent;
  err: unknown;
}

/**
 * Runs `phase` for `components` — hosts in parallel, one host's components one after another, or with
 * `eachAlone` every component in parallel — and returns the components it succeeded for (with their
 * steps) and the failures. With `stopOnFailure`, the first failure cancels the calls still running.
 */
async function runPhase(
  e: Execution,
  components: readonly StoredComponent[],
  phase: RestorePhase,
  repository: RepositoryAccess,
  options: {
    signal?: AbortSignal;
    stopOnFailure?: boolean;
    eachAlone?: boolean;
    /** Called as each component succeeds, with the number of failures so far. */
    onDone?: (component: StoredComponent, failures: number) => void;
  } = {},
): Promise<{ done: { component: StoredComponent; steps: AgentRestoreStep[] }[]; failures: PhaseFailure[] }> {
  // Aborted by the caller's signal or by the first failure (AbortSignal.any needs Node 20.3; README asks for 20).
  const stop = new AbortController();
  const outer = options.signal;
  const forward = (): void => stop.abort();
  if (outer?.aborted) stop.abort();
  else outer?.addEventListener('abort', forward, { once: true });
  const done: { component: StoredComponent; steps: AgentRestoreStep[] }[] = [];
  const failures: PhaseFailure[] = [];
  const one = async (list: readonly StoredComponent[]): Promise<void> => {
    for (const c of list) {
      if (options.stopOnFailure && failures.length > 0) return;
      try {
        if (phase === 'stage' || phase === 'switch') checkCancelled(e, `${PHASE_WORDS[phase]} ${c.ref}`);
        done.push({ component: c, steps: await phaseOf(e, c, phase, repository, stop.signal) });
        options.onDone?.(c, failures.length);
      } catch (err) {
        failures.push({ component: c, err });
        if (options.stopOnFailure) stop.abort();
        return;
      }
    }
  };
  try {
    await Promise.all((options.eachAlone ? components.map((c) => [c]) : byHost(components)).map(one));
  } finally {
    outer?.removeEventListener('abort', forward);
  }
  return { done, failures };
}

/** Best effort: `phase` (rollback, discard, finish) for every component; returns a note per failure. */
async function cleanUpPhase(e: Execution, components: readonly StoredComponent[], phase: 'rollback' | 'discard' | 'finish', repository: RepositoryAccess): Promise<string[]> {
  if (components.length === 0) return [];
  const { failures } = await runPhase(e, components, phase, repository, { eachAlone: true });
  for (const f of failures) e.deps.logger.error({ err: f.err, component: f.component.ref, host: f.component.host, phase }, `${PHASE_WORDS[phase]} a component failed`);
  return failures.map((f) => `${PHASE_WORDS[phase]} ${f.component.ref} on host '${f.component.host}' failed: ${messageOf(f.err)}`);
}

/**
 * An agent that does not answer (killed, restarting, offline), as opposed to one that answers with an
 * error, an UnavailableError of its own included (a unit it could not start, a database it cannot reach).
 */
function isUnreachable(err: unknown): boolean {
  return err instanceof UnreachableError;
}

/**
 * `rollback` for every component, retrying those whose agent does not answer until it is back (restarted
 * after a kill during the switch: its restore journal tells it what to put back) or `agentReturnMs` has
 * passed. Returns a note per component that could not be rolled back.
 */
async function rollBackWaiting(e: Execution, components: readonly StoredComponent[], repository: RepositoryAccess): Promise<string[]> {
  const waitMs = e.deps.deadlines.agentReturnMs;
  const giveUpAt = Date.now() + waitMs;
  const problems: PhaseFailure[] = [];
  const announced = new Set<string>();
  let pending = [...components];
  while (pending.length > 0) {
    const { failures } = await runPhase(e, pending, 'rollback', repository, { eachAlone: true });
    const retry = failures.filter((f) => isUnreachable(f.err) && Date.now() < giveUpAt);
    problems.push(...failures.filter((f) => !retry.includes(f)));
    for (const f of retry) {
      if (announced.has(f.component.host)) continue;
      announced.add(f.component.host);
      e.ctx.message(`the agent on host '${f.component.host}' does not answer (${messageOf(f.err)}); waiting up to ${formatDuration(waitMs)} for it to come back to roll back its components`);
    }
    if (retry.length > 0) await new Promise((r) => setTimeout(r, ROLLBACK_RETRY_MS));
    pending = retry.map((f) => f.component);
  }
  for (const f of problems) e.deps.logger.error({ err: f.err, component: f.component.ref, host: f.component.host }, 'rolling back a component failed');
  return problems.map((f) => `rolling back ${f.component.ref} on host '${f.component.host}' failed: ${messageOf(f.err)}`);
}

/** How often a rollback asks again for an agent that does not answer. */
const ROLLBACK_RETRY_MS = 1000;

/** The first failure, as the job's recorded failure. */
async function recordFailure(e: Execution, stage: string, f: PhaseFailure): Promise<void> {
  e.progress.failed = { component: f.component.ref, host: f.component.host, stage, message: messageOf(f.err) };
  await e.ctx.save();
}

/**
 * The stage: every remaining component fetched and checked completely beside the live one, on every host
 * in parallel, while the site runs. A failure cancels the other stages, discards what was staged and ends
 * the restore with the site untouched and its writers never stopped.
 */
export async function stageComponents(e: Execution, repository: RepositoryAccess): Promise<Map<StoredComponent, AgentRestoreStep[]>> {
  const { plan, ctx } = e;
  const remaining = remainingComponents(plan, e.progress);
  checkCancelled(e, 'staging');
  ctx.step('stage', `staging ${remaining.map((c) => `${c.ref} on '${c.host}'`).join(', ')} from snapshot '${plan.snapshot.cutId}' while site '${plan.targetSite}' keeps running`);
  const { done, failures } = await runPhase(e, remaining, 'stage', repository, { signal: ctx.signal, stopOnFailure: true });
  const first = failures[0];
  if (first) {
    const problems = await cleanUpPhase(e, remaining, 'discard', repository);
    await recordFailure(e, 'stage', first);
    const cleanup = problems.length > 0 ? ` (${problems.join('; ')})` : '; what was staged is removed';
    throw new RestoreFailedError({
      stage: 'stage',
      component: first.component.ref,
      host: first.component.host,
      message: `staging component '${first.component.ref}' on host '${first.component.host}' failed: ${messageOf(first.err)}; ` +
        `nothing on site '${plan.targetSite}' was changed and its writers were never stopped${cleanup}`,
      cause: first.err,
    });
  }
  ctx.message(`every component staged (${done.length}): switching them in needs the writers stopped`);
  return new Map(done.map((d) => [d.component, d.steps]));
}

/**
 * The switch, writers stopped: every component at once (each is renames plus, for a shard, a restart,
 * and for PostgreSQL its post-load commands; none waits for another), so the writers stay stopped for
 * the slowest one, not their sum. A failure rolls back every component already switched, discards the
 * rest, starts the writers again and ends the restore with the site as it was.
 */
export async function switchComponents(e: Execution, repository: RepositoryAccess, staged: Map<StoredComponent, AgentRestoreStep[]>): Promise<void> {
  const { plan, ctx, progress } = e;
  const remaining = [...staged.keys()];
  ctx.step('switch', `switching ${remaining.length} staged component(s) into place on site '${plan.targetSite}'`);
  const switched: StoredComponent[] = [];
  // sf-api starts as soon as every shard of the restore is switched in, while PostgreSQL's post-load commands
  // may still run: it serves the galleries, and findface-security, which writes through it, starts last.
  const shards = remaining.filter((c) => c.kind === 'tarantool');
  const shardsIn = new Set<StoredComponent>();
  let early: Promise<void> | undefined;
  const onDone = (c: StoredComponent, failures: number): void => {
    if (!shards.includes(c)) return;
    shardsIn.add(c);
    if (!early && failures === 0 && shardsIn.size === shards.length) {
      // Never rejects: it is awaited only once the switch has ended.
      early = startEarlyWriters(e).catch((err: unknown) => e.deps.logger.error({ err, jobId: ctx.id }, 'starting sf-api early failed'));
    }
  };
  const r = await runPhase(e, remaining, 'switch', repository, { signal: ctx.signal, eachAlone: true, onDone });
  await early;
  for (const d of r.done) {
    switched.push(d.component);
    staged.set(d.component, [...(staged.get(d.component) ?? []), ...d.steps]);
  }
  const failure = r.failures[0];
  if (failure) {
    // Every component of the switch is rolled back: a switched one gets back what it moved aside; one whose
    // switch failed has put back what it moved, and its staging is removed; one on an agent that went away
    // during the switch is rolled back once the agent is back (its restore journal says how far it got).
    const failedOnly = remaining.filter((c) => !switched.includes(c));
    const rollbackProblems = await rollBackWaiting(e, [...[...switched].reverse(), ...failedOnly], repository);
    await recordFailure(e, 'switch', failure);
    const restarted = rollbackProblems.length === 0 ? await restartAfterFailure(e) : `; writers still stopped: ${stoppedList(progress)}`;
    const inPlanOrder = remaining.filter((c) => switched.includes(c)).map((c) => c.ref);
    const back = switched.length === 0 ? 'no component had been switched' : `the components already switched were put back (${inPlanOrder.join(', ')})`;
    const state = rollbackProblems.length === 0
      ? `site '${plan.targetSite}' is as it was before the restore`
      : `PUTTING BACK FAILED: ${rollbackProblems.join('; ')}`;
    throw new RestoreFailedError({
      stage: 'switch',
      component: failure.component.ref,
      host: failure.component.host,
      message: `switching in component '${failure.component.ref}' on host '${failure.component.host}' failed: ${messageOf(failure.err)}; ${back}; ` +
        `${state}${restarted}`,
      cause: failure.err,
    });
  }
  for (const c of remaining) {
    progress.finished.push({ component: c.ref, host: c.host, sourceHost: c.sourceHost, steps: staged.get(c) ?? [] });
    ctx.message(`${c.ref} switched in on host '${c.host}'`);
  }
  progress.aside = [...(progress.aside ?? []), ...remaining.map(componentKey)];
  delete progress.failed;
  await ctx.save();
}

const componentKey = (c: StoredComponent): string => `${c.ref}@${c.host}`;

/**
 * After the writers are up again: what the switches (of this run or of an interrupted one) moved aside
 * is deleted; a failure becomes a note.
 */
export async function finishComponents(e: Execution, repository: RepositoryAccess | undefined): Promise<void> {
  const { plan, progress } = e;
  const switched = plan.components.filter((c) => progress.aside?.includes(componentKey(c)));
  if (switched.length === 0) return;
  e.ctx.step('finish', `deleting what the switch moved aside on site '${plan.targetSite}'`);
  const problems = await cleanUpPhase(e, switched, 'finish', repository ?? (await openRepository(e)));
  for (const problem of problems) e.notes.push(`${problem}: the previous data is still beside the restored one; delete it by hand`);
  progress.aside = [];
  await e.ctx.save();
}

/** The manifest entry as the agent takes it: the artifact without the host that took it. */
function artifactFor(plan: StoredPlan, c: StoredComponent): ComponentArtifact {
  const { host: _host, ...artifact } = artifactOf(plan, c);
  return artifact;
}

/**
 * Starts the stopped sf-api writers once the shards are switched in (the switch of the other components may
 * still run). A failure is only reported: the writer stays on the stopped list and the writers' start (or
 * the restart after a failed switch) tries it again.
 */
async function startEarlyWriters(e: Execution): Promise<void> {
  for (const w of [...e.plan.writers].reverse()) {
    if (w.kind !== 'sf-api' || !isStopped(e.progress, w)) continue;
    try {
      await controlUnit(e, 'start', w);
      forgetStopped(e.progress, w);
      (e.startedEarly ??= []).push(`${w.host}: ${w.unit}`);
      e.ctx.message(`started ${w.unit} on host '${w.host}': every shard is switched in`);
    } catch (err) {
      e.deps.logger.warn({ err, host: w.host, unit: w.unit }, 'starting a writer once the shards were switched in failed; it is started with the others');
      e.ctx.message(`starting ${w.unit} on host '${w.host}' once the shards were switched in failed (${messageOf(err)}); it is started with the other writers`);
    }
  }
  await e.ctx.save();
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
    if (e.plan.request.from !== 'secondary') return await e.deps.repositories.access(e.plan.sourceSite);
    const secondary = await e.deps.repositories.secondary(e.plan.sourceSite);
    if (!secondary) throw new ValidationError(`site '${e.plan.sourceSite}' has no secondary repository configured any more`, { field: 'from' });
    return secondary.access;
  } catch (err) {
    throw new RestoreFailedError({
      stage: 'restore',
      message: `cannot open the ${e.plan.request.from === 'secondary' ? 'secondary ' : ''}repository of site '${e.plan.sourceSite}' to restore snapshot '${e.plan.snapshot.cutId}' ` +
        `(nothing was stopped or restored): ${messageOf(err)}`,
      cause: err,
    });
  }
}

/** Steps 4–6 for whatever is left: stop writers (when a component remains), restore, start, check, report. */
export async function execute(e: Execution): Promise<RestoreOutcome> {
  const { plan, progress, ctx } = e;
  let repository: RepositoryAccess | undefined;
  if (remainingComponents(plan, progress).length > 0) {
    checkCancelled(e, 'opening the repository');
    repository = await openRepository(e);
    const staged = await stageComponents(e, repository);
    try {
      await stopWriters(e);
    } catch (err) {
      await cleanUpPhase(e, [...staged.keys()], 'discard', repository);
      throw err;
    }
    await switchComponents(e, repository, staged);
  }
  const started = await startWriters(e);
  await finishComponents(e, repository);
  const integrity = await integrityCheck(e);
  const outcome: RestoreOutcome = {
    snapshotId: plan.snapshot.cutId,
    sourceSite: plan.sourceSite,
    targetSite: plan.targetSite,
    ...(progress.safetySnapshotId ? { safetySnapshotId: progress.safetySnapshotId } : {}),
    components: progress.finished,
    writersRestarted: [...(e.startedEarly ?? []), ...started],
    writersStoppedMs: progress.writersStoppedMs ?? 0,
    durationMs: Date.now() - e.startedAt,
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
  e.ctx.step('done', `restore of snapshot '${outcome.snapshotId}' into site '${outcome.targetSite}' completed: ${integrity.summary}; ${formatDowntime(outcome.writersStoppedMs, outcome.durationMs)}`);
  return outcome;
}
