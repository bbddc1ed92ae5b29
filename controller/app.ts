/**
 * The controller's composition root: NATS (presence watch, fleet, catalog and job buckets, the events
 * stream), the site repositories, the fleet inventory, the cut coordinator, the restore orchestrator,
 * watch-list sync links and the Controller gRPC server. `main.ts` calls it after loading config; tests
 * can call it in-process.
 */
import type { ControllerConfig } from '../shared/config/controller.js';
import type { Logger } from '../shared/logger.js';
import { reportingStart, type StartupProgress } from '../shared/process.js';
import { FfkError } from '../shared/errors.js';
import { isFinal, type JobRecord } from '../shared/jobs.js';
import { DEFAULT_PRESENCE_TTL_SECONDS } from '../shared/config/agent.js';
import { connectNats, type NatsConnection } from '../shared/transport/nats.js';
import { openFleetBucket, openPresenceBucket } from '../shared/transport/kv.js';
import { FleetInventory } from './domain/fleet.js';
import type { CatalogStore } from './domain/ports.js';
import { FleetService } from './domain/fleet-service.js';
import { ControllerPeers, newInstance } from './domain/controllers.js';
import { JobRunner } from './domain/jobs.js';
import { SiteLeases } from './domain/leases.js';
import { RetentionService } from './domain/retention-service.js';
import { Scheduler, ScheduleService } from './domain/schedules.js';
import { seedLastSnapshots } from './domain/metrics.js';
import { OrchestratedRestores } from './domain/restore-service.js';
import { RestoreOrchestrator } from './domain/restore/orchestrator.js';
import { SnapshotCoordinator } from './domain/snapshot/coordinator.js';
import { SnapshotService } from './domain/snapshot/service.js';
import { SyncService, type JobStep, type SyncJobKind } from './domain/sync/service.js';
import { securityAtStart } from '../shared/security/startup.js';
import { JetStreamAuditLog } from './transport/nats-audit.js';
import { AuditHeadFile } from './transport/audit-head-file.js';
import type { PeerIdentity } from '../shared/security/identity.js';
import { Verifier } from './domain/verify/verifier.js';
import { VerifyService } from './domain/verify/service.js';
import { MigrationPlanner } from './domain/migration/planner.js';
import { MigrationJobs } from './domain/migration/job.js';
import { ImportService } from './domain/import/service.js';
import { ExportService } from './domain/export/service.js';
import { GrpcAgentClient } from './transport/grpc-agent-client.js';
import { startControllerGrpcServer, startEnrolmentServer } from './transport/grpc-server.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ServerCredentials } from '@grpc/grpc-js';
import { ConfigError } from '../shared/errors.js';
import { RevocationList } from '../shared/security/revocation.js';
import { readKeyFile } from '../shared/security/tls-files.js';
import type { GrpcSecurity } from '../shared/transport/grpc-security.js';
import { HeadKeepingAuditLog, type AuditLog } from './domain/access/audit.js';
import { EnrolmentService } from './domain/enrolment.js';
import { FsCertificateAuthority } from './transport/fleet-ca.js';
import { KvJoinTokenStore } from './transport/nats-enrolment.js';
import { KvFleetStore, watchPresence, type PresenceWatch } from './transport/nats-fleet.js';
import { JetStreamEventLog, KvCatalogStore, KvJobStore, KvVerificationStore } from './transport/nats-state.js';
import { KvLeaseStore, KvRetentionStore, KvScheduleStore } from './transport/nats-policies.js';
import { KvControllerRoster } from './transport/nats-controllers.js';
import { ResticSiteRepositories } from './transport/site-repositories.js';
import { CopyService } from './domain/snapshot/copy.js';
import { RepositoryService } from './domain/repository/service.js';
import { HmacManifestSealer } from './transport/manifest-seal.js';
import { PromControllerMetrics } from './transport/metrics.js';
import { registerSyncMetrics } from './transport/metrics-sync.js';
import { KvSyncCheckStore, KvSyncLinkStore, KvSyncStatusStore } from './transport/nats-sync.js';
import { checkLink, watchListsOf } from './domain/sync/check.js';
import { agentNativeSyncPort, type NativeSyncClient } from './domain/sync/native.js';
import { NightlyComparisons } from './domain/sync/nightly.js';
import { natsSyncGrants } from './transport/nats-grants.js';
import { ConsoleTokens } from './domain/access/console-tokens.js';
import { KvConsoleTokenStore } from './transport/nats-console-tokens.js';
import { startConsole } from './transport/console/start.js';

/** How often the controller looks for sync links whose nightly comparison is due. */
const NIGHTLY_TICK_MS = 30_000;
import type { AgentClient } from './domain/ports.js';
import { startMetricsServer, type RunningMetricsServer } from '../shared/transport/metrics-http.js';

export interface RunningController {
  /** Address the gRPC server is bound to (host:port). */
  address: string;
  stop(): Promise<void>;
}

async function startFleet(nc: NatsConnection, inventory: FleetInventory, log: Logger): Promise<PresenceWatch> {
  const store = new KvFleetStore(await openFleetBucket(nc));
  inventory.restore(await store.loadAll());
  const presence = await openPresenceBucket(nc, DEFAULT_PRESENCE_TTL_SECONDS * 1000);
  return watchPresence(
    presence,
    (update) => {
      const changed = inventory.apply(update);
      if (!changed) return;
      const { site, host } = changed.description;
      log.info({ site, host, event: update.kind }, update.kind === 'seen' ? 'agent online' : 'agent said goodbye');
      store.save(changed).catch((err: unknown) => log.warn({ err, site, host }, 'could not persist fleet record'));
    },
    log,
  );
}

/**
 * Sync links: models are read from each site's newest sealed snapshot (agents do not report live
 * models); snapshots wait for the site's lease like any other (a link holds none).
 */
/**
 * Enrolment and revocation with the fleet CA in `caDir`; the Enrolment service is served when
 * `enrolment.listen` is set (the controller's certificate chained with the CA's, no client certificate).
 */
async function startEnrolment(
  config: ControllerConfig,
  caDir: string,
  nc: NatsConnection,
  security: GrpcSecurity,
  audit: AuditLog,
  log: Logger,
  onRevoked: (identity: PeerIdentity) => void,
  revokeConsoleTokens: (operator: string) => Promise<number>,
): Promise<{ service: EnrolmentService; stop(): Promise<void> }> {
  const authority = new FsCertificateAuthority(caDir);
  const served: { address?: string } = {};
  const service = new EnrolmentService({ tokens: await KvJoinTokenStore.open(nc), authority, enrolmentAddress: () => served.address, onRevoked, revokeConsoleTokens });
  if (!config.enrolment) return { service, stop: async () => undefined };
  if ('insecure' in security) throw new ConfigError('controller config', ['enrolment: needs tls (the agents check the controller certificate against their token)']);
  const chain = Buffer.concat([readFileSync(security.tls.cert), Buffer.from('\n'), readFileSync(path.join(caDir, 'ca.crt'))]);
  const credentials = ServerCredentials.createSsl(null, [{ cert_chain: chain, private_key: readKeyFile(security.tls.key) }], false);
  const server = await startEnrolmentServer(config.enrolment.listen, service, credentials, audit, log);
  const listen = config.enrolment.listen;
  served.address = config.enrolment.advertise ?? `${listen.slice(0, listen.lastIndexOf(':'))}:${server.port}`;
  log.info({ enrolment: served.address }, 'enrolment served');
  return { service, stop: () => server.stop() };
}

async function startSync(
  nc: NatsConnection,
  deps: { inventory: FleetInventory; catalog: CatalogStore; snapshots: SnapshotService; agents: AgentClient & NativeSyncClient; timeoutMs: number; jobs: JobRunner; natsRegistry?: string },
): Promise<SyncService> {
  const [links, statuses, checks] = await Promise.all([KvSyncLinkStore.open(nc), KvSyncStatusStore.open(nc), KvSyncCheckStore.open(nc)]);
  const checkDeps = { agents: deps.agents, agentsOf: (site: string) => deps.inventory.list(site), timeoutMs: deps.timeoutMs };
  return new SyncService({
    links,
    statuses,
    checks,
    compare: (link, repair) => checkLink(checkDeps, link, { repair }),
    listsOf: (site) => watchListsOf(checkDeps, site),
    native: agentNativeSyncPort({ client: deps.agents, agentsOf: checkDeps.agentsOf, timeoutMs: deps.timeoutMs }),
    inJob: (kind, site, work) => syncJob(deps.jobs, kind, site, work),
    knownSites: () => deps.inventory.sites().map((s) => s.site),
    modelsOf: async (site) => (await deps.catalog.list(site))[0]?.models,
    takeSnapshot: async (site, reason) => (await deps.snapshots.take(site, reason)).cutId,
    ...(deps.natsRegistry ? { grants: natsSyncGrants(deps.natsRegistry) } : {}),
  });
}

/** A sync comparison or link change as a job of the slave site: its steps and outcome reach the events stream. */
async function syncJob<T>(jobs: JobRunner, kind: SyncJobKind, site: string, work: (step: JobStep) => Promise<T>): Promise<T> {
  let result: { value: T } | undefined;
  const job = await jobs.start(kind, site, async (ctx) => {
    result = { value: await work((name, message) => ctx.step(name, message)) };
  });
  const record = await job.done;
  if (record.phase !== 'Completed' || !result) {
    throw new FfkError(record.error?.code ?? 'INTERNAL', `${record.error?.message ?? record.phase} (job ${record.id})`);
  }
  return result.value;
}

function expectedAgentAt(inventory: FleetInventory, address: string): PeerIdentity | undefined {
  const entry = inventory.list().find((a) => a.description.grpcAddress === address);
  return entry ? { kind: 'agent', site: entry.description.site, host: entry.description.host } : undefined;
}

/** Starts the controller; a stage of the start that lasts is reported in its log as it waits (startupProgress). */
export async function startController(config: ControllerConfig, logger: Logger): Promise<RunningController> {
  return reportingStart(logger, (progress) => startControllerReporting(config, logger, progress));
}

async function startControllerReporting(config: ControllerConfig, logger: Logger, progress: StartupProgress): Promise<RunningController> {
  const log = logger.child({ controller: config.id });
  progress.stage(`connecting to NATS at ${config.nats.servers.join(', ')}`);
  const nc: NatsConnection = await connectNats({ config: config.nats, name: `ffkeeper-controller ${config.id}`, identity: { kind: 'controller', id: config.id } });
  const security = securityAtStart(config, { kind: 'controller', id: config.id }, log);
  const inventory = new FleetInventory();
  // An agent is reached at the address it announced, and must prove to be the site/host it announced.
  // With the fleet CA on this host: its revocations refuse agents' and operators' certificates at once.
  const revocations = config.ca ? new RevocationList(config.ca.dir) : undefined;
  const isRevoked = revocations ? (serial: string | undefined) => revocations.isRevoked(serial) : undefined;
  const agents = new GrpcAgentClient({ security, expectedAt: (address) => expectedAgentAt(inventory, address), ...(isRevoked ? { isRevoked } : {}) });
  let metricsServer: RunningMetricsServer | undefined;
  try {
    const metrics = new PromControllerMetrics({ sites: () => inventory.sites() });
    progress.stage('opening the fleet and presence buckets');
    const watch = await startFleet(nc, inventory, log);
    progress.stage('opening the catalog, jobs and events, leases, schedules and retention');
    const [catalog, jobStore, events] = await Promise.all([KvCatalogStore.open(nc), KvJobStore.open(nc), JetStreamEventLog.open(nc)]);
    const self = { id: config.id, instance: newInstance() };
    const jobs = new JobRunner({ store: jobStore, events, logger: log, runBy: self });
    const repositories: ResticSiteRepositories = new ResticSiteRepositories(config.repositories, log, (site, sets): Promise<void> => repositoryService.qualifyCreated(site, sets));
    const timeouts = { deadlines: config.agents.deadlines };
    const sealer = HmacManifestSealer.fromKeyFile(config.repositories.sealKeyFile ?? path.join(path.dirname(config.repositories.secretsFile), 'seal.key'));
    const coordinator = new SnapshotCoordinator({ fleet: inventory, agents, repositories, catalog, sealer, ...timeouts, defaultLeaseMs: config.snapshots.leaseMs, holdFrozenMs: config.snapshots.holdFrozenMs, freezeAttempts: config.snapshots.freezeAttempts, logger: log, metrics });
    const [leaseStore, scheduleStore, retentionStore] = await Promise.all([KvLeaseStore.open(nc), KvScheduleStore.open(nc), KvRetentionStore.open(nc)]);
    const leases = new SiteLeases({ store: leaseStore, owner: config.id, instance: self.instance, ttlMs: config.leases.ttlMs, logger: log });
    // Before any job of this process starts: the jobs and leases of controller processes that are gone.
    progress.stage('joining the controller roster');
    const peers = new ControllerPeers({ roster: await KvControllerRoster.open(nc), self, ttlMs: config.leases.ttlMs, jobs, leases, logger: log });
    const orphaned = await peers.start();
    const snapshots = new SnapshotService({ coordinator, jobs, catalog, repositories, sealer, leases, logger: log });
    const repositoryService: RepositoryService = new RepositoryService({
      repositories,
      leases,
      knownSite: (site) => site in config.repositories.sites || inventory.sites().some((s) => s.site === site),
      logger: log,
    });
    const retention = new RetentionService({ store: retentionStore, catalog, repositories, jobs, leases, logger: log });
    const copies = new CopyService({ catalog, repositories, jobs, leases, sealer, logger: log });
    const schedules = new ScheduleService(scheduleStore);
    progress.stage('opening the verifications and the sync links');
    const verifications = await KvVerificationStore.open(nc);
    const verifier = new Verifier({ catalog, fleet: inventory, agents, repositories, verifications, secondaryManifests: (site, cutId) => copies.stored(site, { cutId }), ...timeouts, metrics, logger: log });
    const verify = new VerifyService({ verifier, jobs, verifications, leases });
    const exports = new ExportService({ catalog, fleet: inventory, agents, repositories, jobs, leases, ...timeouts, logger: log });
    const imports = new ImportService({ catalog, fleet: inventory, agents, repositories, jobs, leases, sealer, ...timeouts, logger: log });
    const migrations = new MigrationPlanner({ agentsOf: (site) => inventory.list(site), client: agents, catalog, verifications, deadlines: config.agents.deadlines });
    const migrationJobs = new MigrationJobs({
      planner: migrations,
      client: agents,
      agentsOf: (site) => inventory.list(site),
      jobs,
      jobStore,
      leases,
      deadlines: config.agents.deadlines,
      takeSnapshot: async (site, reason) => (await snapshots.take(site, reason, { leaseHeld: true })).cutId,
    });
    // A migration whose controller went away had stopped its site's findface-security: started again.
    const writersBack = async (jobs: readonly JobRecord[]): Promise<void> => void (await migrationJobs.writersBack(jobs, (msg) => log.warn(msg)));
    peers.onOrphans(writersBack);
    void writersBack(orphaned.jobs);
    const scheduledWait = { wait: true as const, timeoutMs: config.schedules.waitForSiteMs };
    const scheduler = new Scheduler({
      store: scheduleStore,
      logger: log,
      tickMs: config.schedules.tickMs,
      stillRunning: async (jobId) => {
        const job = await jobStore.get(jobId);
        return job !== undefined && !isFinal(job.phase);
      },
      runners: {
        snapshot: (site, s) => snapshots.create({ site, reason: `scheduled (${s.cron} ${s.timezone})`, wait: scheduledWait }),
        retention: (site) => retention.apply(site, scheduledWait),
        verify: (site) => verify.start({ site, readData: false }, scheduledWait),
        copy: (site) => copies.copy(site, [], scheduledWait),
      },
    });
    // A restore holds its target site's lease for its whole run; its safety snapshot runs inside it.
    const safetySnapshots = { take: (site: string, reason: string) => snapshots.take(site, reason, { leaseHeld: true }) };
    const orchestrator = new RestoreOrchestrator({ catalog, fleet: inventory, agents, repositories, snapshots: safetySnapshots, secondaryManifests: (site, cutId) => copies.stored(site, { cutId }), ...timeouts, logger: log });
    const restores = new OrchestratedRestores({ orchestrator, jobs, jobStore, leases, metrics });
    const fleet = new FleetService(inventory, agents, config.agents.deadlines);
    const natsRegistry = config.natsRegistry ?? config.ca?.dir;
    const sync = await startSync(nc, { inventory, catalog, snapshots, agents, timeoutMs: config.agents.deadlines.checkMs, jobs, ...(natsRegistry ? { natsRegistry } : {}) });
    if (natsRegistry) sync.syncGrants().catch((err: unknown) => log.warn({ err }, 'could not bring the NATS sync read grants in step with the links'));
    else if (!('insecure' in security)) log.warn('no NATS registry (ca.dir or natsRegistry): sync links between sites need their read grants in the nats-server configuration by hand');
    registerSyncMetrics(metrics.registry, () => sync.list());
    // The trail's head is kept on this host too, outside NATS: every audit verify checks it.
    progress.stage('opening the audit trail and console tokens');
    const headFile = new AuditHeadFile(config.audit.headFile ?? path.join(path.dirname(config.repositories.secretsFile), 'audit-head'));
    const audit = new HeadKeepingAuditLog(await JetStreamAuditLog.open(nc), headFile, (err) => log.error({ err, file: headFile.file }, 'could not keep the audit head outside the stream'));
    const guard = { security, access: config.access, audit, logger: log, ...(isRevoked ? { isRevoked } : {}) };
    const consoleTokens = new ConsoleTokens({ store: await KvConsoleTokenStore.open(nc), access: config.access });
    const enrolling = config.ca ? await startEnrolment(config, config.ca.dir, nc, security, audit, log, (identity) => {
      revocations?.reload();
      for (const e of inventory.list()) {
        if (identity.kind === 'agent' && e.description.site === identity.site && e.description.host === identity.host) agents.forget(e.description.grpcAddress);
      }
    }, (operator) => consoleTokens.revokeOperator(operator)) : undefined;
    progress.stage(`serving gRPC on ${config.grpc.listen}, the console and metrics`);
    const grpc = await startControllerGrpcServer(
      config.grpc.listen,
      { fleet, snapshots, restores, jobs, jobStore, events, schedules, retention, verify, exports, imports, migrations, migrationJobs, sync, audit, auditHead: () => audit.keptHead(), consoleTokens, repositories: repositoryService, copies, ...(enrolling ? { enrolment: enrolling.service } : {}) },
      guard,
    );
    const webConsole = await startConsole(config, { services: { fleet, snapshots, verify, schedules, restores, retention, sync, jobStore, events, migrations, migrationJobs }, tokens: consoleTokens, guard });
    const host = config.grpc.listen.slice(0, config.grpc.listen.lastIndexOf(':'));
    const address = `${host}:${grpc.port}`;
    metricsServer = await startMetricsServer(config.metrics.listen, metrics.registry, log);
    // "Last success" survives a controller restart: seeded from the catalog in the background.
    const sites = inventory.sites().map((s) => s.site);
    seedLastSnapshots(catalog, sites, metrics).catch((err: unknown) => log.warn({ err }, 'could not read the catalog for the snapshot metrics'));
    // Nightly full comparison of every sync link, with the schedules (a lab can turn both off).
    const nightly = new NightlyComparisons({ checkTimes: () => sync.checkTimes(), check: (id, repair) => sync.check(id, repair), run: (id) => sync.run(id), logger: log, tickMs: NIGHTLY_TICK_MS });
    if (config.schedules.enabled) {
      scheduler.start();
      nightly.start();
    }
    log.info({ address, agents: inventory.list().length }, 'controller started');
    return {
      address,
      async stop() {
        await scheduler.stop();
        await peers.stop();
        await nightly.stop();
        watch.stop();
        await webConsole?.stop();
        await grpc.stop();
        await enrolling?.stop();
        await metricsServer?.stop();
        agents.close();
        await nc.drain().catch(() => nc.close());
        log.info('controller stopped');
      },
    };
  } catch (err) {
    await metricsServer?.stop();
    agents.close();
    await nc.close();
    throw err;
  }
}
