/**
 * A sync link as operators see it: its record plus a state, lag and counters derived from what its
 * parts last reported. Pure: the same link, statuses and clock always give the same view.
 */
import type { SyncCheckReport } from '../../../shared/sync/inspect.js';
import type { NativeReplica } from '../../../shared/sync/native.js';
import { nextComparison } from './nightly.js';
import { SYNC_STATUS_STALE_AFTER_MS, type SyncLink, type SyncPartStatus } from '../../../shared/sync/link.js';

/** `waiting`: a native link before FindFace's first nightly run; a nightly link between its apply windows. */
export type SyncState = 'starting' | 'running' | 'paused' | 'resyncing' | 'error' | 'waiting';

/** How long after its creation a link may lack reports from its parts before that is an error. */
export const SYNC_STARTUP_GRACE_MS = 30_000;

export interface SyncPartView extends SyncPartStatus {
  /** The report is older than SYNC_STATUS_STALE_AFTER_MS: the part (or its agent) is not running. */
  stale: boolean;
}

export interface SyncLinkView extends SyncLink {
  state: SyncState;
  /** How far the slave is behind the master (0 when caught up); never 0 while the capture is silent. */
  lagSeconds: number;
  /** The most changes any apply part still has to apply. */
  pending: number;
  /** Rows applied (sum of the `apply-rows` parts' handled counters). */
  appliedTotal: number;
  errors: number;
  /** When an `apply-rows` part last applied a change (ISO). */
  lastAppliedAt?: string;
  /** Why the state is `error`, or else the newest error a part reported. */
  lastError?: string;
  resyncs: number;
  parts: SyncPartView[];
  /** The last full comparison (`sync check` or the nightly run). */
  lastCheck?: SyncCheckReport;
  /** Mode `native`: the slave's replica as its findface-security reports it (with the last nightly run). */
  nativeReplica?: NativeReplica;
  /** Not native: when the next nightly run is due (the comparison; a nightly link's apply window). */
  nextRunAt?: string;
}

const isApply = (p: SyncPartStatus): boolean => p.role.startsWith('apply-');
/** Milliseconds of an ISO time; undefined when absent or not a time. */
export const ms = (iso: string | undefined): number | undefined => (iso === undefined || Number.isNaN(Date.parse(iso)) ? undefined : Date.parse(iso));
const where = (p: SyncPartStatus): string => `${p.role} on ${p.site}/${p.host}`;

/** The freshest report of the master's capture part, if any. */
function captureOf(parts: readonly SyncPartView[]): SyncPartView | undefined {
  return parts.filter((p) => p.role === 'capture').sort((a, b) => (ms(b.updatedAt) ?? 0) - (ms(a.updatedAt) ?? 0))[0];
}

/** Why the link is in error, and since when (ms) its changes have not flowed, when they have not. */
function problem(link: SyncLink, parts: readonly SyncPartView[], now: number): { error?: string; silentSince?: number } {
  const created = ms(link.createdAt) ?? now;
  const starting = now - created < SYNC_STARTUP_GRACE_MS;
  const failed = parts.find((p) => p.state === 'error');
  const capture = captureOf(parts);
  let silent: { error?: string; silentSince?: number } = {};
  if (!capture) {
    silent = { silentSince: created, ...(starting ? {} : { error: `the master's capture (site '${link.from.site}') has never reported since the link was created at ${link.createdAt}` }) };
  } else if (capture.stale) {
    silent = { silentSince: ms(capture.updatedAt) ?? created, error: `the master's capture (site '${link.from.site}', host '${capture.host}') has not reported since ${capture.updatedAt}` };
  }
  const staleApply = parts.find((p) => isApply(p) && p.stale);
  if (staleApply) {
    const since = ms(staleApply.updatedAt) ?? created;
    silent = { silentSince: Math.min(silent.silentSince ?? since, since), error: silent.error ?? `${where(staleApply)} has not reported since ${staleApply.updatedAt}` };
  } else if (!starting && !parts.some(isApply) && !silent.error) {
    silent = { silentSince: silent.silentSince ?? created, error: `no apply part of site '${link.to.site}' has reported since the link was created at ${link.createdAt}` };
  }
  if (failed) return { ...silent, error: `${where(failed)}: ${failed.lastError ?? 'error'}` };
  return silent;
}

function stateOf(link: SyncLink, parts: readonly SyncPartView[], error: string | undefined, now: number): SyncState {
  if (link.paused) return 'paused';
  if (error) return 'error';
  if (parts.some((p) => p.state === 'resyncing')) return 'resyncing';
  if (link.mode === 'nightly' && !link.window) return 'waiting';
  const created = ms(link.createdAt) ?? now;
  const reported = parts.some((p) => p.role === 'capture') && parts.some(isApply);
  if (!reported && now - created < SYNC_STARTUP_GRACE_MS) return 'starting';
  return 'running';
}

function newest(values: readonly (string | undefined)[]): string | undefined {
  return values.filter((v): v is string => ms(v) !== undefined).sort((a, b) => (ms(b) ?? 0) - (ms(a) ?? 0))[0];
}

/** Derives the view of `link` from its parts' `statuses` at `now`. */
export function linkView(link: SyncLink, statuses: readonly SyncPartStatus[], now: Date): SyncLinkView {
  const t = now.getTime();
  const parts: SyncPartView[] = statuses.map((s) => ({ ...s, stale: t - (ms(s.updatedAt) ?? 0) > SYNC_STATUS_STALE_AFTER_MS }));
  const apply = parts.filter(isApply);
  const rows = parts.filter((p) => p.role === 'apply-rows');
  const { error, silentSince } = problem(link, parts, t);
  const behind = apply.map((p) => (p.pending > 0 && ms(p.lastCapturedAt) !== undefined ? t - (ms(p.lastCapturedAt) ?? t) : 0));
  // Between a nightly link's windows the replica is as old as the last window's opening (or the link).
  const waiting = link.mode === 'nightly' && !link.window && apply.some((p) => p.pending > 0) ? t - (ms(link.lastWindow?.openedAt) ?? ms(link.createdAt) ?? t) : 0;
  const lagMs = Math.max(0, ...behind, waiting, silentSince === undefined ? 0 : t - silentSince);
  const newestError = parts.filter((p) => p.lastError).sort((a, b) => (ms(b.updatedAt) ?? 0) - (ms(a.updatedAt) ?? 0))[0];
  const windowError = link.lastWindow?.error ? `the apply window opened at ${link.lastWindow.openedAt} failed: ${link.lastWindow.error}` : undefined;
  const lastError = error ?? windowError ?? (newestError ? `${where(newestError)}: ${newestError.lastError}` : undefined);
  const nextRunAt = link.mode === 'native' ? undefined : nextComparison(link, now)?.toISOString();
  const lastAppliedAt = newest(rows.map((p) => p.lastHandledAt));
  return {
    ...link,
    state: stateOf(link, parts, error, t),
    lagSeconds: lagMs / 1000,
    pending: Math.max(0, ...apply.map((p) => p.pending)),
    appliedTotal: rows.reduce((s, p) => s + p.handled, 0),
    errors: parts.reduce((s, p) => s + p.errors, 0),
    ...(lastAppliedAt ? { lastAppliedAt } : {}),
    ...(lastError ? { lastError } : {}),
    resyncs: parts.reduce((s, p) => s + p.resyncs, 0),
    parts: parts.sort((a, b) => (a.role === b.role ? a.host.localeCompare(b.host) : a.role.localeCompare(b.role))),
    ...(nextRunAt ? { nextRunAt } : {}),
  };
}
