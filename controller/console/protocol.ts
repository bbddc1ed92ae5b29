/**
 * What the web console's server sends its page (types only: compiled into the controller and into the
 * browser code, controller/console/web/). Times are ISO strings. A stream (`GET /api/stream`) sends one
 * `full` event with the whole state of its view, then `diff` events with only what changed; the state is
 * a flat map of keys to rows, so a diff is rows to put and keys to remove.
 */

/** Newest snapshot against the site's snapshot schedule: `none` when it has no schedule. */
export type Freshness = 'ok' | 'late' | 'missed' | 'none';

/** One site on the fleet page (state key `site:<name>`). */
export interface FleetSiteRow {
  site: string;
  agentsOnline: number;
  agentsTotal: number;
  newestSnapshotAt?: string;
  freshness: Freshness;
  /** `<cron> <timezone>` of the snapshot schedule. */
  schedule?: string;
  /** The newest snapshot's latest verification. */
  lastVerify?: 'ok' | 'failed';
  /** Kinds of the site's jobs that are not over (`snapshot`, `restore`, …), one entry per job. */
  runningJobs: string[];
  /** The watch-list sync links the site is master or slave of: how many, the largest lag, the worst state. */
  sync?: { links: number; lagSeconds: number; state: string };
}

/** The site page's header row (state key `site`). */
export interface SiteHeader extends FleetSiteRow {
  /** Why this operator may not start a snapshot (the role check's reason); absent: it may. */
  snapshotDenied?: string;
  /** Why this operator may not restore this site in place (the role check's reason); absent: it may. */
  restoreDenied?: string;
  /** Why this operator may not verify the site's snapshots; absent: it may. */
  verifyDenied?: string;
  /** Why this operator may not migrate the site to another model (or roll back, finish); absent: it may. */
  migrateDenied?: string;
}

/** The site's newest model migration on its migration page (state key `migration`; absent: none). */
export interface MigrationRow {
  id: string;
  phase: string;
  step: string;
  fromModel?: string;
  toModel: string;
  createdAt: string;
  updatedAt: string;
  error?: string;
  /** Old → new shard names. */
  shards: string[];
  /** Per gallery at the switch: records in the old shards, in the new, faces that failed. */
  counts: { gallery: string; old: number; new: number; failed: number }[];
  failedTotal: number;
  downtimeMs?: number;
  rolledBackBy?: string;
  finishedBy?: string;
}

/** `POST /api/sites/<site>/migration-plan`: the plan of `migrate plan`, nothing started. */
export interface MigrationPlanAnswer {
  site: string;
  fromModel?: string;
  toModel: string;
  portOffset: number;
  /** Asked with the detector change's regeneration of normalized images. */
  regenerateNormalized: boolean;
  faces: number;
  byGallery: Record<string, number>;
  facesPerSecond?: number;
  estimateSeconds?: number;
  shards: { host: string; from: string; to: string; listen: string; faces: number }[];
  checks: { name: string; ok: boolean; detail: string }[];
  ready: boolean;
}

/** `POST /api/sites/<site>/migrations` (`{toModel, confirm}`) and `…/migrations/rollback|finish` (`{confirm}`): the site's id typed again. */
export interface MigrationStart {
  toModel?: string;
  /** A detector change: normalized images made again from the source photos first. */
  regenerateNormalized?: boolean;
  confirm: string;
}

/** One of the site's schedules on its page (state key `schedule:<kind>`). */
export interface ScheduleRow {
  kind: string;
  cron: string;
  timezone: string;
  nextRunAt?: string;
  lastRunAt?: string;
  lastOutcome?: string;
}

/** The site's retention policy on its page (state key `retention`; absent: none set). */
export interface RetentionRow {
  keepLast: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  timezone: string;
}

/** One agent on the site page (state key `agent:<host>`). */
export interface AgentRow {
  host: string;
  status: 'online' | 'offline';
  version: string;
  components: { ref: string; detail: string }[];
}

/** One sealed snapshot on the site page (state key `snapshot:<id>`). */
export interface SnapshotRow {
  id: string;
  createdAt: string;
  bytes: number;
  dataAddedBytes: number;
  freezeWindowMs: number;
  reason: string;
  /** `kind:name` of each component the snapshot holds. */
  components: string[];
  verified?: { ok: boolean; time: string; readData: boolean };
}

/** One job on the site page (state key `job:<id>`): the running ones and the newest others. */
export interface JobRow {
  id: string;
  kind: string;
  phase: string;
  step: string;
  createdAt: string;
  updatedAt: string;
  error?: string;
}

/** What a restore did, as its job records it (the integrity check's report once it ran). */
export interface RestoreReport {
  snapshotId?: string;
  safetySnapshotId?: string;
  /** How long FindFace's writers were stopped (the switch), 0 before they were. */
  writersStoppedMs: number;
  integrity?: { configured: boolean; ok: boolean; errors: number; warnings: number; summary: string; host: string };
}

/** The job page's header (state key `job`). */
export interface JobHeader extends JobRow {
  site: string;
  /** The job's final outcome, once it is over. */
  outcome?: { phase: string; error?: string };
  /** A restore job's report. */
  restore?: RestoreReport;
}

/** Which snapshot the restore wizard restores: one by id, the newest before a time, or the newest. */
export type RestoreChoice = { snapshot: string } | { before: string } | { latest: true };

/** `POST /api/sites/<site>/restore-plan`: what a restore would do, nothing started. */
export interface RestorePlanAnswer {
  site: string;
  snapshot: { id: string; createdAt: string; bytes: number; components: string[]; reason: string };
  safetySnapshot: boolean;
  /** What is restored where, one row per component (and the plan's notes, host and component empty). */
  steps: { host: string; component: string; action: string }[];
  /** FindFace's writers stopped during this site's last finished restore; absent: none to go by. */
  lastDowntimeMs?: number;
}

/** `POST /api/sites/<site>/restores`: the choice, and the site's id typed again to confirm. */
export interface RestoreStart {
  choice: RestoreChoice;
  confirm: string;
}

/** One component's latest progress on the job page (state key `progress:<component>`). */
export interface ProgressRow {
  component: string;
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  /** 0–100, from bytes (from files when the bytes are not known). */
  percent: number;
  etaSeconds: number;
  updatedAt: string;
}

/** One line of the job's step log (state key `log:<n>`, n counting from the job's first event). */
export interface LogRow {
  n: number;
  time: string;
  step: string;
  message: string;
}

export type StreamState = Record<string, unknown>;

export interface StreamDiff {
  upsert: StreamState;
  remove: string[];
}

/** `GET /api/me`, the login's answer. */
export interface ConsoleMe {
  operator: string;
  role: 'viewer' | 'operator' | 'admin';
  /** The only sites this operator may see; absent: all. */
  sites?: string[];
  expiresAt: string;
}

/** Every error answer: the error's code and its one-line reason. */
export interface ConsoleError {
  code: string;
  message: string;
}

/** One watch-list sync link on the sync page (state key `link:<id>`) and the header of its own page (key `link`). */
export interface SyncLinkRow {
  id: string;
  /** `site:list` */
  from: string;
  to: string;
  mode: string;
  state: string;
  paused: boolean;
  lagSeconds: number;
  pending: number;
  appliedTotal: number;
  errors: number;
  lastAppliedAt?: string;
  lastError?: string;
  resyncs: number;
  /** The last full comparison: when, what it covered and how many differences it found. */
  lastCheck?: { checkedAt: string; dossiers: number; records: number; files: number; differences: number; requeued: number };
  nextRunAt?: string;
  /** Why this operator may not pause or resume the link (the role check's reason); absent: it may. */
  pauseDenied?: string;
}

/** The link page's header (state key `link`): the row and what the link was set up with. */
export interface SyncLinkHeader extends SyncLinkRow {
  createdAt: string;
  at: string;
  timezone: string;
  safetySnapshot?: string;
  replacedDossiers?: number;
  models: Record<string, string>;
}

/** One part of a link on its page (state key `part:<role>@<site>/<host>`). */
export interface SyncPartRow {
  role: string;
  site: string;
  host: string;
  state: string;
  stale: boolean;
  handled: number;
  pending: number;
  errors: number;
  lastError?: string;
  filesPath?: string;
  updatedAt: string;
}

/** One difference the link's last comparison found (state key `difference:<n>`, the first 200). */
export interface SyncDifferenceRow {
  n: number;
  kind: string;
  key: string;
  detail: string;
}
