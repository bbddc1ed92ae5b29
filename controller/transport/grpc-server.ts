/** The controller's gRPC server: the Controller service, converting to/from proto at the edge. */
import type { JobEvent as PbJobEvent } from '../../proto/gen/ffkeeper/v1/common.js';
import {
  ControllerService,
  type ControllerServer,
  type CreateSnapshotRequest,
  type DeleteSnapshotRequest,
  type DeleteSnapshotResponse,
  type GetAgentRequest,
  type GetAgentResponse,
  type GetJobRequest,
  type GetSnapshotRequest,
  type GetSnapshotResponse,
  type JobRecord as PbJobRecord,
  type ListAgentsRequest,
  type ListAgentsResponse,
  type ListJobsRequest,
  type ListJobsResponse,
  type ListSitesRequest,
  type ListSitesResponse,
  type ListSnapshotsRequest,
  type ListSnapshotsResponse,
  type RebuildCatalogRequest,
  type RebuildCatalogResponse,
  type RestorePlan as PbRestorePlan,
  type ResumeRestoreRequest,
  type SiteRestoreRequest,
  type WatchJobRequest,
  type VerifyRequest as PbVerifyRequest,
  type SnapshotExportRequest,
  type SnapshotImportRequest,
  type PlanMigrationRequest,
  type ResumeMigrationRequest,
  type RollbackMigrationRequest,
  type MigrationPlanResponse,
  type ApplyRetentionRequest,
  type CopySnapshotsRequest,
  type GetRetentionRequest,
  type ListSchedulesRequest,
  type ListSchedulesResponse,
  type PlanRetentionRequest,
  type RemoveScheduleRequest,
  type RemoveScheduleResponse,
  type RetentionPlan as PbRetentionPlan,
  type RetentionPolicy as PbRetentionPolicy,
  type Schedule as PbSchedule,
  type SetRetentionRequest,
  type SetScheduleRequest,
  type CreateSyncLinkRequest,
  type CheckSyncLinkRequest,
  type RunSyncLinkRequest,
  type SyncCheckReport as PbSyncCheckReport,
  type DeleteSyncLinkRequest,
  type DeleteSyncLinkResponse,
  type GetSyncLinkRequest,
  type ListSyncLinksRequest,
  type ListSyncLinksResponse,
  type SetSyncLinkPausedRequest,
  type SyncLinkView as PbSyncLinkView,
  type QualifyRepositoryRequest,
  type RepositoryQualification,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import type { RetentionService } from '../domain/retention-service.js';
import type { ScheduleService } from '../domain/schedules.js';
import type { SyncService } from '../domain/sync/service.js';
import { policyToProto, retentionPlanToProto, scheduleToProto } from './convert-policies.js';
import { checkToProto, createSyncLinkFromProto, syncLinkToProto } from './convert-sync.js';
import { NotFoundError, ValidationError } from '../../shared/errors.js';
import { descriptionToProto, entryToProto, siteToProto } from '../../shared/transport/convert.js';
import { jobEventToProto, jobRecordToProto, snapshotToProto } from '../../shared/transport/convert-jobs.js';
import { serverStream, startGrpcServer, unary, type RunningGrpcServer } from '../../shared/transport/grpc-server.js';
import { controllerGuard, type GuardDeps } from './guard.js';
import { anchorProblems, checkAnchor, filterEntries, formatAnchor, verifyChain, type AuditAnchor, type AuditLog } from '../domain/access/audit.js';
import type { ListAuditRequest, ListAuditResponse, VerifyAuditRequest, VerifyAuditResponse } from '../../proto/gen/ffkeeper/v1/controller.js';
import {
  EnrolmentService as EnrolmentDefinition,
  type CreateConsoleTokenRequest,
  type CreateConsoleTokenResponse,
  type CreateJoinTokenRequest,
  type CreateJoinTokenResponse,
  type EnrolmentServer,
  type EnrolRequest,
  type EnrolResponse,
  type RevokeAgentRequest,
  type RevokeAgentResponse,
  type RevokeOperatorRequest,
  type RevokeOperatorResponse,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import type { ServerCredentials } from '@grpc/grpc-js';
import type { AuditOutcome } from '../domain/access/audit.js';
import type { EnrolmentService } from '../domain/enrolment.js';
import type { ConsoleTokens } from '../domain/access/console-tokens.js';
import { FfkError, IllegalStateError, PermissionDeniedError } from '../../shared/errors.js';
import { formatIdentity } from '../../shared/security/identity.js';
import type { Logger } from '../../shared/logger.js';
import type { FleetService } from '../domain/fleet-service.js';
import type { JobRunner, RunningJob } from '../domain/jobs.js';
import type { EventLog, JobStore } from '../domain/ports.js';
import type { RestoreArgs, RestoreService } from '../domain/restore-service.js';
import { encodeManifest } from '../../shared/manifest-codec.js';
import { summarize } from '../../shared/manifest.js';
import type { SnapshotService } from '../domain/snapshot/service.js';
import type { RepositoryService } from '../domain/repository/service.js';
import type { VerifyService } from '../domain/verify/service.js';
import type { ExportService } from '../domain/export/service.js';
import type { ImportService } from '../domain/import/service.js';
import type { MigrationPlanner } from '../domain/migration/planner.js';
import type { MigrationJobs } from '../domain/migration/job.js';
import { parseRepositorySide, type CopyService, type RepositorySide } from '../domain/snapshot/copy.js';

export interface ControllerServices {
  fleet: FleetService;
  snapshots: SnapshotService;
  restores: RestoreService;
  jobs: JobRunner;
  jobStore: JobStore;
  events: EventLog;
  schedules: ScheduleService;
  retention: RetentionService;
  verify: VerifyService;
  exports: ExportService;
  imports: ImportService;
  migrations: MigrationPlanner;
  migrationJobs: MigrationJobs;
  sync: SyncService;
  audit: AuditLog;
  /** The head the controller keeps outside the stream (audit.headFile): checked by every verify. */
  auditHead?: () => Promise<AuditAnchor | undefined>;
  /** Absent when the controller has no fleet CA (config ca.dir). */
  enrolment?: EnrolmentService;
  consoleTokens: ConsoleTokens;
  repositories: RepositoryService;
  copies: CopyService;
}

/** Streams a job's events to the caller until its outcome. */
async function follow(job: RunningJob, emit: (e: PbJobEvent) => void): Promise<void> {
  const unsubscribe = job.subscribe((e) => emit(jobEventToProto(e)));
  try {
    await job.done;
  } finally {
    unsubscribe();
  }
}

function restoreFromProto(req: SiteRestoreRequest): RestoreArgs {
  const sel = req.selector;
  const selector: RestoreArgs['selector'] =
    sel?.$case === 'snapshotId'
      ? { kind: 'id', id: sel.value }
      : sel?.$case === 'before'
        ? { kind: 'before', time: sel.value }
        : sel?.$case === 'latest'
          ? { kind: 'latest' }
          : (() => {
              throw new ValidationError('a restore needs one of --snapshot ID, --before TIME or --latest', { field: 'selector' });
            })();
  return {
    site: req.site,
    selector,
    components: req.components,
    ...(req.toSite ? { toSite: req.toSite } : {}),
    noSafetySnapshot: req.noSafetySnapshot,
    ...fromSide(req.from),
  };
}

/** `{ from: 'secondary' }`, or nothing for the primary. */
function fromSide(text: string): { from?: RepositorySide } {
  const side = parseRepositorySide(text);
  return side ? { from: side } : {};
}

function implementation(s: ControllerServices): ControllerServer {
  return {
    listSites: unary<ListSitesRequest, ListSitesResponse>(() => ({ sites: s.fleet.listSites().map(siteToProto) })),
    listAgents: unary<ListAgentsRequest, ListAgentsResponse>((req) => ({
      agents: s.fleet.listAgents(req.site || undefined).map(entryToProto),
    })),
    getAgent: unary<GetAgentRequest, GetAgentResponse>(async (req) => {
      const details = await s.fleet.getAgent(req.site, req.host);
      return {
        entry: entryToProto(details.entry),
        live: details.live ? descriptionToProto(details.live) : undefined,
        liveError: details.liveError ?? '',
      };
    }),
    createSnapshot: serverStream<CreateSnapshotRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.snapshots.create({ site: req.site, leaseMs: req.leaseMs, reason: req.reason }), emit);
    }),
    listSnapshots: unary<ListSnapshotsRequest, ListSnapshotsResponse>(async (req) => ({
      snapshots: (await s.verify.annotate(req.site, await s.snapshots.list(req.site))).map(snapshotToProto),
    })),
    getSnapshot: unary<GetSnapshotRequest, GetSnapshotResponse>(async (req) => {
      const m = await s.snapshots.get(req.id, req.site || undefined);
      const [summary] = await s.verify.annotate(m.site, [summarize(m)]);
      return { summary: snapshotToProto(summary ?? summarize(m)), manifestJson: encodeManifest(m) };
    }),
    exportSnapshot: serverStream<SnapshotExportRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.exports.start({ site: req.site, snapshotId: req.snapshotId, toDir: req.toDir }), emit);
    }),
    importSnapshot: serverStream<SnapshotImportRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.imports.start({ site: req.site, fromDir: req.fromDir, ...(req.reason ? { reason: req.reason } : {}) }), emit);
    }),
    planMigration: unary<PlanMigrationRequest, MigrationPlanResponse>(async (req) => ({
      planJson: JSON.stringify(await s.migrations.plan({ site: req.site, toModel: req.toModel, portOffset: req.portOffset, regenerateNormalized: req.regenerateNormalized, ...(req.toDetector ? { toDetector: req.toDetector } : {}) })),
    })),
    migrate: serverStream<PlanMigrationRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.migrationJobs.start({ site: req.site, toModel: req.toModel, portOffset: req.portOffset, regenerateNormalized: req.regenerateNormalized, ...(req.toDetector ? { toDetector: req.toDetector } : {}) }), emit);
    }),
    resumeMigration: serverStream<ResumeMigrationRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.migrationJobs.resume(req.jobId), emit);
    }),
    rollbackMigration: serverStream<RollbackMigrationRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.migrationJobs.rollback(req.site), emit);
    }),
    finishMigration: serverStream<RollbackMigrationRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.migrationJobs.finish(req.site), emit);
    }),
    verify: serverStream<PbVerifyRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.verify.start({ site: req.site, readData: req.readData, ...(req.snapshotId ? { snapshotId: req.snapshotId } : {}), ...fromSide(req.from) }), emit);
    }),
    copySnapshots: serverStream<CopySnapshotsRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.copies.copy(req.site, req.snapshotIds), emit);
    }),
    deleteSnapshot: unary<DeleteSnapshotRequest, DeleteSnapshotResponse>(async (req) => ({
      repositorySnapshotsRemoved: await s.snapshots.delete(req.site, req.id),
    })),
    rebuildCatalog: unary<RebuildCatalogRequest, RebuildCatalogResponse>((req) => s.snapshots.rebuildCatalog(req.site)),
    planRestore: unary<SiteRestoreRequest, PbRestorePlan>(async (req) => {
      const plan = await s.restores.plan(restoreFromProto(req));
      return { ...plan, snapshot: snapshotToProto(plan.snapshot) };
    }),
    restore: serverStream<SiteRestoreRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.restores.start(restoreFromProto(req)), emit);
    }),
    resumeRestore: serverStream<ResumeRestoreRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.restores.resume(req.jobId), emit);
    }),
    listJobs: unary<ListJobsRequest, ListJobsResponse>(async (req) => ({
      jobs: (await s.jobStore.list({ ...(req.site ? { site: req.site } : {}), ...(req.limit ? { limit: req.limit } : {}) })).map(jobRecordToProto),
    })),
    getJob: unary<GetJobRequest, PbJobRecord>(async (req) => {
      const r = await s.jobStore.get(req.id);
      if (!r) throw new NotFoundError(`job '${req.id}' not found`);
      return jobRecordToProto(r);
    }),
    watchJob: serverStream<WatchJobRequest, PbJobEvent>(async (req, emit) => {
      const r = await s.jobStore.get(req.id);
      if (!r) throw new NotFoundError(`job '${req.id}' not found`);
      const live: PbJobEvent[] = [];
      let replaying = true;
      const unsubscribe = req.follow ? s.jobs.subscribe(r.id, (e) => (replaying ? live.push(jobEventToProto(e)) : emit(jobEventToProto(e)))) : undefined;
      const seen = new Set<string>();
      for (const e of await s.events.history(r.site, r.id)) {
        seen.add(`${e.time.getTime()}|${e.step}|${e.message ?? ''}`);
        emit(jobEventToProto(e));
      }
      for (const e of live) if (!seen.has(`${e.time?.getTime()}|${e.step}|${e.detail?.$case === 'message' ? e.detail.value : ''}`)) emit(e);
      replaying = false;
      if (!unsubscribe) return;
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (!s.jobs.isRunning(r.id)) {
            clearInterval(poll);
            resolve();
          }
        }, 200);
      });
      unsubscribe();
    }),
    setSchedule: unary<SetScheduleRequest, PbSchedule>(async (req) => {
      return scheduleToProto(await s.schedules.set(req));
    }),
    listSchedules: unary<ListSchedulesRequest, ListSchedulesResponse>(async (req) => ({
      schedules: (await s.schedules.list(req.site || undefined)).map(scheduleToProto),
    })),
    removeSchedule: unary<RemoveScheduleRequest, RemoveScheduleResponse>(async (req) => {
      const removed = await s.schedules.remove(req.site, req.kind || 'snapshot');
      if (!removed) throw new NotFoundError(`site '${req.site}' has no ${req.kind || 'snapshot'} schedule`);
      return { removed };
    }),
    setRetention: unary<SetRetentionRequest, PbRetentionPolicy>(async (req) => {
      const { site, ...rest } = req;
      return policyToProto(site, await s.retention.set(site, { ...rest, timezone: rest.timezone || 'UTC' }));
    }),
    getRetention: unary<GetRetentionRequest, PbRetentionPolicy>(async (req) => {
      return policyToProto(req.site, await s.retention.show(req.site));
    }),
    planRetention: unary<PlanRetentionRequest, PbRetentionPlan>(async (req) => {
      return retentionPlanToProto(await s.retention.plan(req.site));
    }),
    applyRetention: serverStream<ApplyRetentionRequest, PbJobEvent>(async (req, emit) => {
      await follow(await s.retention.apply(req.site), emit);
    }),
    ...syncImplementation(s.sync),
    ...auditImplementation(s.audit, s.auditHead),
    ...enrolmentImplementation(s.enrolment),
    createConsoleToken: unary<CreateConsoleTokenRequest, CreateConsoleTokenResponse>(async (req, call) => {
      const who = call.identity();
      const t = await s.consoleTokens.issue(req.name, req.ttlSeconds ? req.ttlSeconds * 1000 : undefined, who ? formatIdentity(who) : 'anonymous (insecure lab)');
      return { token: t.token, tokenId: t.id, expiresAt: t.expiresAt };
    }),
    qualifyRepository: unary<QualifyRepositoryRequest, RepositoryQualification>(async (req) => {
      const report = await s.repositories.qualify(req.site, req.sizeBytes);
      return { reportJson: JSON.stringify(report), ok: report.ok };
    }),
  };
}

function noAuthority(): never {
  throw new IllegalStateError('this controller has no fleet CA (config ca.dir): enrolment and revocation run on the controller host that holds it');
}

function enrolmentImplementation(enrolment: EnrolmentService | undefined): Pick<ControllerServer, 'createJoinToken' | 'revokeAgent' | 'revokeOperator'> {
  return {
    createJoinToken: unary<CreateJoinTokenRequest, CreateJoinTokenResponse>(async (req, call) => {
      if (!enrolment) noAuthority();
      const who = call.identity();
      const t = await enrolment.createToken(req.site, req.host, req.ttlSeconds ? req.ttlSeconds * 1000 : undefined, who ? formatIdentity(who) : 'anonymous (insecure lab)');
      return { token: t.token, tokenId: t.id, expiresAt: t.expiresAt, enrolmentAddress: t.enrolmentAddress };
    }),
    revokeAgent: unary<RevokeAgentRequest, RevokeAgentResponse>(async (req) => {
      if (!enrolment) noAuthority();
      const r = await enrolment.revoke(req.site, req.host);
      return { certificates: r.certificates, natsKeys: r.natsKeys };
    }),
    revokeOperator: unary<RevokeOperatorRequest, RevokeOperatorResponse>(async (req, call) => {
      if (!enrolment) noAuthority();
      return enrolment.revokeOperator(req.name, call.identity());
    }),
  };
}

/**
 * The Enrolment service on its own address: the controller's certificate (with the CA's, so a new agent
 * can check it against the fingerprint in its token), no client certificate asked. Each attempt is
 * recorded in the audit trail, as who the token names.
 */
export function startEnrolmentServer(listen: string, enrolment: EnrolmentService, credentials: ServerCredentials, audit: AuditLog, log: Logger): Promise<RunningGrpcServer> {
  const implementation: EnrolmentServer = {
    enrol: unary<EnrolRequest, EnrolResponse>(async (req, call) => {
      const record = async (outcome: AuditOutcome, who: string, sites: string[], err?: unknown): Promise<void> => {
        const failure = err instanceof FfkError ? { code: err.code, message: err.message } : err ? { code: 'INTERNAL', message: String(err) } : {};
        await audit
          .append({ at: new Date().toISOString(), who, from: call.address(), method: 'enrol', sites, args: { tokenId: req.tokenId }, outcome, ...failure })
          .catch((e: unknown) => log.error({ err: e }, 'could not record an enrolment in the audit trail'));
      };
      try {
        const r = await enrolment.enrol(req);
        await record('ok', `agent ${r.site}/${r.host}`, [r.site]);
        return { site: r.site, host: r.host, certificatePem: r.cert, caPem: r.ca };
      } catch (err) {
        await record(err instanceof PermissionDeniedError ? 'denied' : 'failed', `join token ${req.tokenId}`, [], err);
        throw err;
      }
    }),
  };
  return startGrpcServer(listen, EnrolmentDefinition, implementation, { security: { insecure: true }, credentials });
}

const KEPT_HEAD_LABEL = { record: "the head this controller kept (audit.headFile), record", hash: "the head this controller kept" };

function auditImplementation(audit: AuditLog, keptHead?: () => Promise<AuditAnchor | undefined>): Pick<ControllerServer, 'listAudit' | 'verifyAudit'> {
  return {
    listAudit: unary<ListAuditRequest, ListAuditResponse>(async (req) => {
      const { entries } = await audit.entries();
      const filter = { ...(req.site ? { site: req.site } : {}), ...(req.since ? { since: req.since } : {}), ...(req.limit ? { limit: req.limit } : {}) };
      return { entriesJson: JSON.stringify(filterEntries(entries, filter)) };
    }),
    verifyAudit: unary<VerifyAuditRequest, VerifyAuditResponse>(async (req) => {
      const anchors = req.anchors.map((text) => checkAnchor(text));
      const kept = await keptHead?.();
      const { entries, firstSeq } = await audit.entries();
      const r = verifyChain(entries, firstSeq, anchors);
      const problems = [...r.problems, ...anchorProblems(entries, kept ? [kept] : [], KEPT_HEAD_LABEL)];
      return { records: r.records, problems, head: r.head ? formatAnchor(r.head) : '', keptHead: kept ? formatAnchor(kept) : '' };
    }),
  };
}

function syncImplementation(sync: SyncService): Pick<ControllerServer, 'createSyncLink' | 'listSyncLinks' | 'getSyncLink' | 'setSyncLinkPaused' | 'deleteSyncLink' | 'checkSyncLink' | 'runSyncLink'> {
  return {
    createSyncLink: unary<CreateSyncLinkRequest, PbSyncLinkView>(async (req) => syncLinkToProto(await sync.create(createSyncLinkFromProto(req)))),
    listSyncLinks: unary<ListSyncLinksRequest, ListSyncLinksResponse>(async (req) => ({
      links: (await sync.list(req.site || undefined)).map(syncLinkToProto),
    })),
    getSyncLink: unary<GetSyncLinkRequest, PbSyncLinkView>(async (req) => syncLinkToProto(await sync.get(req.id))),
    checkSyncLink: unary<CheckSyncLinkRequest, PbSyncCheckReport>(async (req) => checkToProto(await sync.check(req.id, req.repair))),
    runSyncLink: unary<RunSyncLinkRequest, PbSyncCheckReport>(async (req) => checkToProto(await sync.run(req.id))),
    setSyncLinkPaused: unary<SetSyncLinkPausedRequest, PbSyncLinkView>(async (req) => syncLinkToProto(await sync.setPaused(req.id, req.paused))),
    deleteSyncLink: unary<DeleteSyncLinkRequest, DeleteSyncLinkResponse>(async (req) => {
      await sync.remove(req.id);
      return { removed: true };
    }),
  };
}

/** Serves the controller API: every call checked against the operators' roles and audited (transport/guard.ts). */
export function startControllerGrpcServer(listen: string, services: ControllerServices, guard: GuardDeps): Promise<RunningGrpcServer> {
  return startGrpcServer(listen, ControllerService, implementation(services), { security: guard.security, guard: controllerGuard(guard) });
}
