/**
 * The agent's composition root: wires config, NATS presence and the gRPC server together. `main.ts`
 * calls it after loading config; tests can call it in-process.
 */
import type { AgentConfig } from '../shared/config/agent.js';
import type { Logger } from '../shared/logger.js';
import { reportingStart, type StartupProgress } from '../shared/process.js';
import { connectNats, watchAuthRefusal, type NatsConnection } from '../shared/transport/nats.js';
import { openPresenceBucket } from '../shared/transport/kv.js';
import { advertisedAddress, buildDescription } from './domain/describe.js';
import { Heartbeat } from './domain/heartbeat.js';
import { startAgentGrpcServer } from './transport/grpc-server.js';
import { securityAtStart } from '../shared/security/startup.js';
import { KvPresencePublisher } from './transport/nats-presence.js';
import type { AgentDescription } from '../shared/fleet.js';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { IllegalStateError, NotFoundError } from '../shared/errors.js';
import type { Repository } from '../shared/repository/repository.js';
import { resticFromAccess } from '../shared/repository/restic.js';
import { createDrivers } from './adapters/drivers.js';
import { commandRunner } from './adapters/command.js';
import { SystemctlServiceManager } from './adapters/systemctl.js';
import { TarantoolShardDriver } from './domain/drivers/tarantool/driver.js';
import type { ComponentDriver } from './domain/drivers/types.js';
import { AgentJobs, type RepositoryAccess } from './domain/jobs.js';
import { SandboxManager } from './domain/sandbox/manager.js';
import { FsRestoreJournal } from './adapters/restore-journal.js';
import { FsSandboxStore } from './adapters/sandbox-store.js';
import { shardPlacement } from './adapters/tarantool/placement.js';
import { SpawnedScratchInstances } from './adapters/tarantool/scratch-instances.js';
import { PromAgentMetrics } from './transport/metrics.js';
import { startMetricsServer } from '../shared/transport/metrics-http.js';
import { withTimeout } from '../shared/timeout.js';
import { nativeSyncDeps, syncResources } from './adapters/sync/factory.js';
import { nativeSync } from './domain/sync/native.js';
import { SyncManager } from './domain/sync/manager.js';
import { inspect } from './domain/sync/inspect.js';
import { JetStreamSyncBus } from './transport/nats-sync.js';
import { directFilesOf } from './transport/direct-files.js';
import { HostMigrationAccess } from './adapters/migration.js';
import { migration } from './domain/migration/ops.js';
import { adoptionFileOf, parseAdoption, servedConfig } from './domain/migration/adopt.js';

/** How long a stopping agent waits for NATS (withdrawing its presence, draining). */
const STOP_NATS_MS = 2000;

/** A pin left by a crashed agent would block every later backup of that shard: release it now. */
async function releaseStalePins(drivers: readonly ComponentDriver[], log: Logger): Promise<void> {
  for (const d of drivers) {
    if (!(d instanceof TarantoolShardDriver)) continue;
    try {
      const { released } = await d.releaseStalePins();
      if (released.length > 0) log.warn({ component: d.ref, released }, 'released checkpoint pins left by a previous agent');
    } catch (err) {
      log.warn({ err, component: d.ref }, 'could not check for stale checkpoint pins (shard unreachable?)');
    }
  }
}

/** The site's repository for one job; restic's cache lives under the agent's cache directory. */
function openRepository(access: RepositoryAccess, config: AgentConfig, log: Logger): Repository {
  return resticFromAccess(access, { cacheDir: path.join(config.cacheDir, 'restic'), logger: log });
}

/** The drivers of the named components (unwrapped); NotFoundError naming one this agent does not serve. */
function selectDrivers(drivers: readonly ComponentDriver[], refs: readonly string[]): ComponentDriver[] {
  return refs.map((ref) => {
    const d = drivers.find((x) => x.ref === ref);
    if (!d) throw new NotFoundError(`component '${ref}' is not served by this agent (it serves: ${drivers.map((x) => x.ref).join(', ') || 'none'})`);
    return d;
  });
}

export interface RunningAgent {
  description: AgentDescription;
  /**
   * Resolves (with the reason) when the agent should be started again with what it serves re-read: a
   * migration's switch made it adopt new shards (its caller stops it and starts it again).
   */
  restart: Promise<string>;
  /** Resolves with the reason if NATS refuses this agent for good while it runs (revoked); never while stopping. */
  lost: Promise<Error | undefined>;
  stop(): Promise<void>;
}

/** The config with the shards a migration made this agent adopt (agent/domain/migration/adopt.ts) in place of the old. */
async function withAdoptedShards(config: AgentConfig, log: Logger): Promise<AgentConfig> {
  const file = adoptionFileOf(config);
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (text === undefined) return config;
  const adoption = parseAdoption(text, file);
  const served = servedConfig(config, adoption, file, (msg) => log.warn(msg));
  const swapped = Object.entries(adoption.shards).map(([s, a]) => `${s} → ${a.component.name}`);
  log.warn({ file, shards: swapped }, 'serving the shards a model migration switched to in place of those the config file names (update the config file to name them)');
  return served;
}

/** Starts the agent; a stage of the start that lasts is reported in its log as it waits (startupProgress). */
export async function startAgent(fileConfig: AgentConfig, logger: Logger): Promise<RunningAgent> {
  return reportingStart(logger, (progress) => startAgentReporting(fileConfig, logger, progress));
}

async function startAgentReporting(fileConfig: AgentConfig, logger: Logger, progress: StartupProgress): Promise<RunningAgent> {
  const log = logger.child({ site: fileConfig.site, host: fileConfig.host });
  progress.stage('reading its components and releasing stale pins');
  const services = new SystemctlServiceManager({ pathPrepend: fileConfig.pathPrepend, timeoutMs: fileConfig.units.timeoutMs });
  const migrationHost = new HostMigrationAccess({ pathPrepend: fileConfig.pathPrepend, services });
  // What the agent serves: its config file's components, a migration's new shards in place of the old.
  const config = await withAdoptedShards(fileConfig, log);
  let requestRestart: (why: string) => void = () => undefined;
  const restart = new Promise<string>((resolve) => {
    requestRestart = resolve;
  });
  const drivers = createDrivers(config, log, services);
  await releaseStalePins(drivers, log);
  // Long-running driver parts (the uploads deletion shield), started in the background: a first prepare()
  // waits for them; a driver that fails here retries at its next prepare().
  for (const d of drivers) void d.open?.().catch((err: unknown) => log.warn({ err, component: d.ref }, 'driver did not open; it retries at the next cut'));
  const metrics = new PromAgentMetrics({ site: config.site, host: config.host });
  // Verify drills' sandboxes; any left by a previous run (crash, kill -9) are dropped before serving.
  const sandboxes = new SandboxManager({
    select: (refs) => selectDrivers(drivers, refs),
    store: new FsSandboxStore(config.cacheDir),
    logger: log,
  });
  progress.stage('dropping sandboxes and imports a previous run left, recovering the restore journal');
  await sandboxes.dropAll('left by a previous run of this agent');
  // Snapshot imports' work directories a killed agent left (a scratch instance may still run in one).
  const importRoot = path.join(config.cacheDir, 'import');
  await dropImportLeftovers(importRoot, log);
  const jobs = new AgentJobs({
    drivers,
    openRepository: (access) => openRepository(access, config, log),
    services,
    ...(config.integrityCheck ? { integrityCheck: config.integrityCheck } : {}),
    runCommand: commandRunner(config.pathPrepend),
    logger: log,
    metrics,
    sandboxes,
    journal: new FsRestoreJournal(config.cacheDir),
    imports: { workRoot: importRoot, placement: () => shardPlacement(config) },
  });
  // Components a restore staged or was switching in when this agent stopped (kill -9 during a switch):
  // held again, for the controller to roll back (from the disk), finish or discard.
  await jobs.recoverJournal();
  let description: AgentDescription | undefined;
  const syncDeps = syncResources(config);
  const native = nativeSyncDeps(config, services, log);
  const security = securityAtStart(config, { kind: 'agent', site: config.site, host: config.host }, log);
  const grpc = await startAgentGrpcServer(config.grpc.listen, {
    inspectSync: (req) => inspect(syncDeps, req),
    nativeSync: (req) => {
      if (!native) throw new IllegalStateError(`agent ${config.site}/${config.host} runs no findface-security (no findfaceSecurity in its config)`);
      return nativeSync(native, req);
    },
    // Migration steps name the shards of the config file (the old ones, also after a switch: a rollback needs them).
    migration: async (req) => {
      const r = await migration(fileConfig, migrationHost, req);
      // Answered first; then started again serving the adopted shards.
      if (r.op === 'adopt' && r.changed) setTimeout(() => requestRestart(`now serving ${r.serving.join(', ')}`), 200);
      return r;
    },
    describe: () => {
      if (!description) throw new IllegalStateError('agent is starting');
      return description;
    },
    jobs: () => jobs,
  }, security);
  progress.stage(`serving gRPC on ${config.grpc.listen} and metrics`);
  let nc: NatsConnection | undefined;
  const metricsServer = await startMetricsServer(config.metrics.listen, metrics.registry, log);
  try {
    progress.stage(`connecting to NATS at ${config.nats.servers.join(', ')}`);
    nc = await connectNats({ config: config.nats, name: `ffkeeper-agent ${config.site}/${config.host}`, identity: { kind: 'agent', site: config.site, host: config.host } });
    progress.stage('opening the presence bucket');
    const kv = await openPresenceBucket(nc, config.presence.ttlSeconds * 1000);
    const grpcAddress = advertisedAddress(config.grpc.listen, grpc.port, config.grpc.advertise);
    description = buildDescription({ config, grpcAddress, startedAt: new Date() });
    const heartbeat = new Heartbeat({
      publisher: new KvPresencePublisher(kv),
      description,
      intervalMs: config.presence.heartbeatSeconds * 1000,
      logger: log,
    });
    await heartbeat.start();
    // Watch-list sync: this agent's parts of the links (capture/publish on a master, apply on a slave).
    progress.stage('opening the sync streams');
    const bus = await JetStreamSyncBus.open(nc, config.site, log);
    // The files agents' direct channel (bulk photo transfer between a link's master and slave), NATS the fallback.
    const direct = syncDeps.files ? directFilesOf(config, grpcAddress, (site, list) => bus.askBulk(site, list), log) : undefined;
    if (direct) bus.answerBulkWith((list) => direct.offerFor(list));
    const sync = new SyncManager({ bus, site: config.site, host: config.host, logger: log, ...(direct ? { direct } : {}) }, syncDeps);
    if (sync.useful) sync.start();
    log.info({ grpcAddress, components: description.components.length }, 'agent started');
    const conn = nc;
    const started = description;
    let stopping = false;
    // Lost when the server keeps refusing this agent's key (revoked or replaced); a server that is away,
    // or refuses it for a moment while it reloads, is retried.
    const lost = watchAuthRefusal(conn).then((err) => (stopping ? undefined : err));
    return {
      description: started,
      restart,
      lost,
      async stop() {
        stopping = true;
        // Bounded: without its NATS server the agent would wait for it before it could say goodbye.
        await withTimeout(heartbeat.stop(), STOP_NATS_MS, `presence not withdrawn within ${STOP_NATS_MS} ms`).catch((err: unknown) =>
          log.warn({ err }, 'could not withdraw presence (the controller marks the agent offline after the TTL)'),
        );
        await withTimeout(sync.stop(), STOP_NATS_MS * 5, 'sync parts did not stop in time').catch((err: unknown) => log.warn({ err }, 'sync parts did not stop cleanly'));
        await direct?.stop();
        await grpc.stop();
        await metricsServer?.stop();
        await sandboxes.dropAll('the agent is stopping');
        await Promise.allSettled(drivers.map((d) => d.close?.()));
        await withTimeout(conn.drain(), STOP_NATS_MS, 'NATS drain timed out').catch(() => conn.close());
        log.info('agent stopped');
      },
    };
  } catch (err) {
    await grpc.stop();
    await metricsServer?.stop();
    await Promise.allSettled(drivers.map((d) => d.close?.()));
    await nc?.close();
    throw err;
  }
}

/** Stops the scratch instances and removes the work directories of imports a previous run of this agent left. */
async function dropImportLeftovers(root: string, log: Logger): Promise<void> {
  const jobs = await readdir(root).catch(() => [] as string[]);
  const scratch = new SpawnedScratchInstances();
  for (const job of jobs) {
    const dir = path.join(root, job);
    for (const part of await readdir(dir).catch(() => [] as string[])) await scratch.stop(path.join(dir, part)).catch(() => false);
    await rm(dir, { recursive: true, force: true });
    log.warn({ dir }, 'removed the work directory of an import left by a previous run of this agent');
  }
}
