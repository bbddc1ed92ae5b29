/** Conversions of jobs, job events and snapshot summaries to and from their proto messages. */
import { JobPhase as PbJobPhase, type JobEvent as PbJobEvent } from '../../proto/gen/ffkeeper/v1/common.js';
import type {
  JobRecord as PbJobRecord,
  SnapshotSummary as PbSnapshotSummary,
  Verification as PbVerification,
} from '../../proto/gen/ffkeeper/v1/controller.js';
import { isErrorCode } from '../errors.js';
import type { JobError, JobEvent, JobKind, JobPhase, JobRecord } from '../jobs.js';
import type { SnapshotSummary } from '../manifest.js';
import type { Verification } from '../verification.js';

export type { SnapshotSummary } from '../manifest.js';

const PHASES: [JobPhase, PbJobPhase][] = [
  ['New', PbJobPhase.JOB_PHASE_NEW],
  ['InProgress', PbJobPhase.JOB_PHASE_IN_PROGRESS],
  ['Completed', PbJobPhase.JOB_PHASE_COMPLETED],
  ['PartiallyFailed', PbJobPhase.JOB_PHASE_PARTIALLY_FAILED],
  ['Failed', PbJobPhase.JOB_PHASE_FAILED],
  ['FailedValidation', PbJobPhase.JOB_PHASE_FAILED_VALIDATION],
];

export function phaseToProto(p: JobPhase): PbJobPhase {
  return PHASES.find(([d]) => d === p)?.[1] ?? PbJobPhase.JOB_PHASE_UNSPECIFIED;
}

export function phaseFromProto(p: PbJobPhase): JobPhase {
  return PHASES.find(([, pb]) => pb === p)?.[0] ?? 'New';
}

function errorFrom(code: string, message: string): JobError | undefined {
  if (!message) return undefined;
  return { code: isErrorCode(code) ? code : 'INTERNAL', message };
}

export function jobEventToProto(e: JobEvent): PbJobEvent {
  const base = { jobId: e.jobId, site: e.site, time: e.time, phase: phaseToProto(e.phase), step: e.step };
  if (e.outcome) {
    return {
      ...base,
      detail: {
        $case: 'outcome',
        value: { phase: phaseToProto(e.outcome.phase), errorCode: e.outcome.error?.code ?? '', errorMessage: e.outcome.error?.message ?? '' },
      },
    };
  }
  if (e.progress) return { ...base, detail: { $case: 'progress', value: e.progress } };
  return { ...base, detail: { $case: 'message', value: e.message ?? '' } };
}

export function jobEventFromProto(e: PbJobEvent): JobEvent {
  const base: JobEvent = { jobId: e.jobId, site: e.site, time: e.time ?? new Date(0), phase: phaseFromProto(e.phase), step: e.step };
  const d = e.detail;
  switch (d?.$case) {
    case 'outcome': {
      const error = errorFrom(d.value.errorCode, d.value.errorMessage);
      return { ...base, outcome: { phase: phaseFromProto(d.value.phase), ...(error ? { error } : {}) } };
    }
    case 'progress':
      return { ...base, progress: d.value };
    case 'message':
      return { ...base, message: d.value };
    default:
      return base;
  }
}

export function jobRecordToProto(r: JobRecord): PbJobRecord {
  return {
    id: r.id,
    kind: r.kind,
    site: r.site,
    phase: phaseToProto(r.phase),
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    step: r.step,
    errorCode: r.error?.code ?? '',
    errorMessage: r.error?.message ?? '',
    detailJson: JSON.stringify(r.detail),
    controller: r.controller ?? '',
  };
}

export function jobRecordFromProto(r: PbJobRecord): JobRecord {
  const error = errorFrom(r.errorCode, r.errorMessage);
  return {
    id: r.id,
    kind: r.kind as JobKind,
    site: r.site,
    phase: phaseFromProto(r.phase),
    createdAt: r.createdAt ?? new Date(0),
    updatedAt: r.updatedAt ?? new Date(0),
    step: r.step,
    ...(error ? { error } : {}),
    detail: r.detailJson ? (JSON.parse(r.detailJson) as Record<string, unknown>) : {},
    ...(r.controller ? { controller: r.controller } : {}),
  };
}

export function verificationToProto(v: Verification): PbVerification {
  return {
    site: v.site,
    snapshotId: v.snapshotId,
    jobId: v.jobId,
    time: v.time,
    ok: v.ok,
    readData: v.readData,
    durationMs: v.durationMs,
    steps: v.steps.map((st) => ({ name: st.name, host: st.host ?? '', ok: st.ok, durationMs: st.durationMs, detail: st.detail })),
    integrity: v.integrity,
    error: v.error ?? '',
  };
}

export function verificationFromProto(v: PbVerification): Verification {
  return {
    site: v.site,
    snapshotId: v.snapshotId,
    jobId: v.jobId,
    time: v.time ?? new Date(0),
    ok: v.ok,
    readData: v.readData,
    durationMs: v.durationMs,
    steps: v.steps.map((st) => ({ name: st.name, ...(st.host ? { host: st.host } : {}), ok: st.ok, durationMs: st.durationMs, detail: st.detail })),
    ...(v.integrity ? { integrity: v.integrity } : {}),
    ...(v.error ? { error: v.error } : {}),
  };
}

export function snapshotToProto(s: SnapshotSummary): PbSnapshotSummary {
  const { verification, ...rest } = s;
  return { ...rest, verification: verification ? verificationToProto(verification) : undefined };
}

export function snapshotFromProto(s: PbSnapshotSummary): SnapshotSummary {
  const { verification, ...rest } = s;
  return {
    ...rest,
    createdAt: s.createdAt ?? new Date(0),
    sealedAt: s.sealedAt ?? new Date(0),
    ...(verification ? { verification: verificationFromProto(verification) } : {}),
  };
}
