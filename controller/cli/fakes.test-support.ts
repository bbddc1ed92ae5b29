/**
 * Test support for CLI commands: an in-memory ControllerApi whose answers a test sets, io and a terminal
 * that capture output, and builders of job events, records and snapshot summaries.
 */
import { NotFoundError } from '../../shared/errors.js';
import type { SyncCheckReport } from '../../shared/sync/inspect.js';
import type { AgentEntry, SiteSummary } from '../../shared/fleet.js';
import type { JobError, JobEvent, JobPhase, JobProgress, JobRecord } from '../../shared/jobs.js';
import type { Manifest } from '../../shared/manifest.js';
import type { SnapshotSummary } from '../../shared/transport/convert-jobs.js';
import type { AgentDetails, ControllerApi, CreateSyncLinkArgs, OnJobEvent, RestoreArgs, RestorePlan, RetentionPlan, ScheduleView, SitePolicy, SitePolicyInput, SyncLinkView } from './api.js';
import type { CliIo } from './io.js';
import type { JobCommandDeps, Terminal } from './terminal.js';
import type { AuditEntry, ChainReport } from '../domain/access/audit.js';
import type { Qualification } from '../domain/repository/qualify.js';
import type { MigrationPlan } from '../domain/migration/plan.js';

export const T0 = new Date('2026-11-21T10:00:00.000Z');

/** `T0 + ms`. */
export function at(ms: number): Date {
  return new Date(T0.getTime() + ms);
}

const base = (ms: number, step: string, phase: JobPhase = 'InProgress'): JobEvent => ({ jobId: 'j-1', site: 'msk-1', time: at(ms), phase, step });

export const ev = {
  message: (ms: number, step: string, message: string): JobEvent => ({ ...base(ms, step), message }),
  progress: (ms: number, step: string, p: Omit<JobProgress, 'etaSeconds'> & { etaSeconds?: number }): JobEvent => ({
    ...base(ms, step),
    progress: { etaSeconds: 0, ...p },
  }),
  outcome: (ms: number, phase: JobPhase, error?: JobError): JobEvent => ({
    ...base(ms, 'done', phase),
    outcome: { phase, ...(error ? { error } : {}) },
  }),
};

export function snapshotSummary(over: Partial<SnapshotSummary> = {}): SnapshotSummary {
  return {
    id: 'c-20261121-1000',
    site: 'msk-1',
    createdAt: T0,
    sealedAt: at(5000),
    freezeWindowMs: 23,
    bytes: 5 * 1024 * 1024 * 1024,
    dataAddedBytes: 12 * 1024 * 1024,
    components: ['postgres:main', 'tarantool:shard-1', 'uploads:media'],
    status: 'sealed',
    jobId: 'j-1',
    reason: 'manual',
    ...over,
  };
}

export function jobRecord(over: Partial<JobRecord> = {}): JobRecord {
  return { id: 'j-1', kind: 'restore', site: 'msk-1', phase: 'Completed', createdAt: T0, updatedAt: at(72_000), step: 'done', detail: {}, ...over };
}

export function manifest(over: Partial<Manifest> = {}): Manifest {
  const time = T0;
  return {
    version: 1,
    site: 'msk-1',
    cutId: 'c-20261121-1000',
    jobId: 'j-1',
    reason: 'manual',
    createdAt: T0,
    sealedAt: at(5000),
    freezeWindowMs: 23,
    agents: [{ host: 'db', components: ['postgres:main'], freezeWindowMs: 21 }],
    components: [
      { host: 'db', component: 'postgres:main', kind: 'postgres', cut: { kind: 'postgres', component: 'postgres:main', time, snapshotName: '00000003-1B-1', lsn: '0/1A2B3C4' }, snapshotIds: ['aa11'], bytes: 2048, files: 1, dataAddedBytes: 1024 },
      { host: 'tnt', component: 'tarantool:shard-1', kind: 'tarantool', cut: { kind: 'tarantool', component: 'tarantool:shard-1', time, vclock: { '1': 42 }, signature: 42 }, snapshotIds: ['bb22', 'cc33'], bytes: 3 * 1024 * 1024, files: 2, dataAddedBytes: 0 },
    ],
    totals: { bytes: 2048 + 3 * 1024 * 1024, files: 3, dataAddedBytes: 1024 },
    models: { ffsec_face_objects: 'face-v1' },
    ...over,
  };
}

/** A job stream the fake plays: its events, then resolves with the last (the outcome) or rejects. */
export interface ScriptedJob {
  events: JobEvent[];
  error?: Error;
}

/** An in-memory ControllerApi: set the fields a test needs; `calls` records what was asked. */
export class FakeApi implements ControllerApi {
  calls: { method: string; args: unknown[] }[] = [];
  snapshots: SnapshotSummary[] = [];
  manifests = new Map<string, string>();
  jobs: JobRecord[] = [];
  job: ScriptedJob = { events: [] };
  plan: RestorePlan | undefined;
  deleted = { repositorySnapshotsRemoved: 3 };
  rebuilt: { snapshots: number; added: number; removed: number; flagged: string[] } = { snapshots: 4, added: 1, removed: 2, flagged: [] };

  listSites(): Promise<SiteSummary[]> {
    return Promise.resolve([]);
  }
  listAgents(): Promise<AgentEntry[]> {
    return Promise.resolve([]);
  }
  getAgent(site: string, host: string): Promise<AgentDetails> {
    return Promise.reject(new NotFoundError(`agent ${site}/${host} not found`));
  }
  createSnapshot(req: { site: string; leaseMs?: number; reason?: string }, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'createSnapshot', args: [req] });
    return this.play(onEvent);
  }
  listSnapshots(site: string): Promise<SnapshotSummary[]> {
    this.calls.push({ method: 'listSnapshots', args: [site] });
    return Promise.resolve(this.snapshots.filter((s) => s.site === site));
  }
  getSnapshot(id: string, site?: string): Promise<{ summary: SnapshotSummary; manifestJson: string }> {
    this.calls.push({ method: 'getSnapshot', args: [id, site] });
    const summary = this.snapshots.find((s) => s.id === id && (site === undefined || s.site === site));
    const manifestJson = this.manifests.get(id);
    if (!summary || manifestJson === undefined) return Promise.reject(new NotFoundError(`snapshot '${id}' not found`));
    return Promise.resolve({ summary, manifestJson });
  }
  deleteSnapshot(site: string, id: string): Promise<{ repositorySnapshotsRemoved: number }> {
    this.calls.push({ method: 'deleteSnapshot', args: [site, id] });
    return Promise.resolve(this.deleted);
  }
  rebuildCatalog(site: string): Promise<{ snapshots: number; added: number; removed: number; flagged: string[] }> {
    this.calls.push({ method: 'rebuildCatalog', args: [site] });
    return Promise.resolve(this.rebuilt);
  }
  exportSnapshot(req: { site: string; snapshotId: string; toDir: string }, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'exportSnapshot', args: [req] });
    return this.play(onEvent);
  }
  importSnapshot(req: { site: string; fromDir: string; reason: string }, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'importSnapshot', args: [req] });
    return this.play(onEvent);
  }
  migrationPlan: MigrationPlan | undefined;
  planMigration(req: { site: string; toModel: string; portOffset?: number }): Promise<MigrationPlan> {
    this.calls.push({ method: 'planMigration', args: [req] });
    if (!this.migrationPlan) return Promise.reject(new NotFoundError(`no migration plan scripted for site '${req.site}'`));
    return Promise.resolve(this.migrationPlan);
  }
  verify(req: { site: string; snapshotId?: string; readData: boolean; from?: 'primary' | 'secondary' }, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'verify', args: [req] });
    return this.play(onEvent);
  }
  planRestore(req: RestoreArgs): Promise<RestorePlan> {
    this.calls.push({ method: 'planRestore', args: [req] });
    return this.plan ? Promise.resolve(this.plan) : Promise.reject(new NotFoundError(`no snapshot of site '${req.site}' matches`));
  }
  restore(req: RestoreArgs, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'restore', args: [req] });
    return this.play(onEvent);
  }
  migrate(req: { site: string; toModel: string; portOffset?: number }, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'migrate', args: [req] });
    return this.play(onEvent);
  }
  finishMigration(site: string, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'finishMigration', args: [site] });
    return this.play(onEvent);
  }
  rollbackMigration(site: string, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'rollbackMigration', args: [site] });
    return this.play(onEvent);
  }
  resumeMigration(jobId: string, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'resumeMigration', args: [jobId] });
    return this.play(onEvent);
  }
  resumeRestore(jobId: string, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'resumeRestore', args: [jobId] });
    return this.play(onEvent);
  }
  copySnapshots(req: { site: string; snapshotIds: string[] }, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'copySnapshots', args: [req] });
    return this.play(onEvent);
  }
  listJobs(filter: { site?: string; limit?: number }): Promise<JobRecord[]> {
    this.calls.push({ method: 'listJobs', args: [filter] });
    return Promise.resolve(this.jobs);
  }
  getJob(id: string): Promise<JobRecord> {
    this.calls.push({ method: 'getJob', args: [id] });
    const j = this.jobs.find((r) => r.id === id);
    return j ? Promise.resolve(j) : Promise.reject(new NotFoundError(`job '${id}' not found`));
  }
  async watchJob(id: string, follow: boolean, onEvent: OnJobEvent): Promise<JobEvent | undefined> {
    this.calls.push({ method: 'watchJob', args: [id, follow] });
    for (const e of this.job.events) onEvent(e);
    return this.job.events.at(-1);
  }
  schedules: ScheduleView[] = [];
  policy: SitePolicy | undefined;
  retentionPlan: RetentionPlan | undefined;
  setSchedule(req: { site: string; kind?: string; cron?: string; timezone?: string }): Promise<ScheduleView> {
    this.calls.push({ method: 'setSchedule', args: [req] });
    const view: ScheduleView = { site: req.site, kind: (req.kind || 'snapshot') as ScheduleView['kind'], cron: req.cron || '0 2 * * *', timezone: req.timezone || 'UTC', updatedAt: at(0) };
    this.schedules = [...this.schedules.filter((x) => x.site !== view.site || x.kind !== view.kind), view];
    return Promise.resolve(view);
  }
  listSchedules(site?: string): Promise<ScheduleView[]> {
    this.calls.push({ method: 'listSchedules', args: [site] });
    return Promise.resolve(this.schedules.filter((x) => !site || x.site === site));
  }
  removeSchedule(site: string, kind: string): Promise<void> {
    this.calls.push({ method: 'removeSchedule', args: [site, kind] });
    const before = this.schedules.length;
    this.schedules = this.schedules.filter((x) => x.site !== site || x.kind !== kind);
    return before === this.schedules.length ? Promise.reject(new NotFoundError(`site '${site}' has no ${kind} schedule`)) : Promise.resolve();
  }
  setRetention(req: SitePolicyInput): Promise<SitePolicy> {
    this.calls.push({ method: 'setRetention', args: [req] });
    this.policy = { ...req, updatedAt: at(0) };
    return Promise.resolve(this.policy);
  }
  getRetention(site: string): Promise<SitePolicy> {
    this.calls.push({ method: 'getRetention', args: [site] });
    return this.policy ? Promise.resolve(this.policy) : Promise.reject(new NotFoundError(`site '${site}' has no retention policy`));
  }
  planRetention(site: string): Promise<RetentionPlan> {
    this.calls.push({ method: 'planRetention', args: [site] });
    return this.retentionPlan ? Promise.resolve(this.retentionPlan) : Promise.reject(new NotFoundError(`site '${site}' has no retention policy`));
  }
  applyRetention(site: string, onEvent: OnJobEvent): Promise<JobEvent> {
    this.calls.push({ method: 'applyRetention', args: [site] });
    return this.play(onEvent);
  }
  syncLinks: SyncLinkView[] = [];
  createSyncLink(req: CreateSyncLinkArgs): Promise<SyncLinkView> {
    this.calls.push({ method: 'createSyncLink', args: [req] });
    const id = `${req.from.site}.${req.from.list}.${req.to.site}.${req.to.list}`;
    const view: SyncLinkView = {
      id,
      number: this.syncLinks.length + 1,
      from: req.from,
      to: req.to,
      mode: 'continuous',
      at: req.at || '03:00',
      timezone: req.timezone || 'UTC',
      paused: false,
      createdAt: at(0).toISOString(),
      ...(req.noSafetySnapshot ? {} : { safetySnapshot: 'c-safety' }),
      models: { ffsec_face_objects: 'face-v1' },
      state: 'starting',
      lagSeconds: 0,
      pending: 0,
      appliedTotal: 0,
      errors: 0,
      resyncs: 0,
      parts: [],
    };
    this.syncLinks.push(view);
    return Promise.resolve(view);
  }
  listSyncLinks(site?: string): Promise<SyncLinkView[]> {
    this.calls.push({ method: 'listSyncLinks', args: [site] });
    return Promise.resolve(this.syncLinks.filter((l) => !site || l.from.site === site || l.to.site === site));
  }
  getSyncLink(id: string): Promise<SyncLinkView> {
    this.calls.push({ method: 'getSyncLink', args: [id] });
    const l = this.syncLinks.find((x) => x.id === id);
    return l ? Promise.resolve(l) : Promise.reject(new NotFoundError(`sync link '${id}' not found`));
  }
  setSyncLinkPaused(id: string, paused: boolean): Promise<SyncLinkView> {
    this.calls.push({ method: 'setSyncLinkPaused', args: [id, paused] });
    const l = this.syncLinks.find((x) => x.id === id);
    if (!l) return Promise.reject(new NotFoundError(`sync link '${id}' not found`));
    l.paused = paused;
    l.state = paused ? 'paused' : 'running';
    return Promise.resolve(l);
  }
  deleteSyncLink(id: string): Promise<void> {
    this.calls.push({ method: 'deleteSyncLink', args: [id] });
    const before = this.syncLinks.length;
    this.syncLinks = this.syncLinks.filter((x) => x.id !== id);
    return before === this.syncLinks.length ? Promise.reject(new NotFoundError(`sync link '${id}' not found`)) : Promise.resolve();
  }
  checkReports = new Map<string, SyncCheckReport>();
  checkSyncLink(id: string, repair: boolean): Promise<SyncCheckReport> {
    this.calls.push({ method: 'checkSyncLink', args: [id, repair] });
    const r = this.checkReports.get(id);
    return r ? Promise.resolve(r) : Promise.reject(new NotFoundError(`sync link '${id}' not found`));
  }

  runSyncLink(id: string): Promise<SyncCheckReport> {
    this.calls.push({ method: 'runSyncLink', args: [id] });
    const r = this.checkReports.get(id);
    return r ? Promise.resolve(r) : Promise.reject(new NotFoundError(`sync link '${id}' not found`));
  }
  listAudit(): Promise<AuditEntry[]> {
    return Promise.resolve([]);
  }
  verifyAudit(): Promise<ChainReport> {
    return Promise.resolve({ records: 0, problems: [] });
  }
  createJoinToken(): Promise<{ token: string; tokenId: string; expiresAt: Date; enrolmentAddress: string }> {
    return Promise.reject(new Error('FakeApi: createJoinToken'));
  }
  revokeAgent(): Promise<{ certificates: number; natsKeys: boolean }> {
    return Promise.reject(new Error('FakeApi: revokeAgent'));
  }
  revokeOperator(name: string): Promise<{ certificates: number; consoleTokens: number }> {
    this.calls.push({ method: 'revokeOperator', args: [name] });
    return Promise.resolve({ certificates: 2, consoleTokens: 1 });
  }
  createConsoleToken(name: string, ttlSeconds: number): Promise<{ token: string; tokenId: string; expiresAt: Date }> {
    this.calls.push({ method: 'createConsoleToken', args: [name, ttlSeconds] });
    return Promise.resolve({ token: 'ffc1.tid.secret', tokenId: 'tid', expiresAt: new Date(Date.UTC(2026, 0, 1) + ttlSeconds * 1000) });
  }
  /** What `qualifyRepository` answers (a fully qualified append-only repository unless a test sets another). */
  qualification: Qualification | undefined;
  qualifyRepository(site: string, sizeBytes: number): Promise<Qualification> {
    this.calls.push({ method: 'qualifyRepository', args: [site, sizeBytes] });
    if (!this.qualification) throw new NotFoundError(`site '${site}' is unknown`);
    return Promise.resolve(this.qualification);
  }
  close(): void {}

  names(): string[] {
    return this.calls.map((c) => c.method);
  }

  /** Plays the scripted events asynchronously (one per tick), as a stream would. */
  private async play(onEvent: OnJobEvent): Promise<JobEvent> {
    let last: JobEvent | undefined;
    for (const e of this.job.events) {
      await new Promise((r) => setImmediate(r));
      last = e;
      onEvent(e);
    }
    if (this.job.error) throw this.job.error;
    if (!last?.outcome) throw new Error('scripted job has no outcome');
    return last;
  }
}

/** Captured output of a command. */
export interface Captured {
  out: string[];
  err: string[];
  progress: string[];
  questions: string[];
}

/** Deps with a fake API, captured io and a terminal; `answers` are typed at each question in turn. */
export function makeDeps(opts: { api?: FakeApi; tty?: boolean; interactive?: boolean; answers?: string[]; now?: Date } = {}): {
  deps: JobCommandDeps;
  api: FakeApi;
  cap: Captured;
} {
  const api = opts.api ?? new FakeApi();
  const cap: Captured = { out: [], err: [], progress: [], questions: [] };
  const answers = [...(opts.answers ?? [])];
  const io: CliIo = { out: (t) => cap.out.push(t), err: (t) => cap.err.push(t), now: () => opts.now ?? at(100_000) };
  const term: Terminal = {
    progressTty: opts.tty ?? false,
    interactive: opts.interactive ?? false,
    progress: (raw) => cap.progress.push(raw),
    ask: (q) => {
      cap.questions.push(q);
      return Promise.resolve(answers.shift() ?? '');
    },
  };
  return { deps: { api, io, term }, api, cap };
}
