/** The agent's gRPC server: the Agent service, handlers converting to/from proto at the edge. */
import {
  AgentService,
  type AbortRequest,
  type AbortResponse,
  type AgentServer,
  type ControlUnitsRequest,
  type ControlUnitsResponse,
  type CutRef,
  type DropSandboxRequest,
  type ExportSnapshotRequest,
  type ExportSnapshotResponse,
  type ImportSnapshotRequest,
  type ImportSnapshotResponse,
  type DropSandboxResponse,
  type RunCheckRequest,
  type RunCheckResponse,
  type CutResponse,
  type DescribeRequest,
  type DescribeResponse,
  type FreezeRequest,
  type FreezeResponse,
  type PrepareRequest,
  type PrepareResponse,
  type RestoreEvent,
  type RestoreRequest,
  type ThawResponse,
  type UploadEvent,
  type UploadRequest,
  type InspectSyncRequest,
  type InspectSyncResponse,
  type NativeSyncRequest as NativeSyncRequestPb,
  type NativeSyncResponse,
  type MigrationRequest as MigrationRequestPb,
  type MigrationResponse,
} from '../../proto/gen/ffkeeper/v1/agent.js';
import type { ComponentProgress } from '../../proto/gen/ffkeeper/v1/common.js';
import { ValidationError } from '../../shared/errors.js';
import { isRestorePhase, RESTORE_PHASES, type RestorePhase } from '../../shared/restore-phases.js';
import type { AgentDescription } from '../../shared/fleet.js';
import { descriptionToProto } from '../../shared/transport/convert.js';
import { accessFromProto, artifactFromProto, artifactToProto, cutPointToProto } from '../../shared/transport/convert-cut.js';
import { serverStream, startGrpcServer, unary, type RunningGrpcServer } from '../../shared/transport/grpc-server.js';
import { onlyKind, type GrpcSecurity } from '../../shared/transport/grpc-security.js';
import type { DriverProgress } from '../domain/drivers/types.js';
import type { AgentJobs } from '../domain/jobs.js';
import { parseInspectRequest, type InspectRequest, type InspectResult } from '../../shared/sync/inspect.js';
import { parseNativeSyncRequest, type NativeSyncRequest, type NativeSyncResult } from '../../shared/sync/native.js';
import { parseMigrationRequest, type MigrationRequest, type MigrationResult } from '../../shared/migration/survey.js';

/** How long before the controller's deadline a unit start/stop gives up, so the agent's reason reaches it. */
const UNIT_ANSWER_MARGIN_MS = 1000;

export interface AgentHandlers {
  describe(): AgentDescription;
  jobs(): AgentJobs;
  inspectSync(request: InspectRequest): Promise<InspectResult>;
  nativeSync(request: NativeSyncRequest): Promise<NativeSyncResult>;
  migration(request: MigrationRequest): Promise<MigrationResult>;
}

function progressToProto(p: DriverProgress): ComponentProgress | undefined {
  const e = p.event;
  if (!e || e.kind !== 'progress') return undefined;
  return {
    component: p.component,
    bytesDone: e.bytesDone,
    bytesTotal: e.bytesTotal,
    filesDone: e.filesDone,
    filesTotal: e.filesTotal,
    etaSeconds: e.etaSeconds ?? 0,
  };
}

function progressEmitter<Ev>(emit: (ev: Ev) => void, wrap: (p: ComponentProgress) => Ev): (p: DriverProgress) => void {
  return (p) => {
    const pb = progressToProto(p);
    if (pb) emit(wrap(pb));
  };
}

function implementation(h: AgentHandlers): AgentServer {
  return {
    describe: unary<DescribeRequest, DescribeResponse>(() => ({ agent: descriptionToProto(h.describe()) })),
    prepare: unary<PrepareRequest, PrepareResponse>(async (req) => ({
      components: await h.jobs().prepare({
        cutId: req.cutId,
        site: req.site,
        components: req.components,
        leaseMs: req.leaseMs,
        freezeWithinMs: req.freezeWithinMs,
        repository: accessFromProto(req.repository),
        parents: req.parents,
        parentsComplete: req.parentsComplete,
      }),
    })),
    freeze: unary<FreezeRequest, FreezeResponse>(async (req) => {
      const done = await h.jobs().freeze(req.cutId, { cut: req.cut, thawIfHoldingNone: req.thawIfHoldingNone });
      return {
        points: (done.points ?? []).map(cutPointToProto),
        cut: done.points !== undefined,
        thawed: done.thawed !== undefined,
        freezeWindowMs: done.thawed?.freezeWindowMs ?? 0,
      };
    }),
    cut: unary<CutRef, CutResponse>(async (req) => ({ points: (await h.jobs().cut(req.cutId)).map(cutPointToProto) })),
    thaw: unary<CutRef, ThawResponse>((req) => h.jobs().thaw(req.cutId)),
    abort: unary<AbortRequest, AbortResponse>(async (req) => {
      await h.jobs().abort(req.cutId, req.reason || 'aborted by the controller');
      return {};
    }),
    controlUnits: unary<ControlUnitsRequest, ControlUnitsResponse>(async (req, call) => {
      // Answer with the unit's own reason a moment before the caller's deadline fires.
      await h.jobs().controlUnits(req.action as 'start' | 'stop', req.units, { timeoutMs: call.remainingMs() - UNIT_ANSWER_MARGIN_MS });
      return {};
    }),
    runCheck: unary<RunCheckRequest, RunCheckResponse>((req) => h.jobs().runCheck(req.sandboxJson || undefined)),
    dropSandbox: unary<DropSandboxRequest, DropSandboxResponse>((req) => h.jobs().dropSandbox(req.sandboxId)),
    exportSnapshot: unary<ExportSnapshotRequest, ExportSnapshotResponse>(async (req, call) => {
      const files = await h.jobs().exportSnapshot({
        signal: call.signal,
        jobId: req.jobId,
        artifacts: req.artifacts.map(artifactFromProto),
        repository: accessFromProto(req.repository),
        sandboxId: req.sandboxId,
        sandboxJson: req.sandboxJson,
        toDir: req.toDir,
        manifestJson: req.manifestJson,
      });
      return { dir: req.toDir, files };
    }),
    importSnapshot: unary<ImportSnapshotRequest, ImportSnapshotResponse>(async (req, call) => {
      const done = await h.jobs().importSnapshot({
        signal: call.signal,
        jobId: req.jobId,
        site: req.site,
        cutId: req.cutId,
        fromDir: req.fromDir,
        base: req.base.map(artifactFromProto),
        repository: accessFromProto(req.repository),
      });
      return { artifacts: done.artifacts.map(artifactToProto), time: done.time, sourceSite: done.source?.site ?? '', sourceCutId: done.source?.cutId ?? '' };
    }),
    inspectSync: unary<InspectSyncRequest, InspectSyncResponse>(async (req) => ({ resultJson: JSON.stringify(await h.inspectSync(parseInspectRequest(req.requestJson))) })),
    nativeSync: unary<NativeSyncRequestPb, NativeSyncResponse>(async (req) => ({ resultJson: JSON.stringify(await h.nativeSync(parseNativeSyncRequest(req.requestJson))) })),
    migration: unary<MigrationRequestPb, MigrationResponse>(async (req) => ({ resultJson: JSON.stringify(await h.migration(parseMigrationRequest(req.requestJson))) })),
    upload: serverStream<UploadRequest, UploadEvent>(async (req, emit, signal) => {
      const artifacts = await h.jobs().upload({
        cutId: req.cutId,
        jobId: req.jobId,
        site: req.site,
        repository: accessFromProto(req.repository),
        parents: req.parents,
        parentsComplete: req.parentsComplete,
        onProgress: progressEmitter(emit, (p) => ({ event: { $case: 'progress' as const, value: p } })),
        signal,
      });
      emit({ event: { $case: 'result', value: { artifacts: artifacts.map(artifactToProto) } } });
    }),
    restore: serverStream<RestoreRequest, RestoreEvent>(async (req, emit, signal) => {
      const { reports, sandbox } = await h.jobs().restore({
        jobId: req.jobId,
        artifacts: req.artifacts.map(artifactFromProto),
        repository: accessFromProto(req.repository),
        ...(req.targetDir ? { targetDir: req.targetDir } : {}),
        ...(req.sandboxId ? { sandboxId: req.sandboxId } : {}),
        ...(req.phase ? { phase: restorePhaseOf(req.phase) } : {}),
        onProgress: progressEmitter(emit, (p) => ({ event: { $case: 'progress' as const, value: p } })),
        onStep: (component, s) =>
          emit({ event: { $case: 'step', value: { component, step: s.step, ok: s.ok, durationMs: s.durationMs, detail: s.detail ?? '' } } }),
        signal,
      });
      const steps = reports.flatMap((r) =>
        r.steps.map((s) => ({ component: r.component, step: s.step, ok: s.ok, durationMs: s.durationMs, detail: s.detail ?? '' })),
      );
      emit({ event: { $case: 'result', value: { steps, sandboxJson: sandbox ? JSON.stringify(sandbox) : '' } } });
    }),
  };
}

function restorePhaseOf(phase: string): RestorePhase {
  if (!isRestorePhase(phase)) throw new ValidationError(`restore phase '${phase}' is not one of ${RESTORE_PHASES.join(', ')}`, { field: 'phase' });
  return phase;
}

/** Serves the agent API; with mTLS only the controller's certificate may call it. */
export function startAgentGrpcServer(listen: string, handlers: AgentHandlers, security: GrpcSecurity): Promise<RunningGrpcServer> {
  return startGrpcServer(listen, AgentService, implementation(handlers), { security, authorize: onlyKind('controller', 'agent') });
}
