/**
 * The dev site's persisted description (`<siteDir>/site.json`): ports, directories, database, models,
 * and where everything lives. Written once by `up` before any process starts, so `down` can always find
 * what to tear down; process ids live separately in `<siteDir>/run/<unit>.pid` (see procs.ts) because
 * shims may start and stop units concurrently.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NotFoundError, ValidationError } from '../../shared/errors.js';
import { isValidId } from '../../shared/ids.js';

/** Environment variable overriding the root under which site directories are created. */
export const DEVSITE_ROOT_ENV = 'FFK_DEVSITE_ROOT';
/**
 * Set for an agent running in a network namespace of its own (the demo's `--netns`): the site's network
 * namespace (a path for `nsenter --net`), which the systemctl and findface-security shims enter first.
 */
export const DEVSITE_NETNS_ENV = 'FFK_DEVSITE_NETNS';

/** Galleries every shard holds, as FindFace names them. */
export const GALLERIES = [
  'ffsec_face_objects',
  'ffsec_face_events',
  'ffsec_body_objects',
  'ffsec_body_events',
  'ffsec_car_objects',
  'ffsec_car_events',
  'ffsec_user_face',
  'ffsec_persons',
] as const;
export type GalleryName = (typeof GALLERIES)[number];

export interface ShardState {
  /** `shard-001`, ... */
  name: string;
  /** systemd-style unit the shims know it by: `tarantool@shard-001`. */
  unit: string;
  port: number;
  /** HTTP port of `FindFace.start` in its instance file: sf-api's storage-api URL names it; nothing listens. */
  httpPort: number;
  dir: string;
  memtxDir: string;
  walDir: string;
  vinylDir: string;
  /** The instance file (`<siteDir>/etc/tarantool/instances.available/shard-001.lua`). */
  instanceFile: string;
  memtxMemoryBytes: number;
}

export interface SiteState {
  version: 1;
  site: string;
  /** Set on a sandbox's view of the site (sandbox-view.ts): its shards are the sandbox's, not sf-api's. Never saved. */
  sandboxOf?: string;
  siteDir: string;
  createdAt: string;
  postgres: { host: string; port: number; superuser: string; database: string; owner: string };
  pgbouncer: { host: string; port: number; adminUser: string; dir: string; configFile: string };
  shards: ShardState[];
  /** findface-sf-api: its port and config (`<siteDir>/etc/findface-sf-api.ini`, read at start: listen, shards). */
  sfApi: { port: number; configPath: string; unit: string };
  /**
   * findface-extraction-api (extraction-api.ts): its port, config (`<siteDir>/etc/findface-extraction-api.ini`,
   * read at start: listen, models, per-face cost) and models root. Absent in sites brought up before it existed.
   */
  extractionApi?: { port: number; configPath: string; unit: string; modelsRoot: string };
  /**
   * findface-upload (upload.ts): the ffupload directory served over HTTP at `/uploads/` (GET, HEAD), where
   * sf-api's `normalized-storage.webdav.upload-url` points and a migration reads normalized images.
   * Absent in sites brought up before it existed.
   */
  upload?: { port: number; unit: string };
  /**
   * findface-security's HTTP API (the native master/slave sync, security-api.ts) and its config.py.
   * Absent in sites brought up before it existed: their findface-security serves no API.
   */
  security?: { port: number; configPath: string };
  uploads: { uploadsDir: string; ffuploadDir: string; imageScale?: number };
  /** Vector dimension and the model name each gallery holds. */
  vectors: { dim: number; models: Record<GalleryName, string> };
  writer: { rate: number; concurrency: number };
  nats: string[];
  binDir: string;
  runDir: string;
  /** Agent config files written for this site, by host. */
  agentConfigs: Record<string, string>;
  /** Each agent's TLS files (issued by the fleet CA given to `up`), by host; absent: the agents run insecure. */
  agentTls?: Record<string, { ca: string; cert: string; key: string }>;
}

/** Root under which site directories live: explicit, else $FFK_DEVSITE_ROOT, else `<tmp>/ffkeeper-devsites`. */
export function resolveRoot(root?: string): string {
  return path.resolve(root ?? process.env[DEVSITE_ROOT_ENV] ?? path.join(os.tmpdir(), 'ffkeeper-devsites'));
}

/** Throws a ValidationError unless `site` is a valid site id. */
export function assertSiteId(site: string): void {
  if (!isValidId(site)) {
    throw new ValidationError(`invalid site id '${site}': must be 1-63 letters, digits, "-" or "_"`, { field: 'site' });
  }
}

export function siteDirOf(site: string, root?: string): string {
  assertSiteId(site);
  return path.join(resolveRoot(root), site);
}

/** Default database name: `ffsecurity_<site>`, lower case, dashes as underscores. */
export function defaultDatabaseName(site: string): string {
  return `ffsecurity_${site.toLowerCase().replace(/-/g, '_')}`;
}

export function stateFileOf(siteDir: string): string {
  return path.join(siteDir, 'site.json');
}

/** Reads a site's state; NotFoundError naming the site when it was never brought up. */
export function loadSiteState(site: string, root?: string): SiteState {
  const file = stateFileOf(siteDirOf(site, root));
  if (!existsSync(file)) throw new NotFoundError(`dev site '${site}' not found (no ${file})`);
  const state = JSON.parse(readFileSync(file, 'utf8')) as SiteState;
  if (state.version !== 1 || state.site !== site) {
    throw new ValidationError(`dev site '${site}': ${file} is not a version-1 state file of this site`);
  }
  return state;
}

/** Writes the state atomically (temp file + rename). */
export function saveSiteState(state: SiteState): void {
  const file = stateFileOf(state.siteDir);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(tmp, file);
}

/** Shard that holds record `id`: records are spread by `id % shards`. */
export function shardIndexOf(id: number, shardCount: number): number {
  return id % shardCount;
}

/** `<siteDir>/etc/tarantool/instances.{available,enabled}`: the shards' instance files, FindFace's layout. */
export function instancesDirOf(siteDir: string, which: 'available' | 'enabled'): string {
  return path.join(siteDir, 'etc', 'tarantool', `instances.${which}`);
}

/** Names of the instances in `instances.enabled/` (`shard-001`, ...): the `tarantool@<name>` units besides the site's own shards. */
export function enabledInstances(siteDir: string): string[] {
  const dir = instancesDirOf(siteDir, 'enabled');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.lua')).map((f) => f.slice(0, -'.lua'.length)).sort();
}
