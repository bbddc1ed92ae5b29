/** What the CLI needs from the controller, and its gRPC implementation (proto converted at the edge). */
import { credentials } from '@grpc/grpc-js';
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
  RebuildCatalogRequest,
  RebuildCatalogResponse,
  RestorePlan as PbRestorePlan,
  ResumeRestoreRequest,
  SiteRestoreRequest,
  WatchJobRequest,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import { InternalError } from '../../shared/errors.js';
import type { JobEvent, JobRecord } from '../../shared/jobs.js';
import type { RestoreArgs, RestorePlanView } from '../domain/restore-service.js';
import {
  jobEventFromProto,
  jobRecordFromProto,
  snapshotFromProto,
  type SnapshotSummary,
} from '../../shared/transport/convert-jobs.js';
import type { AgentDescription, AgentEntry, SiteSummary } from '../../shared/fleet.js';
import { descriptionFromProto, entryFromProto } from '../../shared/transport/convert.js';
import { callStream, callUnary } from '../../shared/transport/grpc-client.js';

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
  rebuildCatalog(site: string): Promise<{ snapshots: number; added: number; removed: number }>;
  planRestore(req: RestoreArgs): Promise<RestorePlan>;
  restore(req: RestoreArgs, onEvent: OnJobEvent): Promise<JobEvent>;
  resumeRestore(jobId: string, onEvent: OnJobEvent): Promise<JobEvent>;
  listJobs(filter: { site?: string; limit?: number }): Promise<JobRecord[]>;
  getJob(id: string): Promise<JobRecord>;
  /** Replays a job's events (and with `follow`, waits for the rest); resolves with the last event. */
  watchJob(id: string, follow: boolean, onEvent: OnJobEvent): Promise<JobEvent | undefined>;
  close(): void;
}

export class GrpcControllerApi implements ControllerApi {
  private readonly client: InstanceType<typeof ControllerClient>;
  private readonly peer: string;

  constructor(
    address: string,
    private readonly timeoutMs: number,
  ) {
    this.client = new ControllerClient(address, credentials.createInsecure());
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

  rebuildCatalog(site: string): Promise<{ snapshots: number; added: number; removed: number }> {
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
  };
}
