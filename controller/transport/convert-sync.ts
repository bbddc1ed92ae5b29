/** Sync link views to and from proto, for the controller's server and the CLI. */
import type { CreateSyncLinkRequest, SyncLinkView as PbSyncLinkView, SyncPartView as PbSyncPartView, SyncCheckReport as PbSyncCheckReport } from '../../proto/gen/ffkeeper/v1/controller.js';
import type { SyncCheckReport, SyncDifference } from '../../shared/sync/inspect.js';
import type { NativeLinkInfo, SyncMode, SyncPartStatus, SyncRole } from '../../shared/sync/link.js';
import type { NativeReplica } from '../../shared/sync/native.js';
import type { CreateSyncLinkArgs } from '../domain/sync/service.js';
import type { SyncLinkView, SyncPartView, SyncState } from '../domain/sync/view.js';

const date = (iso: string | undefined): Date | undefined => (iso ? new Date(iso) : undefined);
const iso = (d: Date | undefined): string | undefined => d?.toISOString();

export function createSyncLinkToProto(a: CreateSyncLinkArgs): CreateSyncLinkRequest {
  return {
    fromSite: a.from.site,
    fromList: a.from.list,
    toSite: a.to.site,
    toList: a.to.list,
    mode: a.mode ?? '',
    at: a.at ?? '',
    timezone: a.timezone ?? '',
    noSafetySnapshot: a.noSafetySnapshot ?? false,
  };
}

export function createSyncLinkFromProto(p: CreateSyncLinkRequest): CreateSyncLinkArgs {
  return {
    from: { site: p.fromSite, list: p.fromList },
    to: { site: p.toSite, list: p.toList },
    mode: p.mode,
    at: p.at,
    timezone: p.timezone,
    noSafetySnapshot: p.noSafetySnapshot,
  };
}

function partToProto(p: SyncPartView): PbSyncPartView {
  return {
    role: p.role,
    site: p.site,
    host: p.host,
    state: p.state,
    position: p.position,
    pending: p.pending,
    handled: p.handled,
    errors: p.errors,
    lastError: p.lastError ?? '',
    updatedAt: date(p.updatedAt),
    stale: p.stale,
    filesPath: p.filesPath ?? '',
  };
}

/** Only what the view shows of a part survives the wire (no capture times, resync reasons). */
function partFromProto(p: PbSyncPartView, link: string): SyncPartView {
  return {
    link,
    role: p.role as SyncRole,
    site: p.site,
    host: p.host,
    state: p.state as SyncPartStatus['state'],
    position: p.position,
    pending: p.pending,
    handled: p.handled,
    errors: p.errors,
    ...(p.lastError ? { lastError: p.lastError } : {}),
    resyncs: 0,
    updatedAt: iso(p.updatedAt) ?? new Date(0).toISOString(),
    stale: p.stale,
    ...(p.filesPath === 'direct' || p.filesPath === 'nats' ? { filesPath: p.filesPath } : {}),
  };
}

export function checkToProto(r: SyncCheckReport): PbSyncCheckReport {
  return {
    link: r.link,
    checkedAt: date(r.checkedAt),
    dossiers: r.dossiers,
    records: r.records,
    files: r.files,
    differences: r.differences.map((d) => ({ ...d })),
    requeued: r.requeued,
    durationMs: r.durationMs,
  };
}

export function checkFromProto(p: PbSyncCheckReport): SyncCheckReport {
  return {
    link: p.link,
    checkedAt: iso(p.checkedAt) ?? new Date(0).toISOString(),
    dossiers: p.dossiers,
    records: p.records,
    files: p.files,
    differences: p.differences.map((d) => ({ kind: d.kind as SyncDifference['kind'], key: d.key, detail: d.detail })),
    requeued: p.requeued,
    durationMs: p.durationMs,
  };
}

export function syncLinkToProto(v: SyncLinkView): PbSyncLinkView {
  return {
    id: v.id,
    number: v.number,
    fromSite: v.from.site,
    fromList: v.from.list,
    toSite: v.to.site,
    toList: v.to.list,
    mode: v.mode,
    at: v.at,
    timezone: v.timezone,
    paused: v.paused,
    createdAt: date(v.createdAt),
    safetySnapshot: v.safetySnapshot ?? '',
    models: { ...v.models },
    state: v.state,
    lagSeconds: v.lagSeconds,
    pending: v.pending,
    appliedTotal: v.appliedTotal,
    errors: v.errors,
    lastAppliedAt: date(v.lastAppliedAt),
    lastError: v.lastError ?? '',
    resyncs: v.resyncs,
    parts: v.parts.map(partToProto),
    ...(v.lastCheck ? { lastCheck: checkToProto(v.lastCheck) } : {}),
    ...(v.replacedDossiers === undefined ? {} : { replacedDossiers: v.replacedDossiers }),
    nativeJson: v.native ? JSON.stringify({ link: v.native, ...(v.nativeReplica ? { replica: v.nativeReplica } : {}) }) : '',
    windowOpenedAt: date(v.window?.openedAt),
    lastWindowOpenedAt: date(v.lastWindow?.openedAt),
    lastWindowClosedAt: date(v.lastWindow?.closedAt),
    lastWindowError: v.lastWindow?.error ?? '',
    nextRunAt: date(v.nextRunAt),
  };
}

export function syncLinkFromProto(p: PbSyncLinkView): SyncLinkView {
  return {
    id: p.id,
    number: p.number,
    from: { site: p.fromSite, list: p.fromList },
    to: { site: p.toSite, list: p.toList },
    mode: p.mode as SyncMode,
    at: p.at,
    timezone: p.timezone,
    paused: p.paused,
    createdAt: iso(p.createdAt) ?? new Date(0).toISOString(),
    ...(p.safetySnapshot ? { safetySnapshot: p.safetySnapshot } : {}),
    models: { ...p.models },
    state: p.state as SyncState,
    lagSeconds: p.lagSeconds,
    pending: p.pending,
    appliedTotal: p.appliedTotal,
    errors: p.errors,
    ...(p.lastAppliedAt ? { lastAppliedAt: iso(p.lastAppliedAt) } : {}),
    ...(p.lastError ? { lastError: p.lastError } : {}),
    resyncs: p.resyncs,
    parts: p.parts.map((x) => partFromProto(x, p.id)),
    ...(p.lastCheck ? { lastCheck: checkFromProto(p.lastCheck) } : {}),
    ...(p.replacedDossiers === undefined ? {} : { replacedDossiers: p.replacedDossiers }),
    ...nativeFromJson(p.nativeJson),
    ...(p.windowOpenedAt ? { window: { openedAt: iso(p.windowOpenedAt) as string } } : {}),
    ...(p.lastWindowOpenedAt && p.lastWindowClosedAt
      ? { lastWindow: { openedAt: iso(p.lastWindowOpenedAt) as string, closedAt: iso(p.lastWindowClosedAt) as string, ...(p.lastWindowError ? { error: p.lastWindowError } : {}) } }
      : {}),
    ...(p.nextRunAt ? { nextRunAt: iso(p.nextRunAt) } : {}),
  };
}

function nativeFromJson(json: string): { native?: NativeLinkInfo; nativeReplica?: NativeReplica } {
  if (!json) return {};
  const o = JSON.parse(json) as { link: NativeLinkInfo; replica?: NativeReplica };
  return { native: o.link, ...(o.replica ? { nativeReplica: o.replica } : {}) };
}
