/**
 * Watch-list sync links (DESIGN.md §8) as both sides see them: a link replicates one master site's
 * watch list into one slave site's watch list. The controller owns the link records (KV bucket
 * `ffk_sync_links`); the agents of both sites watch them and run their part; each part reports its
 * state to `ffk_sync_status`. Ids of replicated rows on the slave are the master's shifted into the
 * link's own id range (`replicaId`), so the slave's own rows and every link's rows never collide and
 * every host of the slave computes the same ids without asking another.
 */

/** One end of a link: a site and the id of a watch list (`ffsecurity_watchlist.id`) there. */
export interface SyncEnd {
  site: string;
  list: number;
}

/** `continuous`: ffkeeper's engine; `nightly`: the same engine applying once a day at `at`; `native`: FindFace's own sync. */
export type SyncMode = 'continuous' | 'nightly' | 'native';
export const SYNC_MODES: readonly SyncMode[] = ['continuous', 'nightly', 'native'];

export interface SyncLink {
  /** `<from.site>.<from.list>.<to.site>.<to.list>` (also its KV key). */
  id: string;
  /** 1..MAX_LINK_NUMBER, unique among links: selects the slave id range of the link's rows. */
  number: number;
  from: SyncEnd;
  to: SyncEnd;
  mode: SyncMode;
  /** Local time `HH:MM` of the nightly full comparison (and of the apply in `nightly` mode). Default 03:00. */
  at: string;
  timezone: string;
  paused: boolean;
  createdAt: string;
  /** Cut id of the safety snapshot of the slave site taken before the first sync (absent when skipped). */
  safetySnapshot?: string;
  /** Dossiers the slave list held at link time: the first sync takes them out of the list (they stay on the site). */
  replacedDossiers?: number;
  /** Feature-vector models per gallery both sites were found to run at link time. */
  models: Record<string, string>;
  /** Mode `native` only: FindFace's own sync, as set up at link time. */
  native?: NativeLinkInfo;
  /**
   * Mode `nightly` only: present while the apply window is open (the nightly run, or `sync run`): the
   * slave's apply parts follow the master's stream until the controller closes it. Between windows the
   * master keeps capturing and publishing; the slave holds its replica guarded and unchanged.
   */
  window?: { openedAt: string };
  /** Mode `nightly` only: the last apply window, and why it failed when it did. */
  lastWindow?: { openedAt: string; closedAt: string; error?: string };
}

/** What a native link (FindFace's own sync) records besides the common fields. */
export interface NativeLinkInfo {
  /** The master's EXTERNAL_ADDRESS: where the slave's findface-security pulls from. */
  remoteUrl: string;
  /** The replica's id in the slave's findface-security. */
  replicaId: number;
  /** SYNC_TIME as written into the slave's config.py (in the slave's TIME_ZONE). */
  syncTime: { hour: number; minute: number };
}

export const MAX_LINK_NUMBER = 1023;
/** Size of each link's id range on the slave: master ids must stay below it. */
export const LINK_ID_RANGE = 2 ** 40;

/** The link id of two ends. */
export function linkId(from: SyncEnd, to: SyncEnd): string {
  return `${from.site}.${from.list}.${to.site}.${to.list}`;
}

/** Parses `SITE:LIST` (e.g. `msk-1:1`); undefined when it is not of that shape. */
export function parseEnd(text: string): SyncEnd | undefined {
  const m = /^([A-Za-z0-9_-]+):([1-9][0-9]{0,9})$/.exec(text);
  return m ? { site: m[1] as string, list: Number(m[2]) } : undefined;
}

export function formatEnd(end: SyncEnd): string {
  return `${end.site}:${end.list}`;
}

/** The slave's id of a master row replicated by link number `n` (dossiers, faces, gallery records). */
export function replicaId(n: number, masterId: number): number {
  if (!Number.isSafeInteger(masterId) || masterId <= 0 || masterId >= LINK_ID_RANGE) {
    throw new RangeError(`master id ${masterId} is outside the replicable range 1..${LINK_ID_RANGE - 1}`);
  }
  return n * LINK_ID_RANGE + masterId;
}

/** Relative path (under each upload root) of the files a link replicates from `masterSite`. */
export function replicaPath(masterSite: string, rel: string): string {
  return `ffk-sync/${masterSite}/${rel}`;
}

/** The parts of a link, each run by the agent holding the component it needs. */
export type SyncRole = 'capture' | 'publish-records' | 'publish-files' | 'apply-rows' | 'apply-records' | 'apply-files';

/** What a part of a link reports (KV `ffk_sync_status`, key `<linkId>.<role>.<host>`). */
export interface SyncPartStatus {
  link: string;
  role: SyncRole;
  site: string;
  host: string;
  /** `waiting`: a nightly link's apply part between windows (not following the stream). */
  state: 'running' | 'paused' | 'error' | 'resyncing' | 'waiting';
  /** When the part last started following the master's stream (ISO); absent while waiting. */
  followingSince?: string;
  /** Stream sequence of the last message handled (applied or published from). */
  position: number;
  /** Messages of the link in the stream after `position` (0 for the capture part: rows not yet published). */
  pending: number;
  /** Changes handled since the part started. */
  handled: number;
  /** When the master captured the last change this part handled (ISO), for the lag. */
  lastCapturedAt?: string;
  lastHandledAt?: string;
  errors: number;
  lastError?: string;
  /** Full re-syncs run by this part, and why the last one ran. */
  resyncs: number;
  resyncReason?: string;
  /** apply-files: how the file bytes come from the master (`direct` TLS channel, or `nats` when that cannot be used). */
  filesPath?: 'direct' | 'nats';
  updatedAt: string;
}

/** A part's status older than this many heartbeats is stale: the part (or its agent) is not running. */
export const SYNC_STATUS_STALE_AFTER_MS = 15_000;
/** How often a running part re-publishes its status even when nothing changed. */
export const SYNC_STATUS_INTERVAL_MS = 2_000;
