/**
 * Bringing a whole dev site up and down. `upSite` allocates ports, writes every config (shards' instance
 * files and tnt_schema.lua, pgbouncer, sf-api, extraction-api, findface-security's config.py, shims, agent
 * configs), creates the role, database and schema, starts the processes and loads data; if anything fails it tears down what it made. `downSite` stops every process,
 * drops the database and removes the directory, and works whatever state the site is in.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_NATS_URL } from '../../shared/config/common.js';
import { ConflictError, describeError, UnavailableError, ValidationError } from '../../shared/errors.js';
import { freePort, freePortWithRoom } from '../../shared/net.js';
import { issueAgentCertificates, writeAgentConfigs } from './agents.js';
import { writeExtractionApiConfig, type ExtractionCost } from './extraction-config.js';
import { shardLayout, writeShardFiles } from './instances.js';
import { loadData, type LoadProgress } from './load.js';
import { writePgbouncerConfig } from './pgbouncer.js';
import { pidFileOf, stopUnitProcess } from './procs.js';
import { createDatabase, createDefaultUser, createGroups, databaseExists, dropDatabase, dropRestoreDatabases, ensureRole, migrate, seedReferenceData, type PgTarget } from './schema.js';
import { securityConfigPathOf, writeSecurityConfig } from './security-config.js';
import { writeSfApiConfig } from './sfapi.js';
import { writeShims } from './shims.js';
import { assertSiteId, defaultDatabaseName, GALLERIES, resolveRoot, saveSiteState, siteDirOf, stateFileOf, loadSiteState, type GalleryName, type SiteState } from './state.js';
import { unitsOf } from './units.js';
import { UPLOAD_UNIT } from './unit-names.js';

export interface UpOptions {
  site: string;
  root?: string;
  shards?: number;
  dossiers?: number;
  events?: number;
  vectorDim?: number;
  /** Database name; default `ffsecurity_<site>`. */
  database?: string;
  /** NATS servers written into the agent configs. */
  nats?: string[];
  /** Default pace of the writer unit (writes/s) and its concurrency. */
  writerRate?: number;
  writerConcurrency?: number;
  /** Image sizes relative to FindFace's (0 < scale ≤ 1; default 1): the same files, fewer bytes (tests). */
  imageScale?: number;
  /**
   * A fleet CA directory (`ffkeeper ca init`): each agent gets a certificate for its site/host and mTLS in
   * its config. Without it the agents' configs say `insecure: true` (a lab; the agents warn).
   */
  pkiDir?: string;
  /**
   * The NATS user registry the agents' keys go to (shared/security/nats-users.ts: a test's own nats-server
   * keeps one); default: the one in `pkiDir`.
   */
  natsRegistry?: string;
  /** What extracting one face costs the site's extraction-api (default 2 ms, sleep) and its parallel instances (2). */
  extraction?: { cost?: Partial<ExtractionCost>; instances?: number };
  onProgress?: (message: string) => void;
}

export interface UpResult {
  state: SiteState;
  loaded: LoadProgress;
  timingsMs: { setup: number; load: number; total: number };
}

/** Defaults of `up` (and of the CLI flags). */
export const UP_DEFAULTS = { shards: 2, dossiers: 1000, events: 5000, vectorDim: 512, writerRate: 50, writerConcurrency: 16 };
type ResolvedUp = UpOptions & typeof UP_DEFAULTS;

const PG_DEFAULTS = { host: '127.0.0.1', port: 5432, superuser: 'postgres', owner: 'ntech' } as const;

/** Model names per gallery kind, with the dimension in them, FindFace-style. */
function modelsFor(dim: number): Record<GalleryName, string> {
  const kindOf = (g: GalleryName): string => (g.includes('body') ? `body-reid-${dim}` : g.includes('car') ? `car-reid-${dim}` : `face-mango-${dim}`);
  return Object.fromEntries(GALLERIES.map((g) => [g, kindOf(g)])) as Record<GalleryName, string>;
}

/** memtx memory per shard for the expected records (with room for the writer), 256 MB – 16 GB. */
function memtxBytes(o: Required<Pick<UpOptions, 'dossiers' | 'events' | 'vectorDim' | 'shards'>>): number {
  const records = o.dossiers * 3 + Math.max(10_000, 2 * o.events);
  const bytes = ((records * (o.vectorDim * 4 + 300)) / o.shards) * 2;
  return Math.round(Math.min(16 * 2 ** 30, Math.max(256 * 2 ** 20, bytes)));
}

async function distinctPorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

/**
 * Port offsets a model migration of a dev site gives its new shards (ffkeeper's default 10, the next
 * multiple after a rolled-back migration, and 100 as the tests ask): kept free beside each shard port, so
 * no other server of the machine's tests is handed one meanwhile and the migration's plan finds it in use.
 */
const MIGRATION_PORT_ROOM = [10, 20, 100] as const;

async function buildState(o: ResolvedUp): Promise<SiteState> {
  const siteDir = siteDirOf(o.site, o.root);
  // In state order: pgbouncer, sf-api, each shard's iproto and HTTP port (with room), security, extraction-api, upload.
  const ports = await distinctPorts(2);
  for (let i = 0; i < 2 * o.shards; i += 1) ports.push(await freePortWithRoom(MIGRATION_PORT_ROOM));
  ports.push(...(await distinctPorts(3)));
  const runDir = path.join(siteDir, 'run');
  const pgbDir = path.join(siteDir, 'pgbouncer');
  return {
    version: 1,
    site: o.site,
    siteDir,
    createdAt: new Date().toISOString(),
    postgres: { ...PG_DEFAULTS, database: o.database ?? defaultDatabaseName(o.site) },
    // The config where Debian's pgbouncer keeps it (agent discovery reads it there); its run files in pgbDir.
    pgbouncer: { host: '127.0.0.1', port: ports[0] as number, adminUser: 'postgres', dir: pgbDir, configFile: path.join(siteDir, 'etc', 'pgbouncer', 'pgbouncer.ini') },
    shards: Array.from({ length: o.shards }, (_, i) => ({
      ...shardLayout(siteDir, i),
      port: ports[2 + 2 * i] as number,
      httpPort: ports[3 + 2 * i] as number,
      memtxMemoryBytes: memtxBytes(o),
    })),
    sfApi: { port: ports[1] as number, configPath: path.join(siteDir, 'etc', 'findface-sf-api.ini'), unit: 'findface-sf-api' },
    extractionApi: {
      port: ports[3 + 2 * o.shards] as number,
      configPath: path.join(siteDir, 'etc', 'findface-extraction-api.ini'),
      unit: 'findface-extraction-api',
      modelsRoot: path.join(siteDir, 'usr', 'share', 'findface-data', 'models'),
    },
    security: { port: ports[2 + 2 * o.shards] as number, configPath: securityConfigPathOf(siteDir) },
    upload: { port: ports[4 + 2 * o.shards] as number, unit: UPLOAD_UNIT },
    uploads: { uploadsDir: path.join(siteDir, 'uploads'), ffuploadDir: path.join(siteDir, 'ffupload'), ...(o.imageScale === undefined ? {} : { imageScale: o.imageScale }) },
    vectors: { dim: o.vectorDim, models: modelsFor(o.vectorDim) },
    writer: { rate: o.writerRate, concurrency: o.writerConcurrency },
    nats: o.nats ?? [DEFAULT_NATS_URL],
    binDir: path.join(siteDir, 'bin'),
    runDir,
    agentConfigs: {},
  };
}

function validate(o: ResolvedUp): void {
  assertSiteId(o.site);
  const positive: Array<[string, number]> = [['shards', o.shards], ['vector-dim', o.vectorDim], ['writer rate', o.writerRate], ['writer concurrency', o.writerConcurrency]];
  for (const [field, v] of positive) if (!Number.isInteger(v) || v < 1) throw new ValidationError(`dev site '${o.site}': ${field} must be a positive integer, got ${v}`, { field });
  for (const [field, v] of [['dossiers', o.dossiers], ['events', o.events]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new ValidationError(`dev site '${o.site}': ${field} must be a non-negative integer, got ${v}`, { field });
  }
  if (o.imageScale !== undefined && !(o.imageScale > 0 && o.imageScale <= 1)) {
    throw new ValidationError(`dev site '${o.site}': image scale must be above 0 and at most 1, got ${o.imageScale}`, { field: 'imageScale' });
  }
  const cost = o.extraction?.cost?.faceCostMs;
  if (cost !== undefined && !(cost >= 0)) throw new ValidationError(`dev site '${o.site}': extraction cost must be 0 ms or more, got ${cost}`, { field: 'extractionCostMs' });
  const instances = o.extraction?.instances;
  if (instances !== undefined && !(Number.isInteger(instances) && instances >= 1)) {
    throw new ValidationError(`dev site '${o.site}': extraction instances must be a positive integer, got ${instances}`, { field: 'extractionInstances' });
  }
  if (o.database !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(o.database)) {
    throw new ValidationError(`dev site '${o.site}': database name '${o.database}' must be lower-case letters, digits and '_'`, { field: 'database' });
  }
}

/** How many times `upSite` picks fresh ports when a unit finds its port taken. */
const PORT_TRIES = 3;

/** Whether `err` (or a cause of it) says a unit could not bind its port. */
function isPortTaken(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (/address already in use|EADDRINUSE/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Creates, starts and fills a dev site. Its ports are picked free, but another process on the machine
 * (a parallel test's site) can take one before its unit binds it: then the site is taken down and made
 * again on fresh ports, up to PORT_TRIES times.
 */
export async function upSite(options: UpOptions): Promise<UpResult> {
  const say = options.onProgress ?? (() => undefined);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await upSiteOnce(options);
    } catch (err) {
      if (attempt >= PORT_TRIES || !isPortTaken(err)) throw err;
      say(`a port picked for dev site '${options.site}' was taken meanwhile; making it again on other ports`);
    }
  }
}

async function upSiteOnce(options: UpOptions): Promise<UpResult> {
  const o: ResolvedUp = { ...UP_DEFAULTS, ...options };
  validate(o);
  const t0 = Date.now();
  const siteDir = siteDirOf(o.site, o.root);
  if (existsSync(siteDir)) throw new ConflictError(`dev site '${o.site}' already exists at ${siteDir}; run 'down --site ${o.site}' first`);
  const state = await buildState(o);
  if (await databaseExists(state.postgres)) {
    throw new ConflictError(`dev site '${o.site}': database '${state.postgres.database}' already exists; run 'down --site ${o.site}' or choose another --db`);
  }
  const say = o.onProgress ?? (() => undefined);
  try {
    for (const d of [siteDir, state.runDir, state.binDir, state.uploads.uploadsDir, state.uploads.ffuploadDir]) mkdirSync(d, { recursive: true });
    chmodSync(siteDir, 0o755); // pgbouncer runs as postgres and must reach its directory
    saveSiteState(state); // first, so that down can always clean up
    if (o.pkiDir) state.agentTls = await issueAgentCertificates(state, o.pkiDir, o.natsRegistry);
    writeFiles(state, o.extraction);
    saveSiteState(state);
    say(`creating database ${state.postgres.database}`);
    await createSchema(state.postgres);
    say(`starting ${state.shards.length} shard(s), pgbouncer, extraction-api and sf-api`);
    // Side by side: none needs another to start (sf-api connects to its shards on first use).
    await Promise.all(unitsOf(state).filter((u) => u.name !== 'findface-security').map((u) => u.start()));
    const t1 = Date.now();
    say(`loading ${o.dossiers} dossiers and ${o.events} events`);
    const loaded = await loadData(state, { dossiers: o.dossiers, events: o.events, onProgress: (p) => say(`loaded ${p.dossiers} dossiers, ${p.events} events, ${Math.round(p.bytes / 2 ** 20)} MiB`) });
    const t2 = Date.now();
    return { state, loaded, timingsMs: { setup: t1 - t0, load: t2 - t1, total: t2 - t0 } };
  } catch (err) {
    await downSite(o.site, o.root).catch(() => undefined);
    throw err;
  }
}

function writeFiles(state: SiteState, extraction: UpOptions['extraction']): void {
  writeExtractionApiConfig(state, extraction); // first: tnt_schema.lua takes the galleries' models from it
  writeShardFiles(state);
  writePgbouncerConfig(state);
  writeSfApiConfig(state);
  writeSecurityConfig(state);
  writeShims(state);
  linkFfupload(state);
  state.agentConfigs = writeAgentConfigs(state);
}

/**
 * `<siteDir>/var/lib/ffupload` → the site's ffupload dir: where FindFace keeps it (no config file names
 * it), so agent discovery finds it as on a real host.
 */
function linkFfupload(state: SiteState): void {
  const link = path.join(state.siteDir, 'var', 'lib', 'ffupload');
  mkdirSync(path.dirname(link), { recursive: true });
  if (!existsSync(link)) symlinkSync(path.relative(path.dirname(link), state.uploads.ffuploadDir), link);
}

/**
 * Writes a site's files only — FindFace-layout configs, shims, agent configs, site.json — without a
 * database or any process: for tests of what reads the tree (agent discovery). Remove the directory
 * with rmSync when done (downSite would also try to drop the database).
 */
export async function writeSiteFiles(options: UpOptions): Promise<SiteState> {
  const o: ResolvedUp = { ...UP_DEFAULTS, ...options };
  validate(o);
  const state = await buildState(o);
  if (existsSync(state.siteDir)) throw new ConflictError(`dev site '${o.site}' already exists at ${state.siteDir}`);
  for (const d of [state.siteDir, state.runDir, state.binDir, state.uploads.uploadsDir, state.uploads.ffuploadDir]) mkdirSync(d, { recursive: true });
  chmodSync(state.siteDir, 0o755);
  writeFiles(state, o.extraction);
  saveSiteState(state);
  return state;
}

async function createSchema(t: PgTarget): Promise<void> {
  await ensureRole(t);
  await createDatabase(t);
  await migrate(t);
  await createGroups(t);
  await createDefaultUser(t);
  await seedReferenceData(t);
}

export interface DownResult {
  site: string;
  stopped: string[];
  databaseDropped: string | undefined;
  removed: string | undefined;
}

/** Stops every process of the site, drops its database, removes its directory. Idempotent. */
export async function downSite(site: string, root?: string): Promise<DownResult> {
  const siteDir = siteDirOf(site, root);
  const state = existsSync(stateFileOf(siteDir)) ? loadSiteState(site, root) : undefined;
  const result: DownResult = { site, stopped: [], databaseDropped: undefined, removed: undefined };
  const runDir = state?.runDir ?? path.join(siteDir, 'run');
  // Known units in reverse start order (the writer first), then any other pid file: whatever the site started goes.
  const known = state ? unitsOf(state).map((u) => u.name).reverse() : [];
  const knownFiles = new Set(known.map((u) => pidFileOf(runDir, u)));
  const others = pidFileUnits(runDir).filter((u) => !knownFiles.has(pidFileOf(runDir, u)));
  for (const unit of [...known, ...others]) {
    if (await stopUnitProcess(runDir, siteDir, unit, { graceMs: 10_000 })) result.stopped.push(unit);
  }
  const target: PgTarget = state?.postgres ?? { ...PG_DEFAULTS, database: defaultDatabaseName(site) };
  let dropError: unknown;
  try {
    await dropDatabase(target);
    await dropRestoreDatabases(target);
    result.databaseDropped = target.database;
  } catch (err) {
    dropError = err;
  }
  if (existsSync(siteDir)) {
    rmSync(siteDir, { recursive: true, force: true });
    result.removed = siteDir;
  }
  if (dropError) throw new UnavailableError(`dev site '${site}': processes stopped and ${siteDir} removed, but dropping database '${target.database}' failed: ${describeError(dropError)}`, { cause: dropError });
  return result;
}

function pidFileUnits(runDir: string): string[] {
  if (!existsSync(runDir)) return [];
  return readdirSync(runDir).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -'.pid'.length));
}

/** Sites under a root (directories holding a site.json). */
export function listSites(root?: string): string[] {
  const dir = resolveRoot(root);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((name) => existsSync(stateFileOf(path.join(dir, name))));
}
