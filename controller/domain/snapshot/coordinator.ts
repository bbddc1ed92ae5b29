/**
 * The cut coordinator (DESIGN.md §4): two-phase commit over a site's agents — plan → prepare (each arms
 * its freeze lease) → freeze and cut (writers first; agents holding no writes thaw in the same call) → thaw
 * → upload → seal — or abort on any failure, so that every agent
 * thaws and releases, and no half snapshot becomes visible. A cut whose freeze window could not be held
 * (a busy host) is aborted and tried again with a new cut id, up to `freezeAttempts` times. The manifest is written last: to the
 * repository (so the catalog can be rebuilt from it) and then to the catalog.
 */
import { formatDuration } from '../../../shared/duration.js';
import { holdsSiteWrites } from '../../../shared/cut.js';
import { FfkError, describeError, toFfkError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import { MANIFEST_VERSION, modelsOf, totalsOf, type ComponentArtifact, type CutPoint, type Manifest } from '../../../shared/manifest.js';
import type { ManifestSealer } from './seal.js';
import { forgetCut, storeManifest } from './stored-manifests.js';
import type { FleetInventory } from '../fleet.js';
import { newJobId, type JobContext } from '../jobs.js';
import { measured, noMetrics, type ControllerMetrics } from '../metrics.js';
import type { AgentClient, CatalogStore, RepositoryAccess, SiteRepositories, UploadParents } from '../ports.js';
import { planParticipants, type Participant } from './plan.js';
import { deadlineFor, type AgentDeadlines } from '../deadlines.js';

export interface SnapshotCoordinatorDeps {
  fleet: FleetInventory;
  agents: AgentClient;
  repositories: SiteRepositories;
  catalog: CatalogStore;
  /** Seals each manifest written (seal.ts): a catalog rebuilt from the repository takes only sealed ones. */
  sealer: ManifestSealer;
  /** Deadlines of agent calls: protocol calls (prepare … abort) and the upload. */
  deadlines: AgentDeadlines;
  /** Freeze lease agents arm at prepare unless the request names one. */
  defaultLeaseMs: number;
  /** Fault injection only: stay frozen this long after the cut (see the controller config). */
  holdFrozenMs?: number;
  /**
   * How many times a cut is tried when its freeze window could not be held (a lease ran out before the
   * thaw, a PAUSE or the uploads shield did not settle in time: a host too busy for a moment). Every
   * failed attempt is aborted and thawed before the next; a prepare failure is not retried. Default 3.
   */
  freezeAttempts?: number;
  /** Pause before the next attempt, times the attempt number. Default 1000 ms. */
  retryDelayMs?: number;
  logger: Logger;
  now?: () => Date;
  /** Told how each cut ended (duration, outcome, the sealed manifest). */
  metrics?: ControllerMetrics;
}

export interface SnapshotRequest {
  site: string;
  leaseMs?: number;
  reason: string;
}

/** Runs `fn` on every participant in parallel; a failure names the agent. */
async function onAll<T>(site: string, step: string, ps: Participant[], fn: (p: Participant) => Promise<T>): Promise<T[]> {
  const results = await Promise.allSettled(ps.map(fn));
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [{ p: ps[i] as Participant, err: r.reason as unknown }] : []));
  if (failed.length === 0) return results.map((r) => (r as PromiseFulfilledResult<T>).value);
  const first = toFfkError(failed[0]?.err);
  const detail = failed.map((f) => `${site}/${f.p.host}: ${describeError(f.err)}`).join('; ');
  throw new FfkError(first.code, `${step} failed on ${detail}`, { cause: failed[0]?.err });
}

/**
 * A freeze or cut that failed because the window could not be held in time: a lease that ran out before
 * the thaw (ILLEGAL_STATE from the agent), a PAUSE or shield settle that timed out (TIMEOUT), a freeze
 * refused while the host could not keep up (UNAVAILABLE). Worth a new cut; anything else is not.
 */
class FreezeWindowError extends Error {
  constructor(override readonly cause: unknown) {
    super(describeError(cause));
  }

  static retryable(err: unknown): boolean {
    return ['ILLEGAL_STATE', 'TIMEOUT', 'UNAVAILABLE'].includes(toFfkError(err).code);
  }
}

/** Participants holding the site's writes (a PostgreSQL component: its freeze stops them), and the others. */
function splitWriterGates(ps: Participant[]): [Participant[], Participant[]] {
  const gate = (p: Participant): boolean => p.components.some(holdsSiteWrites);
  return [ps.filter(gate), ps.filter((p) => !gate(p))];
}

/** What a participant's prepare and upload say of its components' parents (none known: the agent finds them). */
function parentsOf(p: Participant, known: Map<string, string> | undefined): UploadParents {
  if (!known) return {};
  const parents = Object.fromEntries(p.components.flatMap((ref) => (known.has(ref) ? [[ref, known.get(ref) as string]] : [])));
  return { parents, parentsComplete: true };
}

export class SnapshotCoordinator {
  private readonly now: () => Date;

  constructor(private readonly deps: SnapshotCoordinatorDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Takes one consistent cut of `req.site` within the job `ctx`; returns the sealed manifest. One cut of a
   * site at a time is the caller's site lease (SnapshotService), and every agent refuses a second cut.
   */
  run(ctx: JobContext, req: SnapshotRequest): Promise<Manifest> {
    const metrics = this.deps.metrics ?? noMetrics;
    return measured(
      () => this.cut(ctx, req),
      (ok, durationMs, manifest) => metrics.snapshotFinished(req.site, { ok, durationMs, ...(manifest ? { manifest } : {}) }),
    );
  }

  private async cut(ctx: JobContext, req: SnapshotRequest): Promise<Manifest> {
    const { site } = req;
    ctx.step('plan');
    const participants = planParticipants(this.deps.fleet, site);
    const access = await this.deps.repositories.access(site);
    const parents = await this.parents(site);
    const attempts = Math.max(1, this.deps.freezeAttempts ?? 3);
    for (let attempt = 1; ; attempt += 1) {
      const cutId = newJobId(this.now(), 'c');
      ctx.detail.snapshotId = cutId;
      ctx.detail.reason = req.reason;
      await ctx.save();
      ctx.message(`cut ${cutId}: ${participants.length} agents, ${participants.flatMap((p) => p.components).join(', ')}` + (attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : ''));
      let window: Awaited<ReturnType<SnapshotCoordinator['freezeAndCut']>>;
      try {
        window = await this.freezeAndCut(ctx, participants, { cutId, site, access, leaseMs: req.leaseMs, parents });
      } catch (err) {
        const retry = err instanceof FreezeWindowError && attempt < attempts && !ctx.signal.aborted;
        // Nothing is uploaded before the thaw: a cut tried again leaves nothing in the repository to discard.
        await this.abandon(ctx, participants, { site, cutId, err, discard: !retry });
        if (!retry) throw err instanceof FreezeWindowError ? err.cause : err;
        const delayMs = (this.deps.retryDelayMs ?? 1000) * attempt;
        this.deps.logger.warn({ site, cutId, attempt, err: err.cause }, 'the freeze window could not be held; trying a new cut');
        ctx.message(`cut ${cutId} could not hold its freeze window (attempt ${attempt} of ${attempts}); every agent thawed; a new cut in ${formatDuration(delayMs)}`);
        await new Promise((r) => setTimeout(r, delayMs));
        continue;
      }
      return this.finish(ctx, req, participants, { cutId, access, parents, ...window });
    }
  }

  /** Uploads and seals a cut whose freeze window held; on failure aborts it and removes what was stored. */
  private async finish(
    ctx: JobContext,
    req: SnapshotRequest,
    participants: Participant[],
    c: {
      cutId: string;
      access: RepositoryAccess;
      parents: Map<string, string> | undefined;
      points: Map<string, CutPoint[]>;
      freezeWindowMs: number;
      agentWindows: Map<string, number>;
      steps: { step: string; ms: number }[];
    },
  ): Promise<Manifest> {
    const { site } = req;
    const { cutId, freezeWindowMs } = c;
    try {
      ctx.step('upload', `thawed; freeze window ${freezeWindowMs} ms; uploading`);
      const artifacts = await this.upload(ctx, participants, { cutId, site, access: c.access, parents: c.parents });
      ctx.step('seal');
      const manifest = this.manifest({ ctx, req, cutId, participants, artifacts, points: c.points, freezeWindowMs, agentWindows: c.agentWindows, steps: c.steps });
      await this.seal(site, manifest);
      ctx.message(`sealed ${cutId}: ${manifest.totals.bytes} bytes read, ${manifest.totals.dataAddedBytes} bytes added, freeze window ${freezeWindowMs} ms`);
      return manifest;
    } catch (err) {
      await this.abandon(ctx, participants, { site, cutId, err, discard: true });
      throw err;
    }
  }

  /** Aborts a cut on every agent (each thaws and drops it) and, with `discard`, removes what it stored. */
  private async abandon(ctx: JobContext, ps: Participant[], c: { site: string; cutId: string; err: unknown; discard: boolean }): Promise<void> {
    const reason = describeError(c.err instanceof FreezeWindowError ? c.err.cause : c.err);
    ctx.step('abort', `aborting cut ${c.cutId}: ${reason}`);
    await this.abortAll(ps, c.cutId, reason);
    if (c.discard) await this.discardPartial(c.site, c.cutId);
  }

  private async freezeAndCut(
    ctx: JobContext,
    ps: Participant[],
    c: { cutId: string; site: string; access: RepositoryAccess; leaseMs: number | undefined; parents: Map<string, string> | undefined },
  ): Promise<{ points: Map<string, CutPoint[]>; freezeWindowMs: number; agentWindows: Map<string, number>; steps: { step: string; ms: number }[] }> {
    const t = (operation: string, kind: 'protocolMs' | 'prepareMs' = 'protocolMs') => deadlineFor(this.deps.deadlines, kind, `${operation} of cut ${c.cutId}`);
    const leaseMs = c.leaseMs && c.leaseMs > 0 ? c.leaseMs : this.deps.defaultLeaseMs;
    // An agent that prepared fast waits for the slowest prepare (its deadline), then for the freeze call.
    const freezeWithinMs = this.deps.deadlines.prepareMs + this.deps.deadlines.protocolMs;
    ctx.step('prepare');
    await onAll(c.site, 'prepare', ps, (p) =>
      this.deps.agents.prepare(p.address, { cutId: c.cutId, site: c.site, components: [], leaseMs, freezeWithinMs, repository: c.access, ...parentsOf(p, c.parents) }, t('prepare', 'prepareMs')),
    );
    ctx.step('freeze');
    const started = Date.now();
    const points = new Map<string, CutPoint[]>();
    const agentWindows = new Map<string, number>();
    const steps: { step: string; ms: number }[] = [];
    const timed = async <T>(step: string, fn: () => Promise<T>): Promise<T> => {
      const t0 = Date.now();
      const value = await fn();
      steps.push({ step, ms: Date.now() - t0 });
      return value;
    };
    try {
      // Writers first: once PostgreSQL is paused no row can commit, so every file and record a row of the
      // cut refers to exists before the other components freeze (the uploads shield settles after that).
      // Each agent takes its cut in its freeze call; an agent holding no writes (no PostgreSQL) also ends
      // its freeze there: its cut is fixed and its thaw undoes nothing. What stays frozen until the thaw
      // is the writers, until every other agent has cut.
      const [gates, rest] = splitWriterGates(ps);
      for (const [name, group] of [['freeze writers', gates], ['freeze others', rest]] as const) {
        if (group.length === 0) continue;
        const also = { cut: true, thawIfHoldingNone: group === rest };
        const outcomes = await timed(name, () => onAll(c.site, 'freeze', group, (p) => this.deps.agents.freeze(p.address, c.cutId, t('freeze'), also)));
        outcomes.forEach((o, i) => {
          const p = group[i] as Participant;
          if (o.points) points.set(p.host, o.points);
          if (o.thawed) agentWindows.set(p.host, o.thawed.freezeWindowMs);
        });
      }
      // An agent that could not cut in its freeze call (one of an older version) cuts now.
      ctx.step('cut');
      const uncut = ps.filter((p) => !points.has(p.host));
      if (uncut.length > 0) {
        const cut = await timed('cut', () => onAll(c.site, 'cut', uncut, (p) => this.deps.agents.cut(p.address, c.cutId, t('cut'))));
        uncut.forEach((p, i) => points.set(p.host, cut[i] ?? []));
      }
      if (this.deps.holdFrozenMs) await new Promise((r) => setTimeout(r, this.deps.holdFrozenMs));
    } catch (err) {
      throw FreezeWindowError.retryable(err) ? new FreezeWindowError(err) : err;
    } finally {
      // Thaw whatever happened: a failed freeze or cut must not leave the site frozen. An agent whose window
      // is known already ended its freeze in its freeze call.
      const frozen = ps.filter((p) => !agentWindows.has(p.host));
      const thawed = await timed('thaw', () => Promise.allSettled(frozen.map((p) => this.deps.agents.thaw(p.address, c.cutId, t('thaw')))));
      thawed.forEach((r, i) => r.status === 'fulfilled' && agentWindows.set((frozen[i] as Participant).host, r.value.freezeWindowMs));
    }
    const freezeWindowMs = Date.now() - started;
    ctx.step('thaw', `thawed after ${freezeWindowMs} ms`);
    return { points, freezeWindowMs, agentWindows, steps };
  }

  /**
   * Each component's snapshot in the site's newest sealed cut that holds it, from the catalog: the parent
   * of its next incremental backup, so no agent lists the repository to find one (a component with none
   * has no parent). Undefined when the catalog cannot be read: the agents then find parents themselves.
   */
  private async parents(site: string): Promise<Map<string, string> | undefined> {
    const parents = new Map<string, string>();
    try {
      const newestFirst = (await this.deps.catalog.list(site)).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
      for (const m of newestFirst) {
        for (const c of m.components) {
          const id = c.snapshotIds[0];
          if (id !== undefined && c.snapshotIds.length === 1 && !parents.has(c.component)) parents.set(c.component, id);
        }
      }
    } catch (err) {
      this.deps.logger.warn({ err, site }, 'could not read the catalog for the parents of incremental backups; agents look them up');
      return undefined;
    }
    return parents;
  }

  private async upload(
    ctx: JobContext,
    ps: Participant[],
    c: { cutId: string; site: string; access: RepositoryAccess; parents: Map<string, string> | undefined },
  ): Promise<Map<string, ComponentArtifact[]>> {
    const uploaded = await onAll(c.site, 'upload', ps, (p) =>
      this.deps.agents.upload(p.address, { cutId: c.cutId, jobId: ctx.id, site: c.site, repository: c.access, ...parentsOf(p, c.parents) }, {
        ...deadlineFor(this.deps.deadlines, 'transferMs', `upload of cut ${c.cutId}`),
        onProgress: (pr) => ctx.progress(pr),
        signal: ctx.signal,
      }),
    );
    return new Map(ps.map((p, i) => [p.host, uploaded[i] ?? []]));
  }

  private manifest(m: {
    ctx: JobContext;
    req: SnapshotRequest;
    cutId: string;
    participants: Participant[];
    artifacts: Map<string, ComponentArtifact[]>;
    points: Map<string, CutPoint[]>;
    freezeWindowMs: number;
    agentWindows: Map<string, number>;
    steps: { step: string; ms: number }[];
  }): Manifest {
    const components = m.participants.flatMap((p) => (m.artifacts.get(p.host) ?? []).map((a) => ({ ...a, host: p.host })));
    const cutTimes = [...m.points.values()].flat().map((p) => p.time.getTime());
    return {
      version: MANIFEST_VERSION,
      site: m.req.site,
      cutId: m.cutId,
      jobId: m.ctx.id,
      reason: m.req.reason,
      createdAt: new Date(cutTimes.length > 0 ? Math.min(...cutTimes) : this.now().getTime()),
      sealedAt: this.now(),
      freezeWindowMs: m.freezeWindowMs,
      agents: m.participants.map((p) => ({ host: p.host, components: p.components, freezeWindowMs: m.agentWindows.get(p.host) ?? 0 })),
      freezeSteps: m.steps,
      components,
      totals: totalsOf(components),
      models: modelsOf(components),
    };
  }

  /** Writes the manifest to the repository, then to the catalog: only now does the snapshot exist. */
  private async seal(site: string, manifest: Manifest): Promise<void> {
    await storeManifest(await this.deps.repositories.open(site), manifest, this.deps.sealer);
    await this.deps.catalog.put(manifest);
  }

  private async abortAll(ps: Participant[], cutId: string, reason: string): Promise<void> {
    const t = deadlineFor(this.deps.deadlines, 'protocolMs', `abort of cut ${cutId}`);
    const results = await Promise.allSettled(ps.map((p) => this.deps.agents.abort(p.address, cutId, reason, t)));
    results.forEach((r, i) => {
      if (r.status === 'rejected') this.deps.logger.warn({ err: r.reason, host: ps[i]?.host, cutId }, 'abort failed (the agent thaws by its lease)');
    });
  }

  /** Removes component snapshots an aborted cut already stored; without a manifest they are invisible anyway. */
  private async discardPartial(site: string, cutId: string): Promise<void> {
    try {
      await forgetCut(await this.deps.repositories.open(site), cutId);
    } catch (err) {
      this.deps.logger.warn({ err, site, cutId }, 'could not remove the aborted cut’s partial snapshots');
    }
  }
}
