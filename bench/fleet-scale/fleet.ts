/**
 * The processes of the fleet-scale bench: a private nats-server, one real controller (dist/controller/
 * main.js, configured like test/harness/fleet.ts) and the simulated agents in a process of their own
 * (simulator.ts under tsx). `stop()` ends all three and removes the temp directory, whatever state they
 * are in; the pids and the directory are kept so a caller can check nothing was left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { TimeoutError, UnavailableError } from '../../shared/errors.js';
import { freePort } from '../../shared/net.js';
import { startNats } from '../../test/harness/nats.js';
import { BIN, REPO_ROOT, runProcess, stopChild, tempDir, type TestProcess } from '../../test/harness/processes.js';
import { NODE_FLAGS } from '../../deploy/node-flags.js';
import { READY_PREFIX, STATS_PREFIX, type SimulatorReady, type SimulatorSpec, type SimulatorStats } from './simulator.js';
import { controllerTls, ensureTestPki, operatorSecurity } from '../../test/harness/pki.js';

/** The simulator beside this module: the source under tsx, or its build when this module runs from dist/. */
const SIMULATOR = ((): string => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const ts = path.join(here, 'simulator.ts');
  return existsSync(ts) ? ts : path.join(here, 'simulator.js');
})();

export interface BenchFleet {
  controllerAddress: string;
  controllerPid: number;
  simulatorPid: number;
  natsPort: number;
  tempDir: string;
  ready: SimulatorReady;
  api: GrpcControllerApi;
  /** Stops everything; resolves with the simulator's last word (its driver-call counts), when it said one. */
  stop(): Promise<SimulatorStats | undefined>;
}

interface Simulator {
  child: ChildProcess;
  ready: Promise<SimulatorReady>;
  stats: Promise<SimulatorStats | undefined>;
  exited: Promise<unknown>;
  stderr(): string;
}

function spawnSimulator(spec: SimulatorSpec, readyTimeoutMs: number, cpuProfDir?: string): Simulator {
  const prof = cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [];
  // The simulated agents run the agent's code, so with the agent's node options.
  const child = spawn(process.execPath, [...NODE_FLAGS['ffkeeper-agent'] ?? [], ...prof, '--import', 'tsx', SIMULATOR, JSON.stringify(spec)], {
    cwd: REPO_ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, FFK_LOG_LEVEL: process.env.FFK_LOG_LEVEL ?? 'warn' },
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const exited = new Promise<unknown>((resolve) => child.once('exit', resolve));
  let buffered = '';
  let onReady: (r: SimulatorReady) => void = () => undefined;
  let onStats: (s: SimulatorStats) => void = () => undefined;
  child.stdout?.on('data', (d: Buffer) => {
    buffered += d.toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.startsWith(READY_PREFIX)) onReady(JSON.parse(line.slice(READY_PREFIX.length)) as SimulatorReady);
      if (line.startsWith(STATS_PREFIX)) onStats(JSON.parse(line.slice(STATS_PREFIX.length)) as SimulatorStats);
    }
  });
  const ready = new Promise<SimulatorReady>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TimeoutError(`the simulated agents were not ready within ${readyTimeoutMs} ms: ${stderr.trim().slice(-2000)}`)), readyTimeoutMs);
    onReady = (r) => {
      clearTimeout(timer);
      resolve(r);
    };
    void exited.then(() => {
      clearTimeout(timer);
      reject(new UnavailableError(`the simulated agents' process exited before it was ready: ${stderr.trim().slice(-2000)}`));
    });
  });
  ready.catch(() => undefined);
  const stats = new Promise<SimulatorStats | undefined>((resolve) => {
    onStats = resolve;
    void exited.then(() => resolve(undefined));
  });
  return { child, ready, stats, exited, stderr: () => stderr };
}

/** Polls until the controller lists `expected` agents online; returns how long it took. */
async function waitOnline(api: GrpcControllerApi, expected: number, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  let seen = 0;
  while (Date.now() - t0 < timeoutMs) {
    try {
      seen = (await api.listAgents()).filter((a) => a.status === 'online').length;
      if (seen === expected) return Date.now() - t0;
    } catch {
      // the controller is still starting
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new TimeoutError(`the controller listed ${seen} of ${expected} agents online after ${timeoutMs} ms`);
}

export interface FleetPlan {
  sites: { site: string; agents: number }[];
  /** Deadline of each listing call the bench makes. */
  callTimeoutMs?: number;
  /** Run the controller and the simulator under `node --cpu-prof` writing their profiles here (when they stop). */
  controllerCpuProfDir?: string;
}

/** Brings the fleet up and waits until the controller lists every simulated agent online. */
export async function startBenchFleet(plan: FleetPlan, log: (line: string) => void): Promise<BenchFleet & { onlineAfterMs: number }> {
  const nats = await startNats();
  const tmp = tempDir('ffk-bench-fleet-');
  let controller: TestProcess | undefined;
  let sim: Simulator | undefined;
  let api: GrpcControllerApi | undefined;
  let stopping: Promise<SimulatorStats | undefined> | undefined;
  const stopOnce = async (): Promise<SimulatorStats | undefined> => {
    api?.close();
    let stats: SimulatorStats | undefined;
    if (sim) {
      sim.child.stdin?.end();
      await stopChild(sim.child, sim.exited, 'SIGTERM', 15_000);
      stats = await sim.stats;
    }
    if (controller) {
      // SIGTERM first (a clean stop, and a --cpu-prof in NODE_OPTIONS gets written), SIGKILL after 10 s.
      const child = controller.child;
      const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', r));
      await stopChild(child, exited, 'SIGTERM', 10_000);
    }
    await nats.stop();
    tmp.cleanup();
    return stats;
  };
  const stop = (): Promise<SimulatorStats | undefined> => (stopping ??= stopOnce());
  try {
    await ensureTestPki(); // before the simulator starts: it inherits the PKI and issues its agents' certificates
    const controllerAddress = `127.0.0.1:${await freePort()}`;
    const config = tmp.write('controller.yaml', {
      grpc: { listen: controllerAddress },
      nats: nats.controller(),
      tls: controllerTls(),
      repositories: { root: path.join(tmp.dir, 'repos'), cacheDir: path.join(tmp.dir, 'cache'), secretsFile: path.join(tmp.dir, 'secrets.json') },
    });
    controller = runProcess(BIN.controller, ['--config', config], {}, plan.controllerCpuProfDir ? { cpuProfDir: plan.controllerCpuProfDir } : {});
    const total = plan.sites.reduce((n, s) => n + s.agents, 0);
    log(`starting ${total} simulated agents (${plan.sites.map((s) => `${s.site}: ${s.agents}`).join(', ')}) in their own process`);
    sim = spawnSimulator({ natsServers: [nats.url], natsRegistry: nats.registry, sites: plan.sites }, 120_000, plan.controllerCpuProfDir);
    const ready = await sim.ready;
    log(`simulated agents up in ${ready.startMs} ms`);
    api = new GrpcControllerApi(controllerAddress, plan.callTimeoutMs ?? 30_000, operatorSecurity());
    const onlineAfterMs = await waitOnline(api, total, 60_000);
    log(`the controller lists all ${total} agents online ${onlineAfterMs} ms after they were ready`);
    if (controller.child.pid === undefined || sim.child.pid === undefined) throw new UnavailableError('a bench process has no pid');
    return {
      controllerAddress,
      controllerPid: controller.child.pid,
      simulatorPid: sim.child.pid,
      natsPort: nats.port,
      tempDir: tmp.dir,
      ready,
      api,
      onlineAfterMs,
      stop,
    };
  } catch (err) {
    const logs = controller?.logs().trim().split('\n').slice(-5).join('\n');
    await stop();
    if (logs && err instanceof Error) err.message += `\ncontroller log tail:\n${logs}`;
    throw err;
  }
}
