/**
 * One lightweight simulated agent for the fleet-scale bench (issue 7, case 6). It is the real agent
 * minus its data: the agent's own presence code (buildDescription → Heartbeat → KvPresencePublisher into
 * the presence bucket), its own gRPC server (startAgentGrpcServer) and its own job service and cut
 * participant (AgentJobs → CutParticipant, freeze lease included) — so the simulation cannot drift from
 * the protocols. Only the component driver and the repository are stand-ins: one 'uploads' component
 * whose prepare/freeze/cut/thaw do nothing and whose upload returns a valid artifact (a synthetic
 * snapshot id, 0 bytes, marked `simulated`), and a repository that checks the site repository the
 * controller named exists instead of running restic (200 restic processes on one 2-core machine would
 * measure the bench machine, not the controller).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { agentConfigSchema, type AgentConfig } from '../../shared/config/agent.js';
import { IllegalStateError, NotFoundError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Repository, RepositoryInfo } from '../../shared/repository/repository.js';
import type { KV } from '../../shared/transport/kv.js';
import { advertisedAddress, buildDescription } from '../../agent/domain/describe.js';
import type { ComponentArtifact, ComponentDriver, CutPoint, RestoreReport, UploadContext } from '../../agent/domain/drivers/types.js';
import { Heartbeat } from '../../agent/domain/heartbeat.js';
import { AgentJobs, type RepositoryAccess } from '../../agent/domain/jobs.js';
import type { ServiceManager } from '../../agent/domain/ports.js';
import { startAgentGrpcServer } from '../../agent/transport/grpc-server.js';
import { KvPresencePublisher } from '../../agent/transport/nats-presence.js';
import type { AgentDescription } from '../../shared/fleet.js';
import { securityAtStart } from '../../shared/security/startup.js';
import { natsSeedOf, type TlsFiles } from '../../shared/security/tls-files.js';

/** Calls the simulated drivers received, by protocol step (summed over agents by the simulator). */
export interface DriverCalls {
  prepare: number;
  freeze: number;
  cut: number;
  thaw: number;
  upload: number;
  release: number;
}

export function noCalls(): DriverCalls {
  return { prepare: 0, freeze: 0, cut: 0, thaw: 0, upload: 0, release: 0 };
}

/** An 'uploads' component with nothing to freeze and nothing to read; counts the calls it gets. */
export class SimulatedUploadsDriver implements ComponentDriver {
  readonly kind = 'uploads' as const;
  readonly ref: string;
  private cutPoint: CutPoint | undefined;

  constructor(
    readonly name: string,
    private readonly host: string,
    readonly calls: DriverCalls,
  ) {
    this.ref = `uploads:${name}`;
  }

  prepare(): Promise<void> {
    this.calls.prepare += 1;
    return Promise.resolve();
  }

  freeze(): Promise<void> {
    this.calls.freeze += 1;
    return Promise.resolve();
  }

  cut(): Promise<CutPoint> {
    this.calls.cut += 1;
    this.cutPoint = { kind: 'uploads', component: this.ref, time: new Date() };
    return Promise.resolve(this.cutPoint);
  }

  thaw(): Promise<void> {
    this.calls.thaw += 1;
    return Promise.resolve();
  }

  upload(ctx: UploadContext): Promise<ComponentArtifact> {
    this.calls.upload += 1;
    const cut = this.cutPoint;
    this.cutPoint = undefined;
    if (!cut) return Promise.reject(new IllegalStateError(`${this.ref}: upload without a cut`));
    const id = createHash('sha256').update(`${ctx.tags.site}/${ctx.tags.cutId}/${this.host}/${this.ref}`).digest('hex');
    return Promise.resolve({
      component: this.ref,
      kind: 'uploads',
      cut,
      snapshotIds: [id],
      bytes: 0,
      files: 0,
      dataAddedBytes: 0,
      details: { simulated: true },
    });
  }

  release(): Promise<void> {
    this.calls.release += 1;
    this.cutPoint = undefined;
    return Promise.resolve();
  }

  restore(): Promise<RestoreReport> {
    return Promise.reject(new IllegalStateError(`${this.ref}: a simulated agent does not restore`));
  }
  recoverStaged(): never {
    throw new Error('the simulated agent stages nothing');
  }
  stage(): Promise<never> {
    return Promise.reject(new IllegalStateError(`${this.ref}: a simulated agent does not restore`));
  }
}

/**
 * The site repository as a simulated agent sees it: `describe()` (what an agent's prepare asks) checks
 * that the repository the controller named exists (a local repository's `config` file); nothing else is
 * used by the cut protocol and everything else refuses.
 */
export class SimulatedRepository implements Repository {
  readonly displayUrl: string;

  constructor(private readonly access: RepositoryAccess) {
    this.displayUrl = access.url;
  }

  describe(): Promise<RepositoryInfo> {
    const local = !/^[a-z0-9]+:/i.test(this.access.url) || this.access.url.startsWith('local:');
    const dir = this.access.url.replace(/^local:/, '');
    if (local && !existsSync(path.join(dir, 'config'))) {
      return Promise.reject(new NotFoundError(`simulated agent: no repository at ${this.access.url}`));
    }
    return Promise.resolve({ id: 'simulated', formatVersion: 2 });
  }

  private refuse(op: string): Promise<never> {
    return Promise.reject(new IllegalStateError(`simulated agent: repository ${op} is not simulated`));
  }

  init(): Promise<never> {
    return this.refuse('init');
  }
  ensureInitialized(): Promise<never> {
    return this.refuse('ensureInitialized');
  }
  backupFiles(): Promise<never> {
    return this.refuse('backupFiles');
  }
  backupStream(): Promise<never> {
    return this.refuse('backupStream');
  }
  openBackupStream(): Promise<never> {
    return this.refuse('openBackupStream');
  }
  backupTrees(): Promise<never> {
    return this.refuse('backupTrees');
  }
  openTreesBackup(): Promise<never> {
    return this.refuse('openTreesBackup');
  }
  restore(): Promise<never> {
    return this.refuse('restore');
  }
  dump(): Readable {
    throw new IllegalStateError('simulated agent: repository dump is not simulated');
  }
  listSnapshots(): Promise<never> {
    return this.refuse('listSnapshots');
  }
  forget(): Promise<never> {
    return this.refuse('forget');
  }
  check(): Promise<never> {
    return this.refuse('check');
  }
  stats(): Promise<never> {
    return this.refuse('stats');
  }
  releaseStaleLocks(): Promise<never> {
    return this.refuse('releaseStaleLocks');
  }
  tryRemove(): Promise<never> {
    return this.refuse('tryRemove');
  }
  copyFrom(): Promise<never> {
    return this.refuse('copyFrom');
  }
}

const NO_SERVICES: ServiceManager = {
  start: (unit) => Promise.reject(new IllegalStateError(`simulated agent: cannot start ${unit}`)),
  stop: (unit) => Promise.reject(new IllegalStateError(`simulated agent: cannot stop ${unit}`)),
  isActive: () => Promise.resolve(true),
};

export interface SimulatedAgentOptions {
  site: string;
  host: string;
  natsServers: string[];
  /** The presence bucket, opened by the caller (one per NATS connection). */
  presence: KV;
  calls: DriverCalls;
  logger: Logger;
  heartbeatSeconds?: number;
  ttlSeconds?: number;
  /** The agent's certificate (mTLS, like a real agent); absent: insecure (warned). */
  tls?: TlsFiles;
}

export interface SimulatedAgent {
  description: AgentDescription;
  stop(): Promise<void>;
}

/** The agent config a simulated agent describes itself from (validated by the agent's own schema). */
export function simulatedConfig(o: Pick<SimulatedAgentOptions, 'site' | 'host' | 'natsServers' | 'heartbeatSeconds' | 'ttlSeconds' | 'tls'>): AgentConfig {
  return agentConfigSchema.parse({
    ...(o.tls ? { tls: o.tls } : { insecure: true }),
    site: o.site,
    host: o.host,
    grpc: { listen: '127.0.0.1:0' },
    nats: { servers: o.natsServers, ...(o.tls ? { seedFile: natsSeedOf(o.tls) } : {}) },
    presence: {
      ...(o.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: o.heartbeatSeconds }),
      ...(o.ttlSeconds === undefined ? {} : { ttlSeconds: o.ttlSeconds }),
    },
    components: [{ kind: 'uploads', name: 'uploads', paths: [`/sim/${o.site}/${o.host}/uploads`] }],
  });
}

/** Starts one simulated agent the way agent/app.ts starts a real one: gRPC first, then presence. */
export async function startSimulatedAgent(o: SimulatedAgentOptions): Promise<SimulatedAgent> {
  const config = simulatedConfig(o);
  const log = o.logger.child({ site: o.site, host: o.host });
  const drivers = config.components.map((c) => new SimulatedUploadsDriver(c.name, o.host, o.calls));
  const jobs = new AgentJobs({
    drivers,
    openRepository: (access) => new SimulatedRepository(access),
    services: NO_SERVICES,
    runCommand: () => Promise.reject(new IllegalStateError('simulated agent: runs no commands')),
    logger: log,
  });
  let description: AgentDescription | undefined;
  const grpc = await startAgentGrpcServer(config.grpc.listen, {
    inspectSync: () => Promise.reject(new IllegalStateError('simulated agent: holds no watch lists')),
    nativeSync: () => Promise.reject(new IllegalStateError('simulated agent: runs no findface-security')),
    migration: () => Promise.reject(new IllegalStateError('simulated agent: runs no FindFace services')),
    describe: () => {
      if (!description) throw new IllegalStateError('agent is starting');
      return description;
    },
    jobs: () => jobs,
  }, securityAtStart(config, { kind: 'agent', site: o.site, host: o.host }, log));
  try {
    description = buildDescription({ config, grpcAddress: advertisedAddress(config.grpc.listen, grpc.port, config.grpc.advertise), startedAt: new Date() });
    const heartbeat = new Heartbeat({
      publisher: new KvPresencePublisher(o.presence),
      description,
      intervalMs: config.presence.heartbeatSeconds * 1000,
      logger: log,
    });
    await heartbeat.start();
    const started = description;
    return {
      description: started,
      async stop() {
        await heartbeat.stop().catch((err: unknown) => log.warn({ err }, 'could not withdraw presence'));
        await grpc.stop();
      },
    };
  } catch (err) {
    await grpc.stop();
    throw err;
  }
}
