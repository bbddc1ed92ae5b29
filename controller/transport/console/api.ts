/**
 * What the web console asks of the controller, on an operator's behalf: the same service calls the gRPC
 * server makes (controller/transport/grpc-server.ts), each through `guardedCall` — the same role check
 * (controller/domain/access/policy.ts) and audit as the gRPC API — then shaped into the page's rows
 * (controller/domain/console/views.ts).
 */
import { FfkError, isErrorCode, NotFoundError, PermissionDeniedError, ValidationError } from '../../../shared/errors.js';
import { checkSiteId } from '../../../shared/ids.js';
import type { SiteSummary } from '../../../shared/fleet.js';
import type { ConsoleMe, MigrationPlanAnswer, RestorePlanAnswer, StreamState } from '../../console/protocol.js';
import { parseModelFile } from '../../../shared/findface/models.js';
import type { MigrationJobs } from '../../domain/migration/job.js';
import type { MigrationPlanner } from '../../domain/migration/planner.js';
import { authorizeCall } from '../../domain/access/policy.js';
import { fleetState, jobState, restoreReport, siteState, syncLinkRow, syncLinkState, syncListState, type SiteFacts } from '../../domain/console/views.js';
import type { FleetService } from '../../domain/fleet-service.js';
import type { RestoreArgs, RestoreService } from '../../domain/restore-service.js';
import type { RetentionService } from '../../domain/retention-service.js';
import type { SyncService } from '../../domain/sync/service.js';
import type { RunningJob } from '../../domain/jobs.js';
import type { EventLog, JobStore } from '../../domain/ports.js';
import { isFinal, type JobEvent } from '../../../shared/jobs.js';
import type { ScheduleService } from '../../domain/schedules.js';
import type { SnapshotService } from '../../domain/snapshot/service.js';
import type { VerifyService } from '../../domain/verify/service.js';
import { guardedCall, type GuardDeps, type OperatorCaller } from '../guard.js';
import type { ConsoleSession } from './sessions.js';

export interface ConsoleServices {
  fleet: FleetService;
  snapshots: SnapshotService;
  verify: VerifyService;
  schedules: ScheduleService;
  restores: RestoreService;
  retention: RetentionService;
  sync: SyncService;
  jobStore: JobStore;
  events: EventLog;
  migrations: Pick<MigrationPlanner, 'plan'>;
  migrationJobs: Pick<MigrationJobs, 'start' | 'rollback' | 'finish'>;
}

/** Finished jobs whose events a console keeps (their history no longer changes). */
const FINISHED_JOBS_CACHED = 50;

export class ConsoleApi {
  private readonly now: () => Date;
  /** Events of finished jobs, read once. */
  private readonly finished = new Map<string, JobEvent[]>();

  constructor(
    private readonly services: ConsoleServices,
    private readonly guard: Pick<GuardDeps, 'access' | 'audit' | 'logger'>,
    now?: () => Date,
  ) {
    this.now = now ?? (() => new Date());
  }

  me(session: ConsoleSession): ConsoleMe {
    const grant = this.guard.access.operators[session.operator];
    if (!grant) throw new PermissionDeniedError(`operator ${session.operator} has no role on this controller (access.operators)`);
    return { operator: session.operator, role: grant.role, ...(grant.sites ? { sites: [...grant.sites] } : {}), expiresAt: session.expiresAt.toISOString() };
  }

  /** The fleet page: every site this operator may see. */
  async fleet(caller: OperatorCaller): Promise<StreamState> {
    const sites = await this.call(caller, 'listSites', {}, async () => this.services.fleet.listSites());
    const visible = sites.filter((s) => this.refusal(caller, 'listSnapshots', { site: s.site }) === undefined);
    const [schedules, jobs, links] = await Promise.all([
      this.call(caller, 'listSchedules', {}, () => this.services.schedules.list()),
      this.call(caller, 'listJobs', {}, () => this.services.jobStore.list({})),
      this.call(caller, 'listSyncLinks', {}, () => this.services.sync.list()),
    ]);
    const facts = await Promise.all(
      visible.map(async (summary): Promise<SiteFacts> => {
        const schedule = schedules.find((x) => x.site === summary.site && x.kind === 'snapshot');
        return {
          summary,
          snapshots: await this.snapshotsOf(caller, summary.site),
          ...(schedule ? { snapshotSchedule: schedule } : {}),
          jobs: jobs.filter((j) => j.site === summary.site),
          syncLinks: this.visibleLinks(caller, links).filter((l) => l.from.site === summary.site || l.to.site === summary.site),
        };
      }),
    );
    return fleetState(facts, this.now());
  }

  /**
   * A site page: its agents, snapshots, schedules, retention policy, sync links and jobs, and whether this
   * operator may start a snapshot, restore or verify.
   */
  async site(caller: OperatorCaller, site: string): Promise<StreamState> {
    checkSiteId(site);
    const agents = await this.call(caller, 'listAgents', { site }, async () => this.services.fleet.listAgents(site));
    const [snapshots, schedules, jobs, retention, links] = await Promise.all([
      this.snapshotsOf(caller, site),
      this.call(caller, 'listSchedules', { site }, () => this.services.schedules.list(site)),
      this.call(caller, 'listJobs', { site }, () => this.services.jobStore.list({ site })),
      this.call(caller, 'getRetention', { site }, () => this.services.retention.show(site).catch((err: unknown) => (err instanceof NotFoundError ? undefined : Promise.reject(err)))),
      this.call(caller, 'listSyncLinks', { site }, () => this.services.sync.list(site)),
    ]);
    if (agents.length === 0 && snapshots.length === 0) throw new NotFoundError(`site '${site}' not found: no agent of it is known and it has no snapshot`);
    const summary: SiteSummary = this.services.fleet.listSites().find((s) => s.site === site) ?? { site, agentsOnline: 0, agentsTotal: 0, componentKinds: [] };
    const schedule = schedules.find((x) => x.kind === 'snapshot');
    const facts: SiteFacts = { summary, snapshots, jobs, schedules, syncLinks: this.visibleLinks(caller, links), ...(retention ? { retention } : {}), ...(schedule ? { snapshotSchedule: schedule } : {}) };
    const denied = { snapshot: this.refusal(caller, 'createSnapshot', { site }), restore: this.refusal(caller, 'restore', { site }), verify: this.refusal(caller, 'verify', { site }), migrate: this.refusal(caller, 'migrate', { site }) };
    return siteState(facts, agents, denied, this.now());
  }

  /**
   * A job page: the job, each component's progress and the step log. The same role checks as `jobs show`
   * and `jobs watch`, and the job's site must be one this operator may see (listJobs for that site).
   */
  async job(caller: OperatorCaller, id: string): Promise<StreamState> {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(id)) throw new ValidationError(`'${id}' is not a job id`, { field: 'id' });
    const job = await this.call(caller, 'getJob', { id }, () => this.services.jobStore.get(id));
    if (!job) throw new NotFoundError(`job '${id}' not found`);
    const refused = this.refusal(caller, 'listJobs', { site: job.site });
    if (refused) throw new PermissionDeniedError(refused);
    let events = this.finished.get(id);
    if (!events) {
      events = await this.call(caller, 'watchJob', { id }, () => this.services.events.history(job.site, id));
      if (isFinal(job.phase) && events.some((e) => e.outcome)) {
        if (this.finished.size >= FINISHED_JOBS_CACHED) this.finished.delete(this.finished.keys().next().value as string);
        this.finished.set(id, events);
      }
    }
    return jobState(job, events);
  }

  /** Starts a snapshot of `site` (as `ffkeeper snapshot create` does); the audit record is written when the job is over. */
  async createSnapshot(caller: OperatorCaller, site: string): Promise<{ jobId: string }> {
    checkSiteId(site);
    const reason = `console: operator ${caller.operator}`;
    return this.startJob(caller, 'createSnapshot', { site, reason }, () => this.services.snapshots.create({ site, reason }));
  }

  /**
   * The restore wizard's plan: what restoring `site` in place from the chosen snapshot would do (as
   * `ffkeeper restore --dry-run`), with the writers' downtime of the site's last finished restore.
   */
  async restorePlan(caller: OperatorCaller, site: string, body: Record<string, unknown>): Promise<RestorePlanAnswer> {
    const args = restoreArgs(site, body.choice);
    const [plan, jobs] = await Promise.all([
      this.call(caller, 'planRestore', { site }, () => this.services.restores.plan(args)),
      this.call(caller, 'listJobs', { site }, () => this.services.jobStore.list({ site })),
    ]);
    const last = jobs
      .filter((j) => j.kind === 'restore' && j.phase === 'Completed')
      .sort((a, b) => b.updatedAt.getTime() - a.updatedAt.getTime())
      .map((j) => restoreReport(j.detail).writersStoppedMs)
      .find((ms) => ms > 0);
    const s = plan.snapshot;
    return {
      site,
      snapshot: { id: s.id, createdAt: s.createdAt.toISOString(), bytes: s.bytes, components: s.components, reason: s.reason },
      safetySnapshot: plan.safetySnapshot,
      steps: plan.steps,
      ...(last === undefined ? {} : { lastDowntimeMs: last }),
    };
  }

  /**
   * Starts the wizard's restore of `site` in place, with a safety snapshot first (the console offers no
   * way around it); `confirm` must be the site's id, typed by the operator. The same role check as
   * `ffkeeper restore` (admin, or operator for a scratch site); audited when the job is over.
   */
  async startRestore(caller: OperatorCaller, site: string, body: Record<string, unknown>): Promise<{ jobId: string }> {
    const args = restoreArgs(site, body.choice);
    if (body.confirm !== site) throw new ValidationError(`type the site's id '${site}' to confirm the restore${typeof body.confirm === 'string' && body.confirm !== '' ? ` ('${body.confirm}' is not it)` : ''}`, { field: 'confirm' });
    return this.startJob(caller, 'restore', { site, selector: body.choice, noSafetySnapshot: false }, () => this.services.restores.start(args));
  }

  /** The migration page's plan (as `ffkeeper migrate plan`): nothing changes. */
  async migrationPlan(caller: OperatorCaller, site: string, body: Record<string, unknown>): Promise<MigrationPlanAnswer> {
    checkSiteId(site);
    const toModel = modelOf(body.toModel);
    const regenerateNormalized = body.regenerateNormalized === true;
    const p = await this.call(caller, 'planMigration', { site, toModel, regenerateNormalized }, () => this.services.migrations.plan({ site, toModel, regenerateNormalized }));
    return {
      site,
      ...(p.fromModel ? { fromModel: p.fromModel } : {}),
      toModel: p.toModel,
      portOffset: p.portOffset,
      regenerateNormalized,
      faces: p.faces.total,
      byGallery: p.faces.byGallery,
      ...(p.sample?.facesPerSecond !== undefined ? { facesPerSecond: p.sample.facesPerSecond } : {}),
      ...(p.estimateSeconds !== undefined ? { estimateSeconds: p.estimateSeconds } : {}),
      shards: p.shards.map((x) => ({ host: x.host, from: x.from.name, to: x.to.name, listen: `${x.from.listen} → ${x.to.listen}`, faces: x.faces })),
      checks: p.checks,
      ready: p.ready,
    };
  }

  /** Starts `migrate start` (admin), the site's id typed again to confirm; audited when the job is over. */
  async startMigration(caller: OperatorCaller, site: string, body: Record<string, unknown>): Promise<{ jobId: string }> {
    checkSiteId(site);
    const toModel = modelOf(body.toModel);
    const regenerateNormalized = body.regenerateNormalized === true;
    confirmed(site, body.confirm, 'the migration');
    return this.startJob(caller, 'migrate', { site, toModel, regenerateNormalized }, () => this.services.migrationJobs.start({ site, toModel, regenerateNormalized }));
  }

  /** `migrate rollback` or `migrate finish` of the site's newest migration (admin), confirmed with the site's id. */
  async endMigration(caller: OperatorCaller, site: string, how: 'rollback' | 'finish', body: Record<string, unknown>): Promise<{ jobId: string }> {
    checkSiteId(site);
    confirmed(site, body.confirm, how === 'rollback' ? 'the rollback' : 'removing the old shards');
    const jobs = this.services.migrationJobs;
    return how === 'rollback' ? this.startJob(caller, 'rollbackMigration', { site }, () => jobs.rollback(site)) : this.startJob(caller, 'finishMigration', { site }, () => jobs.finish(site));
  }

  /** Verifies one snapshot of `site` (as `ffkeeper verify --snapshot ID`, `--read-data` when asked); audited when the job is over. */
  async verifySnapshot(caller: OperatorCaller, site: string, snapshotId: string, body: Record<string, unknown>): Promise<{ jobId: string }> {
    checkSiteId(site);
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(snapshotId)) throw new ValidationError(`'${snapshotId}' is not a snapshot id`, { field: 'snapshot' });
    const readData = body.readData === true;
    return this.startJob(caller, 'verify', { site, snapshotId, readData }, () => this.services.verify.start({ site, snapshotId, readData }));
  }

  /** The sync page: every link whose two sites this operator may see, with whether it may pause them. */
  async syncLinks(caller: OperatorCaller): Promise<StreamState> {
    const links = await this.call(caller, 'listSyncLinks', {}, () => this.services.sync.list());
    return syncListState(this.visibleLinks(caller, links).map((link) => ({ link, pauseDenied: this.refusal(caller, 'setSyncLinkPaused', { id: link.id }) })));
  }

  /** A link's page: its state, parts and the differences of its last comparison (as `ffkeeper sync show`). */
  async syncLink(caller: OperatorCaller, id: string): Promise<StreamState> {
    if (!/^[A-Za-z0-9_-]+\.\d+\.[A-Za-z0-9_-]+\.\d+$/.test(id)) throw new ValidationError(`'${id}' is not a sync link id (<from site>.<list>.<to site>.<list>)`, { field: 'id' });
    const link = await this.call(caller, 'getSyncLink', { id }, () => this.services.sync.get(id));
    return syncLinkState(link, this.refusal(caller, 'setSyncLinkPaused', { id }));
  }

  /** Pauses or resumes a link (as `ffkeeper sync pause|resume`); audited. */
  async setSyncPaused(caller: OperatorCaller, id: string, paused: boolean): Promise<ReturnType<typeof syncLinkRow>> {
    const link = await this.call(caller, 'setSyncLinkPaused', { id, paused }, () => this.services.sync.setPaused(id, paused));
    return syncLinkRow(link, undefined);
  }

  /** Starts a job through the role check; its audit record is written when the job is over, with its outcome. */
  private async startJob(caller: OperatorCaller, method: string, req: Record<string, unknown>, start: () => Promise<RunningJob>): Promise<{ jobId: string }> {
    const outcome = async (j: RunningJob): Promise<FfkError | undefined> => {
      const r = await j.done;
      return r.phase === 'Completed' ? undefined : new FfkError(isErrorCode(r.error?.code) ? r.error.code : 'INTERNAL', r.error?.message ?? r.phase);
    };
    const job = await guardedCall(this.guard, caller, { method, req, outcome }, start);
    return { jobId: job.id };
  }

  /** The sync links this operator may see: both their sites (getSyncLink's role check). */
  private visibleLinks<L extends { id: string }>(caller: OperatorCaller, links: readonly L[]): L[] {
    return links.filter((l) => this.refusal(caller, 'getSyncLink', { id: l.id }) === undefined);
  }

  private snapshotsOf(caller: OperatorCaller, site: string) {
    return this.call(caller, 'listSnapshots', { site }, async () => this.services.verify.annotate(site, await this.services.snapshots.list(site)));
  }

  private call<T>(caller: OperatorCaller, method: string, req: Record<string, unknown>, run: () => Promise<T>): Promise<T> {
    return guardedCall(this.guard, caller, { method, req }, run);
  }

  /** Why `caller` may not call `method` (the policy's one-line reason), or undefined when it may. Not audited: nothing is called. */
  private refusal(caller: OperatorCaller, method: string, req: Record<string, unknown>): string | undefined {
    try {
      authorizeCall(this.guard.access, caller.operator, method, req);
      return undefined;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
}

function modelOf(v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new ValidationError('give the model file to migrate to: {"toModel": "face/ifruit_320.cpu.fnk"}', { field: 'toModel' });
  try {
    return parseModelFile(v).file;
  } catch (err) {
    throw new ValidationError(`toModel: ${(err as Error).message}`, { field: 'toModel' });
  }
}

function confirmed(site: string, confirm: unknown, what: string): void {
  if (confirm !== site) throw new ValidationError(`type the site's id '${site}' to confirm ${what}${typeof confirm === 'string' && confirm !== '' ? ` ('${confirm}' is not it)` : ''}`, { field: 'confirm' });
}

/** An in-place restore of `site` (all components, primary repository, safety snapshot) from the wizard's choice. */
function restoreArgs(site: string, choice: unknown): RestoreArgs {
  checkSiteId(site);
  return { site, selector: selectorOf(choice), components: [], noSafetySnapshot: false };
}

function selectorOf(choice: unknown): RestoreArgs['selector'] {
  // What the page sends: one of RestoreChoice's shapes (checked here, it comes from the network).
  const c = (typeof choice === 'object' && choice !== null ? choice : {}) as Record<string, unknown>;
  if (typeof c.snapshot === 'string' && c.snapshot !== '') return { kind: 'id', id: c.snapshot };
  if (typeof c.before === 'string' && c.before !== '') {
    const time = new Date(c.before);
    if (Number.isNaN(time.getTime())) throw new ValidationError(`'${c.before}' is not a point in time (ISO 8601, e.g. 2026-12-04T10:30:00Z)`, { field: 'before' });
    return { kind: 'before', time };
  }
  if (c.latest === true) return { kind: 'latest' };
  throw new ValidationError('choose what to restore: {"choice": {"snapshot": ID}}, {"choice": {"before": TIME}} or {"choice": {"latest": true}}', { field: 'choice' });
}
