/**
 * A whole ffkeeper fleet on dev sites, as real processes: nats-server, one controller, and the agents
 * each dev site describes (its `agents/*.yaml`). For end-to-end tests.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { downSite, upSite, type SiteState, type UpOptions } from '../../deploy/dev-site/index.js';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import type { AgentEntry } from '../../shared/fleet.js';
import type { JobRecord } from '../../shared/jobs.js';
import { freePort } from '../../shared/net.js';
import type { RepositoryAccess } from '../../shared/repository/access.js';
import { resticFromAccess, type ResticRepository } from '../../shared/repository/restic.js';
import type { TestRepositoryServer } from './rest-server.js';
import { testRoot } from '../devsite/fixtures.js';
import { startNats, startNatsCluster, type TestNats } from './nats.js';
import { controllerTls, ensureTestPki, issueTestCertificate, operatorSecurity } from './pki.js';
import { BIN, logTailOf, runCli, runProcess, tempDir, waitFor, type CliResult, type TestProcess } from './processes.js';

export interface TestFleet {
  nats: TestNats;
  root: string;
  controllerAddress: string;
  /** The controller's Prometheus endpoint, `http://127.0.0.1:PORT/metrics`. */
  controllerMetricsUrl: string;
  controller: TestProcess;
  /** Where the controller keeps the sites' restic repositories and their generated passwords. */
  repositories: { root: string; secretsFile: string; cacheDir: string };
  /** How agents reach a site's repository (its local one, or the REST one of `FleetOptions.rest`). */
  repositoryAccess(site: string): RepositoryAccess;
  /** The site's repository as the controller opens it (a REST site: through the maintenance credentials). */
  openRepository(site: string): ResticRepository;
  /** The directory holding the site's repository files (local, or the REST server's). */
  repositoryDir(site: string): string;
  /** The site's secondary repository (`FleetOptions.secondary`). */
  openSecondary(site: string): ResticRepository;
  sites: Map<string, SiteState>;
  /** Agent processes by `site/host`. */
  agents: Map<string, TestProcess>;
  /** An agent's Prometheus endpoint (dev-site agents listen on a free port and log it), once it listens. */
  agentMetricsUrl(site: string, host: string): Promise<string>;
  cli(...args: string[]): Promise<CliResult>;
  /** `cli(...)` parsed as JSON; throws with stderr on a non-zero exit. */
  json<T>(...args: string[]): Promise<T>;
  startAgent(site: string, host: string): TestProcess;
  /**
   * Brings up another dev site in this fleet and starts its agents (the controller knows sites from their
   * agents: no config change); resolves once they are listed online.
   */
  addSite(site: Omit<UpOptions, 'root' | 'nats'>): Promise<SiteState>;
  /**
   * Starts another controller process of this fleet (id `controller-<n>`, its own certificate, NATS key
   * and ports; the same repositories and seal key); resolves once it lists every running agent online.
   */
  addController(): Promise<{ id: string; address: string; process: TestProcess; cli(...args: string[]): Promise<CliResult> }>;
  /** kill -9 the controller and start it again (with extra environment, e.g. fault injection); resolves once it lists every running agent online. */
  restartController(env?: NodeJS.ProcessEnv): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `fn` with a client of the controller's API at `address`, closed afterwards: poll loops ask the API
 * instead of starting a CLI process each time (~0.5 s of CPU each on a slow 2-core machine; a loop
 * polling every 100-500 ms costs more CPU than the test it waits for).
 */
async function withControllerApi<T>(address: string, fn: (api: GrpcControllerApi) => Promise<T>): Promise<T> {
  const api = new GrpcControllerApi(address, 5000, operatorSecurity());
  try {
    return await fn(api);
  } finally {
    api.close();
  }
}

/** The controller's agent list over its API; undefined while the controller does not answer. */
export function listAgents(address: string): Promise<AgentEntry[] | undefined> {
  return withControllerApi(address, (api) => api.listAgents()).catch(() => undefined);
}

/** A site's jobs over the controller's API, as `ffkeeper jobs list --json` prints them (times as ISO strings); throws while the controller does not answer. */
export function listJobs(address: string, site: string): Promise<Array<Omit<JobRecord, 'createdAt' | 'updatedAt'> & { createdAt: string; updatedAt: string }>> {
  return withControllerApi(address, async (api) => (await api.listJobs({ site })).map((j) => ({ ...j, createdAt: j.createdAt.toISOString(), updatedAt: j.updatedAt.toISOString() })));
}

/** Waits until the controller at `address` lists the agents `keys` (`site/host`) online. */
export async function waitAgentsOnline(address: string, keys: readonly string[], timeoutMs: number): Promise<void> {
  let listed: string[] = [];
  await waitFor(async () => {
    listed = ((await listAgents(address)) ?? []).filter((a) => a.status === 'online').map((a) => `${a.description.site}/${a.description.host}`);
    return keys.every((key) => listed.includes(key)) ? true : undefined;
  }, timeoutMs, 250).catch((err: unknown) => {
    const missing = keys.filter((key) => !listed.includes(key));
    throw new Error(`agents not online at ${address} within ${timeoutMs / 1000} s: ${missing.join(', ')} (${String(err)})`);
  });
}

/**
 * The settings of a test controller: gRPC and metrics on `grpc`/`metrics`, on `nats` (keeping its users'
 * registry) with the test CA's controller identity, site repositories under `dir` (`repos/<site>`, the
 * generated passwords in `secrets.json`, restic's cache in `cache`) unless `sites` configures them.
 */
export function controllerSettings(o: { grpc: string; metrics: string; nats: TestNats; dir: string; sites?: Record<string, unknown>; replicas?: number | undefined }): Record<string, unknown> {
  return {
    grpc: { listen: o.grpc },
    metrics: { listen: o.metrics },
    nats: { ...o.nats.controller(), ...(o.replicas ? { replicas: o.replicas } : {}) },
    // The controller keeps the sync read grants of this fleet's nats-server (its own registry).
    natsRegistry: o.nats.registry,
    tls: controllerTls(),
    repositories: { root: path.join(o.dir, 'repos'), cacheDir: path.join(o.dir, 'cache'), secretsFile: path.join(o.dir, 'secrets.json'), sites: o.sites ?? {} },
  };
}

/** How long a fleet's agents get to come online after their start. */
const AGENTS_ONLINE_MS = 90_000;

/**
 * Writes/s of a dev site's findface-security unit in tests (the dev site's own default is 50): the writer a
 * restore starts runs until the file ends, at ~3.5 s of CPU a minute at 10/s, ~1.2 s at 2/s (tests that
 * want load start their own writer at the rate they need).
 */
const TEST_WRITER_RATE = 2;
/**
 * Test sites' images are a fifth of FindFace's sizes: the same files and tree (what the drivers, the shield
 * and the checker work on), a fifth of the bytes to encrypt, compress and move (the benches use full size).
 */
const TEST_IMAGE_SCALE = 0.2;

export interface FleetOptions {
  /** Controller config fields merged over the harness's (e.g. `{ agents: { deadlines: { unitControlMs: 30000 } } }`). */
  controller?: Record<string, unknown>;
  /**
   * Sites whose repository is on a storage server: REST (test/harness/rest-server.ts: append-only agents, a
   * maintenance controller) or SFTP (sftp-server.ts).
   */
  remote?: { server: TestRepositoryServer; sites: string[] };
  /** Sites with a secondary repository (`snapshot copy`): a local one at `<fleet tmp>/secondary/<site>`. */
  secondary?: string[];
  /**
   * A cluster of this many nats-servers instead of one: the configs list every node, and the controller
   * and agents create their streams and buckets with as many replicas (at most 3).
   */
  natsCluster?: number;
}

/** The password of a test site's secondary repository (given in the config, unlike the primary's). */
const secondaryPassword = (site: string): string => `secondary password of ${site}`;

export async function startFleet(sites: Omit<UpOptions, 'root' | 'nats'>[], options: FleetOptions = {}): Promise<TestFleet> {
  const pki = await ensureTestPki();
  const nats = options.natsCluster ? await startNatsCluster(options.natsCluster) : await startNats();
  const replicas = options.natsCluster ? Math.min(3, options.natsCluster) : undefined;
  const root = testRoot();
  const tmp = tempDir('ffk-fleet-');
  const remote = options.remote?.server;
  const isRemote = (site: string): boolean => remote !== undefined && (options.remote?.sites.includes(site) ?? false);
  const controllerAddress = `127.0.0.1:${await freePort()}`;
  const controllerMetrics = `127.0.0.1:${await freePort()}`;
  const settings = {
    ...controllerSettings({
      grpc: controllerAddress,
      metrics: controllerMetrics,
      nats,
      dir: tmp.dir,
      replicas,
      sites: Object.fromEntries(
        [...new Set([...(options.remote?.sites ?? []), ...(options.secondary ?? [])])].map((site) => [
          site,
          {
            ...(isRemote(site) ? remote!.siteConfig(site) : { url: path.join(tmp.dir, 'repos', site) }),
            ...(options.secondary?.includes(site) ? { secondary: { url: path.join(tmp.dir, 'secondary', site), password: secondaryPassword(site) } } : {}),
          },
        ]),
      ),
    }),
    ...options.controller,
  };
  const controllerConfig = tmp.write('controller.yaml', settings);
  const extraControllers: TestProcess[] = [];
  // Answering is not enough: a controller knows an agent from its next heartbeat. Wait until every
  // agent process still running is listed online (a request before that finds no agents).
  const allOnline = (address: string): Promise<void> =>
    waitAgentsOnline(address, [...agents.entries()].filter(([, a]) => a.running()).map(([key]) => key), 30_000);
  const states = new Map<string, SiteState>();
  const agents = new Map<string, TestProcess>();
  let controller = runProcess(BIN.controller, ['--config', controllerConfig]);
  const upWithAgents = async (s: Omit<UpOptions, 'root' | 'nats'>): Promise<SiteState> => {
    // A restore starts the site's findface-security, which is the dev site's writer: at a low default pace
    // so that it does not load the machine for the rest of the file (tests that want load start their own).
    // A database name of this run's own: the machine's PostgreSQL is shared, and a run that was killed
    // leaves its databases behind (a fixed name would make the next run's upSite refuse the site).
    const database = s.database ?? `ffsecurity_${s.site.replace(/-/g, '_')}_${randomBytes(3).toString('hex')}`;
    const { state } = await upSite({ writerRate: TEST_WRITER_RATE, imageScale: TEST_IMAGE_SCALE, ...s, database, root, nats: nats.urls, pkiDir: pki, natsRegistry: nats.registry });
    states.set(s.site, state);
    for (const file of readdirSync(path.join(state.siteDir, 'agents')).filter((f) => f.endsWith('.yaml'))) {
      fleet.startAgent(s.site, file.replace(/\.yaml$/, ''));
    }
    return state;
  };
  /** Waits until the agents of `sites` are listed online. Generous: agents start while other test files load the machine. */
  const agentsOnline = async (sites: readonly string[]): Promise<void> => {
    // A controller that ended will list no one: said at once, not after the whole wait.
    const c = controller;
    const ended = c.exited.then((code) => {
      throw new Error(`the controller ended (${code ?? c.child.signalCode}) while its agents were coming online`);
    });
    ended.catch(() => undefined);
    await Promise.race([waitAgentsOnline(controllerAddress, [...agents.keys()].filter((key) => sites.some((site) => key.startsWith(`${site}/`))), AGENTS_ONLINE_MS), ended]);
  };
  const fleet: TestFleet = {
    nats,
    root,
    controllerAddress,
    controllerMetricsUrl: `http://${controllerMetrics}/metrics`,
    get controller() {
      return controller;
    },
    repositories: { root: path.join(tmp.dir, 'repos'), secretsFile: path.join(tmp.dir, 'secrets.json'), cacheDir: path.join(tmp.dir, 'cache') },
    repositoryAccess(site) {
      if (remote && isRemote(site)) return remote.agentAccess(site);
      const secrets = JSON.parse(readFileSync(path.join(tmp.dir, 'secrets.json'), 'utf8')) as Record<string, string>;
      return { url: path.join(tmp.dir, 'repos', site), password: secrets[site] ?? '', env: {} };
    },
    openRepository(site) {
      const access = remote && isRemote(site) ? remote.controllerAccess(site) : this.repositoryAccess(site);
      return resticFromAccess(access, { cacheDir: path.join(tmp.dir, 'cache') });
    },
    repositoryDir(site) {
      return remote && isRemote(site) ? remote.dirOf(site) : path.join(tmp.dir, 'repos', site);
    },
    openSecondary(site) {
      if (!options.secondary?.includes(site)) throw new Error(`site ${site} has no secondary repository in this fleet`);
      return resticFromAccess({ url: path.join(tmp.dir, 'secondary', site), password: secondaryPassword(site), env: {} }, { cacheDir: path.join(tmp.dir, 'cache') });
    },
    sites: states,
    agents,
    async agentMetricsUrl(site, host) {
      const p = agents.get(`${site}/${host}`);
      if (!p) throw new Error(`no agent ${site}/${host}`);
      const { value } = await waitFor(async () => /metrics listening on (http:\/\/[^\s"]+)/.exec(p.logs())?.[1], 15_000);
      return value;
    },
    cli: (...args) => runCli([...args, '--controller', controllerAddress]),
    async json<T>(...args: string[]) {
      const r = await runCli([...args, '--json', '--controller', controllerAddress]);
      if (r.code !== 0) throw new Error(`ffkeeper ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    startAgent(site, host) {
      const state = states.get(site);
      if (!state) throw new Error(`no dev site ${site}`);
      const p = runProcess(BIN.agent, ['--config', path.join(state.siteDir, 'agents', `${host}.yaml`)], replicas ? { FFK_AGENT_NATS__REPLICAS: String(replicas) } : {});
      agents.set(`${site}/${host}`, p);
      return p;
    },
    async addSite(site) {
      const state = await upWithAgents(site);
      await agentsOnline([site.site]);
      return state;
    },
    async addController() {
      const id = `controller-${extraControllers.length + 2}`;
      const tls = await issueTestCertificate({ kind: 'controller', id });
      const address = `127.0.0.1:${await freePort()}`;
      const config = tmp.write(`${id}.yaml`, { ...settings, id, tls, nats: await nats.client(tls), grpc: { listen: address }, metrics: { listen: `127.0.0.1:${await freePort()}` } });
      const p = runProcess(BIN.controller, ['--config', config]);
      extraControllers.push(p);
      await allOnline(address);
      return { id, address, process: p, cli: (...args: string[]) => runCli([...args, '--controller', address]) };
    },
    async restartController(env = {}) {
      await controller.kill();
      controller = runProcess(BIN.controller, ['--config', controllerConfig], env);
      await allOnline(controllerAddress);
    },
    async stop() {
      // Profiled processes (FFK_CPU_PROF_DIR) write their profile when they exit on their own.
      const end = (p: TestProcess): Promise<unknown> => (process.env.FFK_CPU_PROF_DIR ? p.stop() : p.kill());
      await Promise.all([...agents.values()].map(end));
      await end(controller);
      await Promise.all(extraControllers.map(end));
      for (const site of states.keys()) await downSite(site, root).catch(() => undefined);
      await nats.stop();
      tmp.cleanup();
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    for (const s of sites) await upWithAgents(s);
    await agentsOnline(sites.map((s) => s.site));
  } catch (err) {
    // What the processes said is the only trace of why (the fleet's files go with stop()).
    const tails = [...[...agents.entries()].map(([key, p]) => logTailOf(`agent ${key}`, p)), logTailOf('controller', controller)];
    const natsTail = nats.nodes.length > 0 ? nats.logTail() : `--- nats-server:\n${nats.logTail()}`;
    await fleet.stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${[...tails, natsTail].join('\n')}`, { cause: err });
  }
  return fleet;
}
