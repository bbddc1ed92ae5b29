/**
 * Every NATS subject, KV bucket, stream and KV key ffkeeper uses is built here, and only here.
 * Site and host ids are validated by `shared/ids.ts` so they are always single NATS tokens.
 */

/** KV bucket holding agent presence: key `<site>.<host>`, value = the agent description, TTL-expiring. */
export const AGENTS_BUCKET = 'ffk_agents';

/** KV bucket the controller keeps of every agent it has ever seen, so offline agents stay visible. */
export const FLEET_BUCKET = 'ffk_fleet';

/** JetStream stream for job progress and outcome events (the audit trail). */
export const EVENTS_STREAM = 'FFK_EVENTS';
/** JetStream stream of the controller's audit records (hash-chained; controller/domain/access/audit.ts). */
export const AUDIT_STREAM = 'FFK_AUDIT';
export const AUDIT_SUBJECT = 'ffk.audit';

/** Key of an agent in the presence and fleet buckets. */
export function agentKey(site: string, host: string): string {
  return `${site}.${host}`;
}

/** Inverse of `agentKey`; undefined when the key is not of that shape. */
export function parseAgentKey(key: string): { site: string; host: string } | undefined {
  const dot = key.indexOf('.');
  if (dot <= 0 || dot === key.length - 1 || key.indexOf('.', dot + 1) !== -1) return undefined;
  return { site: key.slice(0, dot), host: key.slice(dot + 1) };
}

/** Key filter matching every agent of one site. */
export function siteAgentsFilter(site: string): string {
  return `${site}.*`;
}

/** Subject of a job's events: `ffk.events.<site>.<jobId>`. */
export function jobEventsSubject(site: string, jobId: string): string {
  return `ffk.events.${site}.${jobId}`;
}

/** Subjects captured by the events stream. */
export const EVENTS_SUBJECTS = 'ffk.events.>';

/** KV bucket of sealed snapshots (manifests): key `<site>.<cutId>`. */
export const CATALOG_BUCKET = 'ffk_catalog';

/** KV bucket of job records: key `<jobId>`. */
export const JOBS_BUCKET = 'ffk_jobs';

export function catalogKey(site: string, cutId: string): string {
  return `${site}.${cutId}`;
}

/** Catalog keys of one site (`site` given) or of one cut in any site (`cutId` given). */
export function catalogFilter(filter: { site: string } | { cutId: string }): string {
  return 'site' in filter ? `${filter.site}.*` : `*.${filter.cutId}`;
}

/** KV bucket of join tokens (controller/domain/enrolment.ts): key = token id; the secret only as a hash. */
export const ENROLMENT_BUCKET = 'ffk_enrolment';

/** KV bucket of site leases (snapshot / prune / verify exclusion): key `<site>`. */
export const LEASES_BUCKET = 'ffk_leases';

/** KV bucket of schedules: key `<site>.<kind>`. */
export const SCHEDULES_BUCKET = 'ffk_schedules';

/** KV bucket of retention policies: key `<site>`. */
export const RETENTION_BUCKET = 'ffk_retention';

export function scheduleKey(site: string, kind: string): string {
  return `${site}.${kind}`;
}

/** KV bucket of snapshot verifications (the latest per snapshot): key `<site>.<cutId>`, like the catalog. */
export const VERIFICATIONS_BUCKET = 'ffk_verifications';

/** KV bucket of watch-list sync links: key = link id (`<from.site>.<from.list>.<to.site>.<to.list>`). */
export const SYNC_LINKS_BUCKET = 'ffk_sync_links';

/** KV bucket of the last full comparison of each link (`sync check`, nightly): key = link id. */
export const SYNC_CHECKS_BUCKET = 'ffk_sync_checks';

/** KV bucket of the status each part of a link reports: key `<linkId>.<role>.<host>`. */
export const SYNC_STATUS_BUCKET = 'ffk_sync_status';

export function syncStatusKey(linkId: string, role: string, host: string): string {
  return `${linkId}.${role}.${host}`;
}

/**
 * Key filters of the sync links (and of their statuses, keyed `<linkId>.<role>.<host>`) a site is part
 * of: as master (`<site>.<list>.…`) and as slave (`<master>.<list>.<site>.…`). An agent may read these only.
 */
export function syncLinkKeyFilters(site: string): [string, string] {
  return [`${site}.>`, `*.*.${site}.>`];
}

/** Status keys of one link. */
export function syncStatusFilter(linkId: string): string {
  return `${linkId}.>`;
}

/** JetStream stream of a master site's watch-list changes (last value per subject kept). */
export function syncStream(masterSite: string): string {
  return `FFK_SYNC_${masterSite.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/** Subjects captured by a master site's sync stream. */
export function syncStreamSubjects(masterSite: string): string {
  return `ffk.sync.${masterSite}.>`;
}

/** Kinds of message in a sync stream: a dossier's rows, its gallery records, the files it names (their bytes are asked of the master: `syncFilesSubject`). */
export type SyncSubjectKind = 'dossier' | 'records' | 'files';

/** Subject of one dossier's current state of one kind, in the master list: `ffk.sync.<site>.<list>.<kind>.<dossierId>`. */
export function syncSubject(masterSite: string, list: number, kind: SyncSubjectKind, dossierId: number): string {
  return `ffk.sync.${masterSite}.${list}.${kind}.${dossierId}`;
}

/** Every subject of one kind of one master list. */
export function syncKindFilter(masterSite: string, list: number, kind: SyncSubjectKind): string {
  return `ffk.sync.${masterSite}.${list}.${kind}.*`;
}

/**
 * Where a master list's files are asked for, by the agents of slave sites, from the master's agent holding
 * the upload directories (core NATS request/reply, chunked: the bytes go from disk to disk, not through a
 * stream). Outside `ffk.sync.<site>.>`, so the site's sync stream does not capture the requests.
 */
export function syncFilesSubject(masterSite: string, list: number): string {
  return `ffk.syncfiles.${masterSite}.${list}`;
}

/** Every list's file requests of a master site (what its agents may answer). */
export function syncFilesFilter(masterSite: string): string {
  return `ffk.syncfiles.${masterSite}.*`;
}

/** KV bucket of web console tokens (controller/domain/access/console-tokens.ts): key = token id; the secret only as a hash. */
export const CONSOLE_TOKENS_BUCKET = 'ffk_console_tokens';

/** KV bucket of the running controller processes (controller/domain/controllers.ts): key = controller id. */
export const CONTROLLERS_BUCKET = 'ffk_controllers';

/** Queue group of the agents answering a master site's file requests (one answers each request). */
export const SYNC_FILES_QUEUE = 'ffk-sync-files';

/**
 * What agents may not read on NATS (shared/security/nats-permissions.ts): every bucket and stream but the
 * sync links, the sync statuses and the sync streams. A new bucket or stream must be listed here or in
 * `AGENT_READABLE` (names.test.ts checks that each is one or the other).
 */
export const AGENT_UNREADABLE_BUCKETS = [AGENTS_BUCKET, FLEET_BUCKET, CATALOG_BUCKET, JOBS_BUCKET, LEASES_BUCKET, SCHEDULES_BUCKET, RETENTION_BUCKET, VERIFICATIONS_BUCKET, SYNC_CHECKS_BUCKET, ENROLMENT_BUCKET, CONSOLE_TOKENS_BUCKET, CONTROLLERS_BUCKET];
export const AGENT_UNREADABLE_JS_STREAMS = [EVENTS_STREAM, AUDIT_STREAM];
export const AGENT_READABLE = [SYNC_LINKS_BUCKET, SYNC_STATUS_BUCKET, 'FFK_SYNC_<site>'];
