/**
 * The rows the web console shows, built from what the controller's services return (the same calls the
 * gRPC API makes): a site's freshness against its snapshot schedule, fleet rows, a site page's rows. Pure;
 * nothing here changes with the clock alone except freshness, so an idle stream has nothing to send.
 */
import type { AgentEntry, ComponentInfo, SiteSummary } from '../../../shared/fleet.js';
import { isFinal, type JobEvent, type JobRecord } from '../../../shared/jobs.js';
import type { SnapshotSummary } from '../../../shared/manifest.js';
import type { AgentRow, FleetSiteRow, Freshness, JobHeader, JobRow, LogRow, MigrationRow, ProgressRow, RestoreReport, RetentionRow, ScheduleRow, SnapshotRow, StreamState, SyncDifferenceRow, SyncLinkHeader, SyncLinkRow, SyncPartRow } from '../../console/protocol.js';
import { restoreFacts } from '../restore-service.js';
import type { RetentionPolicy } from '../retention.js';
import { nextOccurrence, type ScheduleView } from '../schedules.js';
import type { SyncLinkView } from '../sync/view.js';

/** How long after a scheduled time its snapshot may still be running before the site counts as late. */
export const LATE_AFTER_MS = 30 * 60_000;
/** Finished jobs a site page lists besides the running ones. */
export const RECENT_JOBS = 10;
/** Lines of a job's step log a job page keeps (the newest). */
export const JOB_LOG_LINES = 200;

/**
 * The newest snapshot against a schedule: `ok` when no scheduled time has passed (by more than `graceMs`)
 * since it, `late` when one has, `missed` when two or more have; `none` without a schedule. With no
 * snapshot at all, times count from when the schedule was set.
 */
export function freshness(newest: Date | undefined, schedule: Pick<ScheduleView, 'cron' | 'timezone' | 'updatedAt'> | undefined, now: Date, graceMs = LATE_AFTER_MS): Freshness {
  if (!schedule) return 'none';
  const overdue = (t: Date | undefined): t is Date => t !== undefined && t.getTime() <= now.getTime() - graceMs;
  let first: Date | undefined;
  try {
    first = nextOccurrence(schedule, newest ?? schedule.updatedAt);
  } catch {
    return 'none';
  }
  if (!overdue(first)) return 'ok';
  return overdue(nextOccurrence(schedule, first)) ? 'missed' : 'late';
}

export interface SiteFacts {
  summary: SiteSummary;
  /** Newest first. */
  snapshots: readonly SnapshotSummary[];
  snapshotSchedule?: ScheduleView;
  /** The site's jobs, newest first. */
  jobs: readonly JobRecord[];
  /** The sync links the site is master or slave of. */
  syncLinks?: readonly SyncLinkView[];
  /** Every schedule of the site (the site page lists them all). */
  schedules?: readonly ScheduleView[];
  retention?: RetentionPolicy;
}

/** Why this operator may not do what the site page offers (the role checks' reasons); absent: it may. */
export interface SiteDenials {
  snapshot?: string | undefined;
  restore?: string | undefined;
  verify?: string | undefined;
  migrate?: string | undefined;
}

/** The site's newest model migration (controller/domain/migration/job.ts MigrationDetail), as its page shows it. */
export function migrationRow(jobs: readonly JobRecord[]): MigrationRow | undefined {
  const j = jobs.filter((x) => x.kind === 'migrate').sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())[0];
  if (!j) return undefined;
  const d = j.detail as { fromModel?: string; toModel?: string; shards?: { from: string; to: string }[]; counts?: Record<string, { old: number; new: number; failed: number }>; failedTotal?: number; downtimeMs?: number; rolledBackBy?: string; finishedBy?: string };
  return {
    id: j.id,
    phase: j.phase,
    step: j.step,
    ...(d.fromModel ? { fromModel: d.fromModel } : {}),
    toModel: d.toModel ?? '?',
    createdAt: j.createdAt.toISOString(),
    updatedAt: j.updatedAt.toISOString(),
    ...(j.error ? { error: j.error.message } : {}),
    shards: (d.shards ?? []).map((x) => `${x.from} → ${x.to}`),
    counts: Object.entries(d.counts ?? {}).filter(([, c]) => c.old > 0 || c.new > 0).map(([gallery, c]) => ({ gallery, ...c })),
    failedTotal: d.failedTotal ?? 0,
    ...(d.downtimeMs !== undefined ? { downtimeMs: d.downtimeMs } : {}),
    ...(d.rolledBackBy ? { rolledBackBy: d.rolledBackBy } : {}),
    ...(d.finishedBy ? { finishedBy: d.finishedBy } : {}),
  };
}

/** Link states from the worst down: a site's sync cell shows the worst of its links'. */
const SYNC_WORST_FIRST = ['error', 'resyncing', 'starting', 'waiting', 'paused', 'running'];

function syncSummary(links: readonly SyncLinkView[]): NonNullable<FleetSiteRow['sync']> {
  const rank = (state: string): number => (SYNC_WORST_FIRST.includes(state) ? SYNC_WORST_FIRST.indexOf(state) : 0);
  const worst = links.reduce((w, l) => (rank(l.state) < rank(w) ? l.state : w), links[0]?.state ?? 'running');
  return { links: links.length, lagSeconds: Math.max(...links.map((l) => l.lagSeconds)), state: worst };
}

export function fleetRow(facts: SiteFacts, now: Date): FleetSiteRow {
  const { summary, snapshotSchedule: s } = facts;
  const newest = facts.snapshots[0];
  const verification = newest?.verification;
  return {
    site: summary.site,
    agentsOnline: summary.agentsOnline,
    agentsTotal: summary.agentsTotal,
    ...(newest ? { newestSnapshotAt: newest.createdAt.toISOString() } : {}),
    freshness: freshness(newest?.createdAt, s, now),
    ...(s ? { schedule: `${s.cron} ${s.timezone}` } : {}),
    ...(verification ? { lastVerify: verification.ok ? 'ok' : 'failed' } : {}),
    runningJobs: facts.jobs.filter((j) => !isFinal(j.phase)).map((j) => j.kind),
    ...(facts.syncLinks && facts.syncLinks.length > 0 ? { sync: syncSummary(facts.syncLinks) } : {}),
  };
}

function componentDetail(c: ComponentInfo): string {
  switch (c.kind) {
    case 'postgres':
      return `${c.database} at ${c.host}:${c.port}`;
    case 'tarantool':
      return `${c.host}:${c.port}`;
    case 'uploads':
      return c.paths.join(', ');
    case 'sf-api':
      return c.configPath;
  }
}

export function agentRow(e: AgentEntry): AgentRow {
  return {
    host: e.description.host,
    status: e.status,
    version: e.description.version,
    components: e.description.components.map((c) => ({ ref: `${c.kind}:${c.name}`, detail: componentDetail(c) })),
  };
}

export function snapshotRow(s: SnapshotSummary): SnapshotRow {
  const v = s.verification;
  return {
    id: s.id,
    createdAt: s.createdAt.toISOString(),
    bytes: s.bytes,
    dataAddedBytes: s.dataAddedBytes,
    freezeWindowMs: s.freezeWindowMs,
    reason: s.reason,
    components: [...s.components],
    ...(v ? { verified: { ok: v.ok, time: v.time.toISOString(), readData: v.readData } } : {}),
  };
}

export function jobRow(j: JobRecord): JobRow {
  return {
    id: j.id,
    kind: j.kind,
    phase: j.phase,
    step: j.step,
    createdAt: j.createdAt.toISOString(),
    updatedAt: j.updatedAt.toISOString(),
    ...(j.error ? { error: j.error.message } : {}),
  };
}

/** The fleet page's state: one row per site, key `site:<name>`. */
export function fleetState(sites: readonly SiteFacts[], now: Date): StreamState {
  return Object.fromEntries(sites.map((f) => [`site:${f.summary.site}`, fleetRow(f, now)]));
}

/** The site page's state: `site` (its header), `agent:<host>`, `snapshot:<id>`, `job:<id>` (running and the newest others). */
export function siteState(facts: SiteFacts, agents: readonly AgentEntry[], denied: SiteDenials, now: Date): StreamState {
  const running = facts.jobs.filter((j) => !isFinal(j.phase));
  const recent = facts.jobs.filter((j) => isFinal(j.phase)).slice(0, RECENT_JOBS);
  const migration = migrationRow(facts.jobs);
  return {
    site: { ...fleetRow(facts, now), ...(denied.snapshot ? { snapshotDenied: denied.snapshot } : {}), ...(denied.restore ? { restoreDenied: denied.restore } : {}), ...(denied.verify ? { verifyDenied: denied.verify } : {}), ...(denied.migrate ? { migrateDenied: denied.migrate } : {}) },
    ...(migration ? { migration } : {}),
    ...Object.fromEntries(agents.map((a) => [`agent:${a.description.host}`, agentRow(a)])),
    ...Object.fromEntries(facts.snapshots.map((s) => [`snapshot:${s.id}`, snapshotRow(s)])),
    ...Object.fromEntries([...running, ...recent].map((j) => [`job:${j.id}`, jobRow(j)])),
    ...Object.fromEntries((facts.schedules ?? []).map((x) => [`schedule:${x.kind}`, scheduleRow(x)])),
    ...(facts.retention ? { retention: retentionRow(facts.retention) } : {}),
    ...Object.fromEntries((facts.syncLinks ?? []).map((l) => [`link:${l.id}`, syncLinkRow(l, undefined)])),
  };
}

function scheduleRow(x: ScheduleView): ScheduleRow {
  return {
    kind: x.kind,
    cron: x.cron,
    timezone: x.timezone,
    ...(x.nextRunAt ? { nextRunAt: x.nextRunAt.toISOString() } : {}),
    ...(x.lastRunAt ? { lastRunAt: x.lastRunAt.toISOString() } : {}),
    ...(x.lastOutcome ? { lastOutcome: x.lastOutcome } : {}),
  };
}

function retentionRow(p: RetentionPolicy): RetentionRow {
  return { keepLast: p.keepLast, keepDaily: p.keepDaily, keepWeekly: p.keepWeekly, keepMonthly: p.keepMonthly, timezone: p.timezone };
}

function percentOf(p: { bytesDone: number; bytesTotal: number; filesDone: number; filesTotal: number }): number {
  const [done, total] = p.bytesTotal > 0 ? [p.bytesDone, p.bytesTotal] : [p.filesDone, p.filesTotal];
  return total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
}

/**
 * The job page's state: `job` (its record and outcome), `progress:<component>` (each component's latest
 * progress; every component at 100% once the job completed), `log:<n>` (step changes, messages and the
 * outcome, the newest JOB_LOG_LINES). Progress events update rows in place, so a running job's page gets
 * small diffs; a finished job's state no longer changes.
 */
export function jobState(job: JobRecord, events: readonly JobEvent[]): StreamState {
  const progress = new Map<string, ProgressRow>();
  const log: LogRow[] = [];
  let step = '';
  let outcome: JobHeader['outcome'];
  events.forEach((e, n) => {
    const time = e.time.toISOString();
    if (e.progress) {
      const p = e.progress;
      progress.set(p.component, { component: p.component, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, filesDone: p.filesDone, filesTotal: p.filesTotal, percent: percentOf(p), etaSeconds: p.etaSeconds, updatedAt: time });
      return;
    }
    if (e.outcome) {
      outcome = { phase: e.outcome.phase, ...(e.outcome.error ? { error: e.outcome.error.message } : {}) };
      log.push({ n, time, step: e.step, message: `${e.outcome.phase}${e.outcome.error ? `: ${e.outcome.error.message}` : ''}` });
      return;
    }
    if (e.message !== undefined || e.step !== step) log.push({ n, time, step: e.step, message: e.message ?? '' });
    step = e.step;
  });
  if (job.phase === 'Completed') for (const [k, p] of progress) progress.set(k, { ...p, bytesDone: p.bytesTotal, filesDone: p.filesTotal, percent: 100, etaSeconds: 0 });
  const restore = job.kind === 'restore' ? restoreReport(job.detail) : undefined;
  const header: JobHeader = { ...jobRow(job), site: job.site, ...(outcome ? { outcome } : {}), ...(restore ? { restore } : {}) };
  return {
    job: header,
    ...Object.fromEntries([...progress.values()].map((p) => [`progress:${p.component}`, p])),
    ...Object.fromEntries(log.slice(-JOB_LOG_LINES).map((l) => [`log:${l.n}`, l])),
  };
}

/** A restore job's report on its page (restoreFacts: the facts as the job records them). */
export function restoreReport(detail: Record<string, unknown>): RestoreReport {
  const { integrity: i, ...facts } = restoreFacts(detail);
  return { ...facts, ...(i ? { integrity: { configured: i.configured, ok: i.ok, errors: i.errors, warnings: i.warnings, summary: i.summary, host: i.host } } : {}) };
}

/** Differences of a link's last comparison shown on its page (the count is always whole). */
const DIFFERENCES_SHOWN = 200;

/** A sync link's row: its state, lag and counters, the last comparison summed up. */
export function syncLinkRow(l: SyncLinkView, pauseDenied: string | undefined): SyncLinkRow {
  const c = l.lastCheck;
  return {
    id: l.id,
    from: `${l.from.site}:${l.from.list}`,
    to: `${l.to.site}:${l.to.list}`,
    mode: l.mode,
    state: l.state,
    paused: l.paused,
    lagSeconds: l.lagSeconds,
    pending: l.pending,
    appliedTotal: l.appliedTotal,
    errors: l.errors,
    ...(l.lastAppliedAt ? { lastAppliedAt: l.lastAppliedAt } : {}),
    ...(l.lastError ? { lastError: l.lastError } : {}),
    resyncs: l.resyncs,
    ...(c ? { lastCheck: { checkedAt: c.checkedAt, dossiers: c.dossiers, records: c.records, files: c.files, differences: c.differences.length, requeued: c.requeued } } : {}),
    ...(l.nextRunAt ? { nextRunAt: l.nextRunAt } : {}),
    ...(pauseDenied ? { pauseDenied } : {}),
  };
}

/** The sync page's state: one `link:<id>` row per link this operator may see. */
export function syncListState(links: readonly { link: SyncLinkView; pauseDenied?: string | undefined }[]): StreamState {
  return Object.fromEntries(links.map(({ link, pauseDenied }) => [`link:${link.id}`, syncLinkRow(link, pauseDenied)]));
}

/** A link's page: `link` (row and set-up), `part:<role>@<site>/<host>` per part, `difference:<n>` of the last comparison. */
export function syncLinkState(l: SyncLinkView, pauseDenied: string | undefined): StreamState {
  const header: SyncLinkHeader = {
    ...syncLinkRow(l, pauseDenied),
    createdAt: l.createdAt,
    at: l.at,
    timezone: l.timezone,
    ...(l.safetySnapshot ? { safetySnapshot: l.safetySnapshot } : {}),
    ...(l.replacedDossiers === undefined ? {} : { replacedDossiers: l.replacedDossiers }),
    models: l.models,
  };
  const parts = l.parts.map((p): [string, SyncPartRow] => [
    `part:${p.role}@${p.site}/${p.host}`,
    { role: p.role, site: p.site, host: p.host, state: p.state, stale: p.stale, handled: p.handled, pending: p.pending, errors: p.errors, ...(p.lastError ? { lastError: p.lastError } : {}), ...(p.filesPath ? { filesPath: p.filesPath } : {}), updatedAt: p.updatedAt },
  ]);
  const differences = (l.lastCheck?.differences ?? []).slice(0, DIFFERENCES_SHOWN).map((d, n): [string, SyncDifferenceRow] => [`difference:${n}`, { n, kind: d.kind, key: d.key, detail: d.detail }]);
  return { link: header, ...Object.fromEntries(parts), ...Object.fromEntries(differences) };
}
