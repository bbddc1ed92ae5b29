/**
 * The simulated fleet as its own process (so the controller's latency is real, not shared with the
 * simulation's event loop): `node --import tsx bench/fleet-scale/simulator.ts '<spec JSON>'` starts every
 * agent of the spec — each with its own NATS connection, presence heartbeat and gRPC server on a free
 * port — and prints one line `READY <json>` (the agents) on stdout. It stops on SIGTERM/SIGINT or when
 * its standard input closes (the bench died): every agent withdraws its presence and closes its server,
 * then it prints `STATS <json>` (the driver calls its agents received, by step) and exits.
 */
import { describeError, ValidationError } from '../../shared/errors.js';
import { isEntryPoint } from '../lib/entry.js';
import { createLogger } from '../../shared/logger.js';
import { connectNats, type NatsConnection } from '../../shared/transport/nats.js';
import { natsSeedOf, type TlsFiles } from '../../shared/security/tls-files.js';
import { issueNatsCredentialsMany } from '../../shared/security/nats-users.js';
import { openPresenceBucket } from '../../shared/transport/kv.js';
import { noCalls, simulatedConfig, startSimulatedAgent, type DriverCalls, type SimulatedAgent } from './sim-agent.js';
import { agentTls } from '../../test/harness/pki.js';

export interface SimulatorSpec {
  natsServers: string[];
  /** The NATS user registry of the bench's nats-server (its `registry`). */
  natsRegistry?: string;
  sites: { site: string; agents: number }[];
  heartbeatSeconds?: number;
  ttlSeconds?: number;
  /** Agents started at once (each opens a NATS connection and a gRPC server). */
  startBatch?: number;
}

export interface SimulatorReady {
  pid: number;
  startMs: number;
  agents: { site: string; host: string; grpcAddress: string }[];
}

export interface SimulatorStats {
  calls: DriverCalls;
  agents: number;
}

export const READY_PREFIX = 'READY ';
export const STATS_PREFIX = 'STATS ';

/** Host names of a simulated site: a001, a002, … (zero-padded to the count's width, at least 3). */
export function simulatedHosts(count: number): string[] {
  const width = Math.max(3, String(count).length);
  return Array.from({ length: count }, (_, i) => `a${String(i + 1).padStart(width, '0')}`);
}

export function parseSpec(json: string | undefined): SimulatorSpec {
  let spec: SimulatorSpec;
  try {
    spec = JSON.parse(json ?? '') as SimulatorSpec;
  } catch (err) {
    throw new ValidationError(`simulator: the spec argument is not JSON: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(spec.natsServers) || spec.natsServers.length === 0) throw new ValidationError('simulator: spec.natsServers is empty');
  if (!Array.isArray(spec.sites) || spec.sites.some((s) => !Number.isInteger(s.agents) || s.agents < 1)) {
    throw new ValidationError('simulator: spec.sites must list sites with agents ≥ 1');
  }
  for (const s of spec.sites) simulatedConfig({ site: s.site, host: 'a001', natsServers: spec.natsServers }); // validates the ids
  return spec;
}

interface Running {
  agent: SimulatedAgent;
  nc: NatsConnection;
}

/** Every agent's certificate and NATS key, before any connects (adding keys reloads the server, which disturbs clients meanwhile). */
async function issueAll(spec: SimulatorSpec, wanted: { site: string; host: string }[]): Promise<Map<string, TlsFiles>> {
  const out = new Map<string, TlsFiles>();
  await Promise.all(
    wanted.map(async ({ site, host }) => {
      out.set(`${site}/${host}`, await agentTls(site, host));
    }),
  );
  // The bench's nats-server keeps its own users (test/harness/nats.ts): the keys go there, all in one registration.
  if (spec.natsRegistry) {
    const registry = spec.natsRegistry;
    await issueNatsCredentialsMany(registry, wanted.map(({ site, host }) => ({ identity: { kind: 'agent' as const, site, host }, seedFile: natsSeedOf(out.get(`${site}/${host}`) as TlsFiles) })));
  }
  return out;
}

async function startOne(spec: SimulatorSpec, site: string, host: string, tls: TlsFiles, calls: DriverCalls, log: ReturnType<typeof createLogger>): Promise<Running> {
  const nc = await connectNats({ config: { servers: spec.natsServers, seedFile: natsSeedOf(tls) }, name: `ffkeeper-sim-agent ${site}/${host}`, identity: { kind: 'agent', site, host } });
  try {
    const ttlSeconds = spec.ttlSeconds ?? simulatedConfig({ site, host, natsServers: spec.natsServers }).presence.ttlSeconds;
    const presence = await openPresenceBucket(nc, ttlSeconds * 1000);
    const agent = await startSimulatedAgent({
      site,
      host,
      natsServers: spec.natsServers,
      presence,
      calls,
      logger: log,
      ...(spec.heartbeatSeconds === undefined ? {} : { heartbeatSeconds: spec.heartbeatSeconds }),
      ...(spec.ttlSeconds === undefined ? {} : { ttlSeconds: spec.ttlSeconds }),
      tls,
    });
    return { agent, nc };
  } catch (err) {
    await nc.close();
    throw err;
  }
}

async function stopAll(running: Running[]): Promise<void> {
  await Promise.allSettled(
    running.map(async (r) => {
      await r.agent.stop();
      await r.nc.drain().catch(() => r.nc.close());
    }),
  );
}

/** Runs the simulator until a stop signal; returns the exit code. */
export async function runSimulator(argv: string[], io: { out: (line: string) => void; stop: Promise<void> }): Promise<number> {
  const log = createLogger({ name: 'ffkeeper-sim', level: process.env.FFK_LOG_LEVEL ?? 'warn' });
  const spec = parseSpec(argv[0]);
  const calls = noCalls();
  const running: Running[] = [];
  const t0 = Date.now();
  const wanted = spec.sites.flatMap((s) => simulatedHosts(s.agents).map((host) => ({ site: s.site, host })));
  const batch = spec.startBatch ?? 20;
  try {
    const issued = await issueAll(spec, wanted);
    for (let i = 0; i < wanted.length; i += batch) {
      const started = await Promise.allSettled(wanted.slice(i, i + batch).map((w) => startOne(spec, w.site, w.host, issued.get(`${w.site}/${w.host}`) as TlsFiles, calls, log)));
      for (const r of started) if (r.status === 'fulfilled') running.push(r.value);
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    }
    const ready: SimulatorReady = {
      pid: process.pid,
      startMs: Date.now() - t0,
      agents: running.map((r) => ({ site: r.agent.description.site, host: r.agent.description.host, grpcAddress: r.agent.description.grpcAddress })),
    };
    io.out(`${READY_PREFIX}${JSON.stringify(ready)}`);
    await io.stop;
    return 0;
  } catch (err) {
    log.error({ err }, `simulator failed: ${describeError(err)}`);
    process.stderr.write(`simulator: ${describeError(err)}\n`);
    return 1;
  } finally {
    await stopAll(running);
    const stats: SimulatorStats = { calls, agents: running.length };
    io.out(`${STATS_PREFIX}${JSON.stringify(stats)}`);
  }
}

if (isEntryPoint(import.meta.url)) {
  const stop = new Promise<void>((resolve) => {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => resolve());
    process.stdin.on('end', () => resolve()); // the bench went away: do not outlive it
    process.stdin.on('error', () => resolve());
    process.stdin.resume();
  });
  const code = await runSimulator(process.argv.slice(2), { out: (line) => process.stdout.write(`${line}\n`), stop });
  // Open handles (a NATS reconnect timer, a gRPC socket in shutdown) must not keep a stopped simulator alive.
  process.exit(code);
}
