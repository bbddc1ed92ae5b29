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
}

/** The site page's header row (state key `site`). */
export interface SiteHeader extends FleetSiteRow {
  /** Why this operator may not start a snapshot (the role check's reason); absent: it may. */
  snapshotDenied?: string;
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

/** The job page's header (state key `job`). */
export interface JobHeader extends JobRow {
  site: string;
  /** The job's final outcome, once it is over. */
  outcome?: { phase: string; error?: string };
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
