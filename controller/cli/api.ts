/** What the CLI needs from the controller, and its gRPC implementation (proto converted at the edge). */
import { channelCredentials, channelOptions, type GrpcSecurity } from '../../shared/transport/grpc-security.js';
import { formatIdentity } from '../../shared/security/identity.js';
import type { MigrationPlan } from '../domain/migration/plan.js';
import type { PlanMigrationArgs } from '../domain/migration/planner.js';
import { parseAnchor, type AuditEntry, type AuditFilter, type ChainReport } from '../domain/access/audit.js';
import type { CreateConsoleTokenRequest, CreateConsoleTokenResponse, CreateJoinTokenRequest, CreateJoinTokenResponse, ListAuditRequest, ListAuditResponse, RevokeAgentRequest, RevokeAgentResponse, RevokeOperatorRequest, RevokeOperatorResponse, VerifyAuditRequest, VerifyAuditResponse } from '../../proto/gen/ffkeeper/v1/controller.js';
import { ControllerClient } from '../../proto/gen/ffkeeper/v1/controller.js';
import type {
  GetAgentRequest,
  GetAgentResponse,
  ListAgentsRequest,
  ListAgentsResponse,
  ListSitesRequest,
  ListSitesResponse,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import type { JobEvent as PbJobEvent } from '../../proto/gen/ffkeeper/v1/common.js';
import type {
  CopySnapshotsRequest,
  SnapshotExportRequest,
  SnapshotImportRequest,
  PlanMigrationRequest,
  ResumeMigrationRequest,
  RollbackMigrationRequest,
  MigrationPlanResponse,
  CreateSnapshotRequest,
  DeleteSnapshotRequest,
  DeleteSnapshotResponse,
  GetJobRequest,
  GetSnapshotRequest,
  GetSnapshotResponse,
  JobRecord as PbJobRecord,
  ListJobsRequest,
  ListJobsResponse,
  ListSnapshotsRequest,
  ListSnapshotsResponse,
  QualifyRepositoryRequest,
  RebuildCatalogRequest,
  RebuildCatalogResponse,
  RepositoryQualification,
  RestorePlan as PbRestorePlan,
  ResumeRestoreRequest,
  SiteRestoreRequest,
  WatchJobRequest,
  VerifyRequest as PbVerifyRequest,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import { InternalError } from '../../shared/errors.js';
import type { JobEvent, JobRecord } from '../../shared/jobs.js';
import type { RestoreArgs, RestorePlanView } from '../domain/restore-service.js';
import type { RepositorySide } from '../domain/snapshot/copy.js';
import {
  jobEventFromProto,
  jobRecordFromProto,
  snapshotFromProto,
  type SnapshotSummary,
} from '../../shared/transport/convert-jobs.js';
import type { AgentDescription, AgentEntry, SiteSummary } from '../../shared/fleet.js';
import { descriptionFromProto, entryFromProto } from '../../shared/transport/convert.js';
import { callStream, callUnary } from '../../shared/transport/grpc-client.js';
import type {
  ApplyRetentionRequest,
  GetRetentionRequest,
  ListSchedulesRequest,
  ListSchedulesResponse,
  PlanRetentionRequest,
  RemoveScheduleRequest,
  RemoveScheduleResponse,
  RetentionPlan as PbRetentionPlan,
  RetentionPolicy as PbRetentionPolicy,
  Schedule as PbSchedule,
  SetRetentionRequest,
  SetScheduleRequest,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import type {
  CreateSyncLinkRequest,
  CheckSyncLinkRequest,
  RunSyncLinkRequest,
  SyncCheckReport as PbSyncCheckReport,
  DeleteSyncLinkRequest,
  DeleteSyncLinkResponse,
  GetSyncLinkRequest,
  ListSyncLinksRequest,
  ListSyncLinksResponse,
  SetSyncLinkPausedRequest,
  SyncLinkView as PbSyncLinkView,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import type { CreateSyncLinkArgs } from '../domain/sync/service.js';
import type { SyncLinkView } from '../domain/sync/view.js';
import { checkFromProto, createSyncLinkToProto, syncLinkFromProto } from '../transport/convert-sync.js';
import type { SyncCheckReport } from '../../shared/sync/inspect.js';
import type { RetentionPlan } from '../domain/retention-service.js';
import type { ScheduleView } from '../domain/schedules.js';
import { policyFromProto, retentionPlanFromProto, scheduleFromProto, type SitePolicy } from '../transport/convert-policies.js';
import type { Qualification } from '../domain/repository/qualify.js';

export type { SitePolicy } from '../transport/convert-policies.js';
export type { RetentionPlan } from '../domain/retention-service.js';
export type { ScheduleView } from '../domain/schedules.js';
export type { CreateSyncLinkArgs } from '../domain/sync/service.js';
export type { SyncLinkView, SyncPartView } from '../domain/sync/view.js';
/** What `migrate plan` and `migrate start` are asked (controller/domain/migration/planner.ts). */
export type MigrationArgs = PlanMigrationArgs;

/** A retention policy as `retention set` gives it. */
export interface SitePolicyInput {
  site: string;
  keepLast: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  timezone: string;
}

export interface AgentDetails {
  entry: AgentEntry;
  live?: AgentDescription;
  liveError?: string;
}

export type { RestoreArgs, SnapshotSelector } from '../domain/restore-service.js';
export type RestorePlan = RestorePlanView;

/** Receives a job's events as they happen; resolves with the final event (the outcome). */
export type OnJobEvent = (event: JobEvent) => void;

export interface ControllerApi {
  listSites(): Promise<SiteSummary[]>;
  listAgents(site?: string): Promise<AgentEntry[]>;
  getAgent(site: string, host: string): Promise<AgentDetails>;
  /** Streams the snapshot job's events to `onEvent`; resolves with its outcome event. */
  createSnapshot(req: { site: string; leaseMs?: number; reason?: string }, onEvent: OnJobEvent): Promise<JobEvent>;
  listSnapshots(site: string): Promise<SnapshotSummary[]>;
  getSnapshot(id: string, site?: string): Promise<{ summary: SnapshotSummary; manifestJson: string }>;
  deleteSnapshot(site: string, id: string): Promise<{ repositorySnapshotsRemoved: number }>;
  rebuildCatalog(site: string): Promise<{ snapshots: number; added: number; removed: number; flagged: string[] }>;
  planRestore(req: RestoreArgs): Promise<RestorePlan>;
  restore(req: RestoreArgs, onEvent: OnJobEvent): Promise<JobEvent>;
  resumeRestore(jobId: string, onEvent: OnJobEvent): Promise<JobEvent>;
  /** Streams the copy job's events (sealed snapshots to the site's secondary repository); resolves with its outcome. */
  copySnapshots(req: { site: string; snapshotIds: string[] }, onEvent: OnJobEvent): Promise<JobEvent>;
  /** Streams the verify job's events to `onEvent`; resolves with its outcome event. */
  verify(req: { site: string; snapshotId?: string; readData: boolean; from?: RepositorySide }, onEvent: OnJobEvent): Promise<JobEvent>;
  /** Writes a sealed snapshot in FindFace's backup layout into `toDir` on each of the site's agent hosts. */
  exportSnapshot(req: { site: string; snapshotId: string; toDir: string }, onEvent: OnJobEvent): Promise<JobEvent>;
  importSnapshot(req: { site: string; fromDir: string; reason: string }, onEvent: OnJobEvent): Promise<JobEvent>;
  /** A model migration's runbook and preconditions for a site (changes nothing). */
  planMigration(req: MigrationArgs): Promise<MigrationPlan>;
  /** Runs a model migration as a job; streams its events, resolves with its outcome. */
  migrate(req: MigrationArgs, onEvent: OnJobEvent): Promise<JobEvent>;
  resumeMigration(jobId: string, onEvent: OnJobEvent): Promise<JobEvent>;
  rollbackMigration(site: string, onEvent: OnJobEvent): Promise<JobEvent>;
  finishMigration(site: string, onEvent: OnJobEvent): Promise<JobEvent>;
  listJobs(filter: { site?: string; limit?: number }): Promise<JobRecord[]>;
  getJob(id: string): Promise<JobRecord>;
  /** Replays a job's events (and with `follow`, waits for the rest); resolves with the last event. */
  watchJob(id: string, follow: boolean, onEvent: OnJobEvent): Promise<JobEvent | undefined>;
  setSchedule(req: { site: string; kind?: string; cron?: string; timezone?: string }): Promise<ScheduleView>;
  listSchedules(site?: string): Promise<ScheduleView[]>;
  removeSchedule(site: string, kind: string): Promise<void>;
  setRetention(req: SitePolicyInput): Promise<SitePolicy>;
  getRetention(site: string): Promise<SitePolicy>;
  planRetention(site: string): Promise<RetentionPlan>;
  applyRetention(site: string, onEvent: OnJobEvent): Promise<JobEvent>;
  /** Creates a sync link; takes snapshots first, so it may take minutes. */
  createSyncLink(req: CreateSyncLinkArgs): Promise<SyncLinkView>;
  /** Links with `site` at either end; all links without it. */
  listSyncLinks(site?: string): Promise<SyncLinkView[]>;
  getSyncLink(id: string): Promise<SyncLinkView>;
  setSyncLinkPaused(id: string, paused: boolean): Promise<SyncLinkView>;
  deleteSyncLink(id: string): Promise<void>;
  checkSyncLink(id: string, repair: boolean): Promise<SyncCheckReport>;
  runSyncLink(id: string): Promise<SyncCheckReport>;
  listAudit(filter: AuditFilter): Promise<AuditEntry[]>;
  verifyAudit(anchors?: string[]): Promise<ChainReport>;
  createJoinToken(site: string, host: string, ttlSeconds: number): Promise<{ token: string; tokenId: string; expiresAt: Date; enrolmentAddress: string }>;
  revokeAgent(site: string, host: string): Promise<{ certificates: number; natsKeys: boolean }>;
  revokeOperator(name: string): Promise<{ certificates: number; consoleTokens: number }>;
  /** A web console login token for operator `name` (admin). */
  createConsoleToken(name: string, ttlSeconds: number): Promise<{ token: string; tokenId: string; expiresAt: Date }>;
  /** Storage qualification of a site's repository (admin); `sizeBytes` 0 = the default. */
  qualifyRepository(site: string, sizeBytes: number): Promise<Qualification>;
  close(): void;
}

export class GrpcControllerApi implements ControllerApi {
  private readonly client: InstanceType<typeof ControllerClient>;
  private readonly peer: string;

  constructor(
    address: string,
    private readonly timeoutMs: number,
    security: GrpcSecurity,
  ) {
    const creds = channelCredentials(security, (peer) => (peer?.kind === 'controller' ? undefined : `${address} is not an ffkeeper controller (${peer ? formatIdentity(peer) : 'no ffkeeper identity'})`));
    // A sync check lists every difference: answers may exceed gRPC's 4 MB default.
    this.client = new ControllerClient(address, creds, { ...channelOptions(security), 'grpc.max_receive_message_length': 256 * 1024 * 1024 });
    this.peer = `controller ${address}`;
  }

  async listSites(): Promise<SiteSummary[]> {
    const res = await callUnary<ListSitesRequest, ListSitesResponse>(this.client.listSites.bind(this.client), {}, this.opts());
    return res.sites;
  }

  async listAgents(site?: string): Promise<AgentEntry[]> {
    const res = await callUnary<ListAgentsRequest, ListAgentsResponse>(
      this.client.listAgents.bind(this.client),
      { site: site ?? '' },
      this.opts(),
    );
    return res.agents.map(entryFromProto).filter((e): e is AgentEntry => e !== undefined);
  }

  async getAgent(site: string, host: string): Promise<AgentDetails> {
    const res = await callUnary<GetAgentRequest, GetAgentResponse>(this.client.getAgent.bind(this.client), { site, host }, this.opts());
    const entry = res.entry ? entryFromProto(res.entry) : undefined;
    if (!entry) throw new InternalError(`${this.peer} answered GetAgent without an entry`);
    return {
      entry,
      ...(res.live ? { live: descriptionFromProto(res.live) } : {}),
      ...(res.liveError ? { liveError: res.liveError } : {}),
    };
  }

  createSnapshot(req: { site: string; leaseMs?: number; reason?: string }, onEvent: OnJobEvent): Promise<JobEvent> {
    const pb: CreateSnapshotRequest = { site: req.site, leaseMs: req.leaseMs ?? 0, reason: req.reason ?? '' };
    return this.jobStream<CreateSnapshotRequest>(this.client.createSnapshot.bind(this.client), pb, onEvent);
  }

  async listSnapshots(site: string): Promise<SnapshotSummary[]> {
    const res = await callUnary<ListSnapshotsRequest, ListSnapshotsResponse>(this.client.listSnapshots.bind(this.client), { site }, this.opts());
    return res.snapshots.map(snapshotFromProto);
  }

  async getSnapshot(id: string, site?: string): Promise<{ summary: SnapshotSummary; manifestJson: string }> {
    const res = await callUnary<GetSnapshotRequest, GetSnapshotResponse>(
      this.client.getSnapshot.bind(this.client),
      { id, site: site ?? '' },
      this.opts(),
    );
    if (!res.summary) throw new InternalError(`${this.peer} answered GetSnapshot without a summary`);
    return { summary: snapshotFromProto(res.summary), manifestJson: res.manifestJson };
  }

  deleteSnapshot(site: string, id: string): Promise<{ repositorySnapshotsRemoved: number }> {
    return callUnary<DeleteSnapshotRequest, DeleteSnapshotResponse>(this.client.deleteSnapshot.bind(this.client), { site, id }, this.longOpts());
  }

  rebuildCatalog(site: string): Promise<{ snapshots: number; added: number; removed: number; flagged: string[] }> {
    return callUnary<RebuildCatalogRequest, RebuildCatalogResponse>(this.client.rebuildCatalog.bind(this.client), { site }, this.longOpts());
  }

  async planRestore(req: RestoreArgs): Promise<RestorePlan> {
    const res = await callUnary<SiteRestoreRequest, PbRestorePlan>(this.client.planRestore.bind(this.client), restoreToProto(req), this.opts());
    if (!res.snapshot) throw new InternalError(`${this.peer} answered PlanRestore without a snapshot`);
    return { snapshot: snapshotFromProto(res.snapshot), targetSite: res.targetSite, safetySnapshot: res.safetySnapshot, steps: res.steps };
  }

  restore(req: RestoreArgs, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<SiteRestoreRequest>(this.client.restore.bind(this.client), restoreToProto(req), onEvent);
  }

  resumeRestore(jobId: string, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<ResumeRestoreRequest>(this.client.resumeRestore.bind(this.client), { jobId }, onEvent);
  }

  copySnapshots(req: { site: string; snapshotIds: string[] }, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<CopySnapshotsRequest>(this.client.copySnapshots.bind(this.client), req, onEvent);
  }

  exportSnapshot(req: { site: string; snapshotId: string; toDir: string }, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<SnapshotExportRequest>(this.client.exportSnapshot.bind(this.client), req, onEvent);
  }
  async planMigration(req: MigrationArgs): Promise<MigrationPlan> {
    const res = await callUnary<PlanMigrationRequest, MigrationPlanResponse>(this.client.planMigration.bind(this.client), { site: req.site, toModel: req.toModel, portOffset: req.portOffset ?? 0, regenerateNormalized: req.regenerateNormalized ?? false, toDetector: req.toDetector ?? '' }, this.longOpts());
    return JSON.parse(res.planJson) as MigrationPlan;
  }

  migrate(req: MigrationArgs, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<PlanMigrationRequest>(this.client.migrate.bind(this.client), { site: req.site, toModel: req.toModel, portOffset: req.portOffset ?? 0, regenerateNormalized: req.regenerateNormalized ?? false, toDetector: req.toDetector ?? '' }, onEvent);
  }

  resumeMigration(jobId: string, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<ResumeMigrationRequest>(this.client.resumeMigration.bind(this.client), { jobId }, onEvent);
  }

  rollbackMigration(site: string, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<RollbackMigrationRequest>(this.client.rollbackMigration.bind(this.client), { site }, onEvent);
  }

  finishMigration(site: string, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<RollbackMigrationRequest>(this.client.finishMigration.bind(this.client), { site }, onEvent);
  }

  importSnapshot(req: { site: string; fromDir: string; reason: string }, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<SnapshotImportRequest>(this.client.importSnapshot.bind(this.client), req, onEvent);
  }

  verify(req: { site: string; snapshotId?: string; readData: boolean; from?: RepositorySide }, onEvent: OnJobEvent): Promise<JobEvent> {
    const pb: PbVerifyRequest = { site: req.site, snapshotId: req.snapshotId ?? '', readData: req.readData, from: req.from ?? '' };
    return this.jobStream<PbVerifyRequest>(this.client.verify.bind(this.client), pb, onEvent);
  }

  async listJobs(filter: { site?: string; limit?: number }): Promise<JobRecord[]> {
    const res = await callUnary<ListJobsRequest, ListJobsResponse>(
      this.client.listJobs.bind(this.client),
      { site: filter.site ?? '', limit: filter.limit ?? 0 },
      this.opts(),
    );
    return res.jobs.map(jobRecordFromProto);
  }

  async getJob(id: string): Promise<JobRecord> {
    return jobRecordFromProto(await callUnary<GetJobRequest, PbJobRecord>(this.client.getJob.bind(this.client), { id }, this.opts()));
  }

  async watchJob(id: string, follow: boolean, onEvent: OnJobEvent): Promise<JobEvent | undefined> {
    let last: JobEvent | undefined;
    await callStream<WatchJobRequest, PbJobEvent>(this.client.watchJob.bind(this.client), { id, follow }, {
      ...this.longOpts(),
      onEvent: (pb) => {
        last = jobEventFromProto(pb);
        onEvent(last);
      },
    });
    return last;
  }

  async setSchedule(req: { site: string; kind?: string; cron?: string; timezone?: string }): Promise<ScheduleView> {
    const pb: SetScheduleRequest = { site: req.site, kind: req.kind ?? '', cron: req.cron ?? '', timezone: req.timezone ?? '' };
    return scheduleFromProto(await callUnary<SetScheduleRequest, PbSchedule>(this.client.setSchedule.bind(this.client), pb, this.opts()));
  }

  async listSchedules(site?: string): Promise<ScheduleView[]> {
    const res = await callUnary<ListSchedulesRequest, ListSchedulesResponse>(this.client.listSchedules.bind(this.client), { site: site ?? '' }, this.opts());
    return res.schedules.map(scheduleFromProto);
  }

  async removeSchedule(site: string, kind: string): Promise<void> {
    await callUnary<RemoveScheduleRequest, RemoveScheduleResponse>(this.client.removeSchedule.bind(this.client), { site, kind }, this.opts());
  }

  async setRetention(req: SitePolicyInput): Promise<SitePolicy> {
    return policyFromProto(await callUnary<SetRetentionRequest, PbRetentionPolicy>(this.client.setRetention.bind(this.client), req, this.opts()));
  }

  async getRetention(site: string): Promise<SitePolicy> {
    return policyFromProto(await callUnary<GetRetentionRequest, PbRetentionPolicy>(this.client.getRetention.bind(this.client), { site }, this.opts()));
  }

  async planRetention(site: string): Promise<RetentionPlan> {
    return retentionPlanFromProto(await callUnary<PlanRetentionRequest, PbRetentionPlan>(this.client.planRetention.bind(this.client), { site }, this.opts()));
  }

  applyRetention(site: string, onEvent: OnJobEvent): Promise<JobEvent> {
    return this.jobStream<ApplyRetentionRequest>(this.client.applyRetention.bind(this.client), { site }, onEvent);
  }

  async createSyncLink(req: CreateSyncLinkArgs): Promise<SyncLinkView> {
    // Snapshots of both sites may run (and wait for their leases) before the link is stored.
    const res = await callUnary<CreateSyncLinkRequest, PbSyncLinkView>(this.client.createSyncLink.bind(this.client), createSyncLinkToProto(req), this.longOpts());
    return syncLinkFromProto(res);
  }

  async listSyncLinks(site?: string): Promise<SyncLinkView[]> {
    const res = await callUnary<ListSyncLinksRequest, ListSyncLinksResponse>(this.client.listSyncLinks.bind(this.client), { site: site ?? '' }, this.opts());
    return res.links.map(syncLinkFromProto);
  }

  async getSyncLink(id: string): Promise<SyncLinkView> {
    return syncLinkFromProto(await callUnary<GetSyncLinkRequest, PbSyncLinkView>(this.client.getSyncLink.bind(this.client), { id }, this.opts()));
  }

  async setSyncLinkPaused(id: string, paused: boolean): Promise<SyncLinkView> {
    const res = await callUnary<SetSyncLinkPausedRequest, PbSyncLinkView>(this.client.setSyncLinkPaused.bind(this.client), { id, paused }, this.opts());
    return syncLinkFromProto(res);
  }

  async checkSyncLink(id: string, repair: boolean): Promise<SyncCheckReport> {
    return checkFromProto(await callUnary<CheckSyncLinkRequest, PbSyncCheckReport>(this.client.checkSyncLink.bind(this.client), { id, repair }, this.longOpts()));
  }

  async runSyncLink(id: string): Promise<SyncCheckReport> {
    return checkFromProto(await callUnary<RunSyncLinkRequest, PbSyncCheckReport>(this.client.runSyncLink.bind(this.client), { id }, this.longOpts()));
  }

  async deleteSyncLink(id: string): Promise<void> {
    await callUnary<DeleteSyncLinkRequest, DeleteSyncLinkResponse>(this.client.deleteSyncLink.bind(this.client), { id }, this.opts());
  }

  async listAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    const req: ListAuditRequest = { site: filter.site ?? '', since: filter.since, limit: filter.limit ?? 0 };
    const res = await callUnary<ListAuditRequest, ListAuditResponse>(this.client.listAudit.bind(this.client), req, this.longOpts());
    return JSON.parse(res.entriesJson) as AuditEntry[];
  }

  async verifyAudit(anchors: string[] = []): Promise<ChainReport> {
    const r = await callUnary<VerifyAuditRequest, VerifyAuditResponse>(this.client.verifyAudit.bind(this.client), { anchors }, this.longOpts());
    const head = r.head ? parseAnchor(r.head) : undefined;
    const keptHead = r.keptHead ? parseAnchor(r.keptHead) : undefined;
    return { records: r.records, problems: r.problems, ...(head ? { head } : {}), ...(keptHead ? { keptHead } : {}) };
  }

  async createJoinToken(site: string, host: string, ttlSeconds: number): Promise<{ token: string; tokenId: string; expiresAt: Date; enrolmentAddress: string }> {
    const res = await callUnary<CreateJoinTokenRequest, CreateJoinTokenResponse>(this.client.createJoinToken.bind(this.client), { site, host, ttlSeconds }, this.opts());
    return { token: res.token, tokenId: res.tokenId, expiresAt: res.expiresAt ?? new Date(0), enrolmentAddress: res.enrolmentAddress };
  }

  async revokeOperator(name: string): Promise<{ certificates: number; consoleTokens: number }> {
    return callUnary<RevokeOperatorRequest, RevokeOperatorResponse>(this.client.revokeOperator.bind(this.client), { name }, this.opts());
  }

  async createConsoleToken(name: string, ttlSeconds: number): Promise<{ token: string; tokenId: string; expiresAt: Date }> {
    const res = await callUnary<CreateConsoleTokenRequest, CreateConsoleTokenResponse>(this.client.createConsoleToken.bind(this.client), { name, ttlSeconds }, this.opts());
    return { token: res.token, tokenId: res.tokenId, expiresAt: res.expiresAt ?? new Date(0) };
  }

  async qualifyRepository(site: string, sizeBytes: number): Promise<Qualification> {
    const res = await callUnary<QualifyRepositoryRequest, RepositoryQualification>(this.client.qualifyRepository.bind(this.client), { site, sizeBytes }, this.longOpts());
    return JSON.parse(res.reportJson) as Qualification;
  }

  async revokeAgent(site: string, host: string): Promise<{ certificates: number; natsKeys: boolean }> {
    return callUnary<RevokeAgentRequest, RevokeAgentResponse>(this.client.revokeAgent.bind(this.client), { site, host }, this.opts());
  }

  close(): void {
    this.client.close();
  }

  /** Streams a job's events; resolves with the outcome event, which every job stream ends with. */
  private async jobStream<Req>(method: Parameters<typeof callStream<Req, PbJobEvent>>[0], req: Req, onEvent: OnJobEvent): Promise<JobEvent> {
    let outcome: JobEvent | undefined;
    await callStream<Req, PbJobEvent>(method, req, {
      ...this.longOpts(),
      onEvent: (pb) => {
        const e = jobEventFromProto(pb);
        if (e.outcome) outcome = e;
        onEvent(e);
      },
    });
    if (!outcome) throw new InternalError(`${this.peer} ended the job stream without an outcome`);
    return outcome;
  }

  private opts(): { timeoutMs: number; peer: string } {
    return { timeoutMs: this.timeoutMs, peer: this.peer };
  }

  /** Jobs run long: their streams get a day, not the per-call deadline. */
  private longOpts(): { timeoutMs: number; peer: string } {
    return { timeoutMs: 24 * 3600 * 1000, peer: this.peer };
  }
}

function restoreToProto(req: RestoreArgs): SiteRestoreRequest {
  const sel = req.selector;
  return {
    site: req.site,
    selector:
      sel.kind === 'id'
        ? { $case: 'snapshotId', value: sel.id }
        : sel.kind === 'before'
          ? { $case: 'before', value: sel.time }
          : { $case: 'latest', value: true },
    components: req.components,
    toSite: req.toSite ?? '',
    noSafetySnapshot: req.noSafetySnapshot,
    from: req.from ?? '',
  };
}
