/** AgentClient over gRPC: one channel per agent address, every call with a deadline. */
import {
  type InspectSyncRequest,
  type InspectSyncResponse,
  type NativeSyncRequest as NativeSyncRequestPb,
  type NativeSyncResponse,
  type MigrationRequest as MigrationRequestPb,
  type MigrationResponse,
  AgentClient as PbAgentClient,
  type AbortRequest,
  type AbortResponse,
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
} from '../../proto/gen/ffkeeper/v1/agent.js';
import { InternalError } from '../../shared/errors.js';
import { parseSandboxComponents, type SandboxComponent } from '../../shared/sandbox.js';
import type { AgentDescription } from '../../shared/fleet.js';
import type { FreezeOutcome } from '../../shared/cut.js';
import type { ComponentArtifact, CutPoint } from '../../shared/manifest.js';
import { descriptionFromProto } from '../../shared/transport/convert.js';
import { accessToProto, artifactFromProto, artifactToProto, cutPointFromProto } from '../../shared/transport/convert-cut.js';
import { callStream, callUnary, type CallOptionsLite } from '../../shared/transport/grpc-client.js';
import type { InspectRequest, InspectResult } from '../../shared/sync/inspect.js';
import type { NativeSyncRequest, NativeSyncResult } from '../../shared/sync/native.js';
import type { MigrationRequest, MigrationResult } from '../../shared/migration/survey.js';
import { channelCredentials, channelOptions, expectPeer, type GrpcSecurity } from '../../shared/transport/grpc-security.js';
import { formatIdentity, type PeerIdentity } from '../../shared/security/identity.js';
import type { AgentClient, AgentRestoreStep, CallDeadline, ExportedFileInfo, IntegrityReport } from '../domain/ports.js';

type PbClient = InstanceType<typeof PbAgentClient>;
type Args<K extends keyof AgentClient> = Parameters<AgentClient[K]>;

/** Largest agent answer accepted (gRPC's default is 4 MB). */
const MAX_ANSWER_BYTES = 512 * 1024 * 1024;

export interface AgentClientOptions {
  security: GrpcSecurity;
  /**
   * Who must answer at an address (the inventory's site/host of that agent): an agent whose certificate
   * names another site or host is refused. Undefined for an address: any agent certificate of the CA.
   */
  expectedAt?: (address: string) => PeerIdentity | undefined;
  /** Whether a certificate serial is revoked (the fleet CA's list, when the controller holds it). */
  isRevoked?: (serial: string) => boolean;
}

export class GrpcAgentClient implements AgentClient {
  private readonly clients = new Map<string, PbClient>();

  constructor(private readonly options: AgentClientOptions) {}

  async describe(address: string, options: CallDeadline): Promise<AgentDescription> {
    const c = this.client(address);
    const res = await callUnary<DescribeRequest, DescribeResponse>(c.describe.bind(c), {}, this.opts(address, options));
    if (!res.agent) throw new InternalError(`agent ${address} answered Describe without a description`);
    return descriptionFromProto(res.agent);
  }

  async prepare(...[address, req, options]: Args<'prepare'>): Promise<string[]> {
    const c = this.client(address);
    const pb: PrepareRequest = {
      cutId: req.cutId,
      site: req.site,
      components: req.components,
      leaseMs: req.leaseMs,
      freezeWithinMs: req.freezeWithinMs ?? 0,
      repository: accessToProto(req.repository),
      parents: req.parents ?? {},
      parentsComplete: req.parentsComplete ?? false,
    };
    const res = await callUnary<PrepareRequest, PrepareResponse>(c.prepare.bind(c), pb, this.opts(address, options));
    return res.components;
  }

  async freeze(...[address, cutId, options, also]: Args<'freeze'>): Promise<FreezeOutcome> {
    const c = this.client(address);
    const req: FreezeRequest = { cutId, cut: also?.cut ?? false, thawIfHoldingNone: also?.thawIfHoldingNone ?? false };
    const res = await callUnary<FreezeRequest, FreezeResponse>(c.freeze.bind(c), req, this.opts(address, options));
    return {
      ...(res.cut ? { points: res.points.map(cutPointFromProto) } : {}),
      ...(res.thawed ? { thawed: { freezeWindowMs: res.freezeWindowMs } } : {}),
    };
  }

  async cut(address: string, cutId: string, options: CallDeadline): Promise<CutPoint[]> {
    const c = this.client(address);
    const res = await callUnary<CutRef, CutResponse>(c.cut.bind(c), { cutId }, this.opts(address, options));
    return res.points.map(cutPointFromProto);
  }

  async thaw(address: string, cutId: string, options: CallDeadline): Promise<{ freezeWindowMs: number }> {
    const c = this.client(address);
    return callUnary<CutRef, ThawResponse>(c.thaw.bind(c), { cutId }, this.opts(address, options));
  }

  async abort(address: string, cutId: string, reason: string, options: CallDeadline): Promise<void> {
    const c = this.client(address);
    await callUnary<AbortRequest, AbortResponse>(c.abort.bind(c), { cutId, reason }, this.opts(address, options));
  }

  async upload(...[address, req, options]: Args<'upload'>): Promise<ComponentArtifact[]> {
    const c = this.client(address);
    let artifacts: ComponentArtifact[] | undefined;
    const pb: UploadRequest = {
      cutId: req.cutId,
      jobId: req.jobId,
      site: req.site,
      repository: accessToProto(req.repository),
      parents: req.parents ?? {},
      parentsComplete: req.parentsComplete ?? false,
    };
    await callStream<UploadRequest, UploadEvent>(c.upload.bind(c), pb, {
      ...this.opts(address, options),
      onEvent: (ev) => {
        if (ev.event?.$case === 'progress') options.onProgress?.(ev.event.value);
        if (ev.event?.$case === 'result') artifacts = ev.event.value.artifacts.map(artifactFromProto);
      },
    });
    if (!artifacts) throw new InternalError(`agent ${address} ended Upload without a result`);
    return artifacts;
  }

  async restore(...[address, req, options]: Args<'restore'>): Promise<AgentRestoreStep[]> {
    const pb: RestoreRequest = {
      jobId: req.jobId,
      artifacts: req.artifacts.map(artifactToProto),
      repository: accessToProto(req.repository),
      targetDir: req.targetDir ?? '',
      sandboxId: '',
      phase: req.phase ?? '',
    };
    return (await this.restoreStream(address, pb, options)).steps;
  }

  async restoreSandbox(...[address, req, options]: Args<'restoreSandbox'>): Promise<{ steps: AgentRestoreStep[]; components: SandboxComponent[] }> {
    const pb: RestoreRequest = {
      jobId: req.jobId,
      artifacts: req.artifacts.map(artifactToProto),
      repository: accessToProto(req.repository),
      targetDir: '',
      sandboxId: req.sandboxId,
      phase: '',
    };
    const { steps, sandboxJson } = await this.restoreStream(address, pb, options);
    return { steps, components: parseSandboxComponents(sandboxJson || '[]', `the sandbox agent ${address} reported`) };
  }

  async exportSnapshot(...[address, req, options]: Args<'exportSnapshot'>): Promise<{ dir: string; files: ExportedFileInfo[] }> {
    const c = this.client(address);
    const pb: ExportSnapshotRequest = {
      jobId: req.jobId,
      artifacts: req.artifacts.map(artifactToProto),
      repository: accessToProto(req.repository),
      sandboxId: req.sandboxId,
      sandboxJson: JSON.stringify(req.sandbox),
      toDir: req.toDir,
      manifestJson: req.manifestJson,
    };
    return callUnary<ExportSnapshotRequest, ExportSnapshotResponse>(c.exportSnapshot.bind(c), pb, this.opts(address, options));
  }

  async importSnapshot(...[address, req, options]: Args<'importSnapshot'>): Promise<{ artifacts: ComponentArtifact[]; time: Date; source?: { site: string; cutId: string } }> {
    const c = this.client(address);
    const pb: ImportSnapshotRequest = { ...req, base: req.base.map(artifactToProto), repository: accessToProto(req.repository) };
    const r = await callUnary<ImportSnapshotRequest, ImportSnapshotResponse>(c.importSnapshot.bind(c), pb, this.opts(address, options));
    if (!r.time) throw new InternalError(`agent ${address} answered an import without its time`);
    return { artifacts: r.artifacts.map(artifactFromProto), time: r.time, ...(r.sourceCutId ? { source: { site: r.sourceSite, cutId: r.sourceCutId } } : {}) };
  }

  async dropSandbox(address: string, sandboxId: string, options: CallDeadline): Promise<{ existed: boolean; released: string[] }> {
    const c = this.client(address);
    return callUnary<DropSandboxRequest, DropSandboxResponse>(c.dropSandbox.bind(c), { sandboxId }, this.opts(address, options));
  }

  private async restoreStream(address: string, pb: RestoreRequest, options: Args<'restore'>[2]): Promise<{ steps: AgentRestoreStep[]; sandboxJson: string }> {
    const c = this.client(address);
    let result: { steps: AgentRestoreStep[]; sandboxJson: string } | undefined;
    await callStream<RestoreRequest, RestoreEvent>(c.restore.bind(c), pb, {
      ...this.opts(address, options),
      onEvent: (ev) => {
        if (ev.event?.$case === 'progress') options.onProgress?.(ev.event.value);
        if (ev.event?.$case === 'step') options.onStep?.(ev.event.value);
        if (ev.event?.$case === 'result') result = ev.event.value;
      },
    });
    if (!result) throw new InternalError(`agent ${address} ended Restore without a result`);
    return result;
  }

  async controlUnits(address: string, req: { action: 'start' | 'stop'; units: string[] }, options: CallDeadline): Promise<void> {
    const c = this.client(address);
    await callUnary<ControlUnitsRequest, ControlUnitsResponse>(c.controlUnits.bind(c), req, this.opts(address, options));
  }

  runCheck(...[address, options]: Args<'runCheck'>): Promise<IntegrityReport> {
    const c = this.client(address);
    const req: RunCheckRequest = { sandboxJson: options.sandbox ? JSON.stringify(options.sandbox) : '' };
    return callUnary<RunCheckRequest, RunCheckResponse>(c.runCheck.bind(c), req, this.opts(address, options));
  }

  async inspectSync(address: string, request: InspectRequest, options: CallDeadline): Promise<InspectResult> {
    const c = this.client(address);
    const res = await callUnary<InspectSyncRequest, InspectSyncResponse>(c.inspectSync.bind(c), { requestJson: JSON.stringify(request) }, this.opts(address, options));
    return JSON.parse(res.resultJson) as InspectResult;
  }

  async nativeSync(address: string, request: NativeSyncRequest, options: CallDeadline): Promise<NativeSyncResult> {
    const c = this.client(address);
    const res = await callUnary<NativeSyncRequestPb, NativeSyncResponse>(c.nativeSync.bind(c), { requestJson: JSON.stringify(request) }, this.opts(address, options));
    return JSON.parse(res.resultJson) as NativeSyncResult;
  }

  async migration(address: string, request: MigrationRequest, options: CallDeadline): Promise<MigrationResult> {
    const c = this.client(address);
    const res = await callUnary<MigrationRequestPb, MigrationResponse>(c.migration.bind(c), { requestJson: JSON.stringify(request) }, this.opts(address, options));
    return JSON.parse(res.resultJson) as MigrationResult;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  /** Drops the connection to `address` (its agent was revoked): the next call connects again and checks its certificate anew. */
  forget(address: string): void {
    this.clients.get(address)?.close();
    this.clients.delete(address);
  }

  /** A call's options from its deadline (and its cancel, for a call that takes one). */
  private opts(address: string, options: CallDeadline & { signal?: AbortSignal }): CallOptionsLite & { signal?: AbortSignal } {
    return {
      timeoutMs: options.timeoutMs,
      peer: `agent ${address}`,
      ...(options.operation ? { operation: options.operation } : {}),
      ...(options.setting ? { deadlineSetting: options.setting } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    };
  }

  private client(address: string): PbClient {
    let c = this.clients.get(address);
    if (!c) {
      // Answers can be large (a sync check's digests of a whole watch list): above gRPC's 4 MB default.
      const creds = channelCredentials(this.options.security, (peer, cert) => {
        if (this.options.isRevoked?.(cert.serialNumber)) return `the certificate of ${peer ? formatIdentity(peer) : `the server at ${address}`} is revoked`;
        const expected = this.options.expectedAt?.(address);
        if (expected) return expectPeer(expected)(peer);
        return peer?.kind === 'agent' ? undefined : `the server at ${address} is not an ffkeeper agent (${peer ? formatIdentity(peer) : 'no ffkeeper identity'})`;
      });
      // Its own subchannels (not grpc-js's process-wide pool): `forget` then really closes the connection,
      // and the next one is a new TLS handshake, checked against the revocations.
      c = new PbAgentClient(address, creds, { ...channelOptions(this.options.security), 'grpc.max_receive_message_length': MAX_ANSWER_BYTES, 'grpc.use_local_subchannel_pool': 1 });
      this.clients.set(address, c);
    }
    return c;
  }
}
