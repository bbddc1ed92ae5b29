/**
 * The fleet-scale benchmark engine (issue 7, case 6): one real controller and N simulated agents (plus a
 * 1-agent site as the peer) in separate processes; measures the inventory listing latency over gRPC
 * (and through the CLI as an operator types it) and full snapshot rounds of the N-agent site against the
 * 1-agent site, interleaved. Everything it starts is stopped before it returns.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { GrpcControllerApi } from '../../controller/cli/api.js';
import { describeError, IllegalStateError } from '../../shared/errors.js';
import type { JobEvent } from '../../shared/jobs.js';
import { decodeManifest } from '../../shared/manifest-codec.js';
import { runCli } from '../../test/harness/processes.js';
import type { BenchEnv } from '../lib/case.js';
import { startBenchFleet, type BenchFleet } from './fleet.js';
import type { SimulatorStats } from './simulator.js';

export interface FleetBenchPlan {
  /** Agents of the measured site. */
  agents: number;
  /** Measured snapshots per site (N-agent and 1-agent). */
  runs: number;
  /** Snapshots per site taken first and not counted (repository set-up). */
  warmup: number;
  /** Measured calls per listing kind. */
  listCalls: number;
  /** Timed `ffkeeper agents list --json` runs (a whole CLI process each). */
  cliCalls: number;
  /** Profile the controller's CPU (`node --cpu-prof`) into this directory. */
  controllerCpuProfDir?: string;
}

/** The two sites: the measured one and the peer. */
export interface SiteSpec {
  label: string;
  site: string;
  agents: number;
}

/** One sealed snapshot, its phases as the controller timed them (its job events' clock). */
export interface RoundSample {
  snapshotId: string;
  /** First prepare call → all prepared (the 'prepare' to the 'freeze' step). */
  prepareMs: number;
  /** First freeze call → last thaw answer (manifest `freezeWindowMs`). */
  windowMs: number;
  /** prepare → freeze → cut → thaw across the site: the 'prepare' step to the 'thaw' step. */
  roundMs: number;
  /** Uploads (the 'upload' step to the 'seal' step). */
  uploadMs: number;
  /** Manifest to the restic repository and the catalog (the 'seal' step to the outcome). */
  sealMs: number;
  /** The whole job as the bench saw it (request sent → outcome received). */
  totalMs: number;
  /** CPU the controller and the simulator spent on this snapshot (user + system), NaN where unknown. */
  controllerCpuMs: number;
  simulatorCpuMs: number;
  /** 1-minute load average before the snapshot. */
  load: number;
}

export interface SiteRounds {
  spec: SiteSpec;
  samples: RoundSample[];
  warmupRoundMs: number[];
  failures: string[];
}

export interface ListingResult {
  /** `ListSites` (every site), ms per call. */
  sites: number[];
  /** `ListAgents` of the N-agent site, and of the 1-agent site (the peer). */
  agentsN: number[];
  agents1: number[];
  /** `ListAgents` of the whole fleet (N + 1 entries). */
  agentsAll: number[];
  /** `ffkeeper agents list --json`: a whole CLI process, wall time. */
  cli: number[];
  /** Calls whose answer was not the whole fleet online. */
  failures: string[];
}

export interface FleetBenchResult {
  plan: FleetBenchPlan;
  startedAt: Date;
  durationMs: number;
  aborted: boolean;
  sites: SiteRounds[];
  inventory: { simulatorStartMs: number; onlineAfterMs: number };
  listing: ListingResult;
  /** What the simulated drivers were asked, summed over every agent (from the simulator at its stop). */
  simulator: SimulatorStats | undefined;
  /** What was started, for checking that nothing was left behind. */
  cleanup: { tempDir: string; pids: number[]; natsPort: number };
}

const CLK_TCK = 100;

/** User + system CPU of a process so far, ms (NaN when /proc cannot tell). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return Number.NaN;
  }
}

/** The bench's two sites: `fleet-n<N>` (measured) and `fleet-n1` (the peer). */
export function sitesFor(agents: number): SiteSpec[] {
  return [
    { label: `${agents} agents`, site: `fleet-n${agents}`, agents },
    { label: '1 agent', site: 'fleet-n1', agents: 1 },
  ];
}

/** Runs the benchmark; resolves once every process and directory it made is gone. */
export async function runFleetBench(plan: FleetBenchPlan, env: BenchEnv): Promise<FleetBenchResult> {
  const startedAt = new Date();
  const specs = plan.agents === 1 ? sitesFor(1).slice(1) : sitesFor(plan.agents);
  const fleet = await startBenchFleet(
    { sites: specs.map((s) => ({ site: s.site, agents: s.agents })), ...(plan.controllerCpuProfDir ? { controllerCpuProfDir: plan.controllerCpuProfDir } : {}) },
    env.log,
  );
  const sites: SiteRounds[] = specs.map((spec) => ({ spec, samples: [], warmupRoundMs: [], failures: [] }));
  let listing: ListingResult = { sites: [], agentsN: [], agents1: [], agentsAll: [], cli: [], failures: [] };
  let aborted = false;
  let simulator: SimulatorStats | undefined;
  try {
    listing = await measureListing(fleet, specs, plan, env);
    aborted = await measureRounds(fleet, sites, plan, env);
  } finally {
    simulator = await fleet.stop();
  }
  return {
    plan,
    startedAt,
    durationMs: Date.now() - startedAt.getTime(),
    aborted: aborted || env.signal?.aborted === true,
    sites,
    inventory: { simulatorStartMs: fleet.ready.startMs, onlineAfterMs: fleet.onlineAfterMs },
    listing,
    simulator,
    cleanup: { tempDir: fleet.tempDir, pids: [fleet.controllerPid, fleet.simulatorPid], natsPort: fleet.natsPort },
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

/** Listing calls, interleaved by kind (3 warm-up rounds not counted); each answer must show the whole fleet online. */
async function measureListing(fleet: BenchFleet, specs: SiteSpec[], plan: FleetBenchPlan, env: BenchEnv): Promise<ListingResult> {
  const r: ListingResult = { sites: [], agentsN: [], agents1: [], agentsAll: [], cli: [], failures: [] };
  const total = specs.reduce((n, s) => n + s.agents, 0);
  const [big, one] = [specs[0] as SiteSpec, specs[specs.length - 1] as SiteSpec];
  const online = (xs: { status: string }[]): number => xs.filter((a) => a.status === 'online').length;
  const check = (what: string, got: number, want: number): void => {
    if (got !== want && r.failures.length < 20) r.failures.push(`${what}: ${got} online, expected ${want}`);
  };
  const api: GrpcControllerApi = fleet.api;
  for (let i = -3; i < plan.listCalls; i += 1) {
    if (env.signal?.aborted) break;
    const s = await timed(() => api.listSites());
    const n = await timed(() => api.listAgents(big.site));
    const o = await timed(() => api.listAgents(one.site));
    const a = await timed(() => api.listAgents());
    check('ListAgents(N)', online(n.value), big.agents);
    check('ListAgents(1)', online(o.value), one.agents);
    check('ListAgents()', online(a.value), total);
    check('ListSites', s.value.reduce((x, site) => x + site.agentsOnline, 0), total);
    if (i < 0) continue;
    r.sites.push(s.ms);
    r.agentsN.push(n.ms);
    r.agents1.push(o.ms);
    r.agentsAll.push(a.ms);
  }
  for (let i = 0; i < plan.cliCalls; i += 1) {
    if (env.signal?.aborted) break;
    const c = await timed(() => runCli(['agents', 'list', '--json', '--controller', fleet.controllerAddress]));
    if (c.value.code !== 0) {
      r.failures.push(`agents list exited ${c.value.code}: ${c.value.stderr.trim().slice(0, 300)}`);
      continue;
    }
    check('agents list --json', online(JSON.parse(c.value.stdout) as { status: string }[]), total);
    r.cli.push(c.ms);
  }
  env.log(`listing: ${r.agentsN.length} calls of each kind, ${r.cli.length} CLI runs, ${r.failures.length} wrong answers`);
  return r;
}

/** Warm-ups (every site), then the measured snapshots in ABBA order; returns true when stopped early. */
async function measureRounds(fleet: BenchFleet, sites: SiteRounds[], plan: FleetBenchPlan, env: BenchEnv): Promise<boolean> {
  for (let i = 0; i < plan.warmup; i += 1) {
    for (const s of sites) {
      if (env.signal?.aborted) return true;
      await measureOne(fleet, s, env, `warm-up ${i + 1}/${plan.warmup}`, true);
    }
  }
  for (let i = 0; i < plan.runs; i += 1) {
    for (const s of i % 2 === 0 ? sites : [...sites].reverse()) {
      if (env.signal?.aborted) return true;
      await measureOne(fleet, s, env, `run ${i + 1}/${plan.runs}`, false);
    }
  }
  return false;
}

/** The controller's time of the first event of each step, and of the outcome. */
function stepTimes(events: JobEvent[]): Map<string, number> {
  const at = new Map<string, number>();
  for (const e of events) {
    const key = e.outcome ? 'outcome' : e.step;
    if (!at.has(key)) at.set(key, e.time.getTime());
  }
  return at;
}

function between(at: Map<string, number>, from: string, to: string): number {
  const a = at.get(from);
  const b = at.get(to);
  return a === undefined || b === undefined ? Number.NaN : b - a;
}

async function measureOne(fleet: BenchFleet, s: SiteRounds, env: BenchEnv, label: string, warmup: boolean): Promise<void> {
  const events: JobEvent[] = [];
  const load = os.loadavg()[0] ?? Number.NaN;
  const cpu0 = [cpuMs(fleet.controllerPid), cpuMs(fleet.simulatorPid)];
  const t0 = performance.now();
  try {
    const outcome = await fleet.api.createSnapshot({ site: s.spec.site, reason: `bench: fleet scale (${label})` }, (e) => events.push(e));
    const totalMs = performance.now() - t0;
    const cpu = [cpuMs(fleet.controllerPid) - (cpu0[0] as number), cpuMs(fleet.simulatorPid) - (cpu0[1] as number)];
    const error = outcome.outcome?.error;
    if (error) throw new IllegalStateError(`${error.code}: ${error.message}`);
    const snapshotId = (await fleet.api.getJob(outcome.jobId)).detail.snapshotId;
    if (typeof snapshotId !== 'string') throw new IllegalStateError(`snapshot job ${outcome.jobId} completed without a snapshot id`);
    const { summary, manifestJson } = await fleet.api.getSnapshot(snapshotId, s.spec.site);
    const manifest = decodeManifest(manifestJson, `snapshot '${snapshotId}'`);
    if (manifest.agents.length !== s.spec.agents || manifest.components.length !== s.spec.agents) {
      throw new IllegalStateError(`snapshot ${snapshotId} holds ${manifest.agents.length} agents and ${manifest.components.length} components, expected ${s.spec.agents} of each`);
    }
    const at = stepTimes([...events, outcome]);
    const sample: RoundSample = {
      snapshotId,
      prepareMs: between(at, 'prepare', 'freeze'),
      windowMs: summary.freezeWindowMs,
      roundMs: between(at, 'prepare', 'thaw'),
      uploadMs: between(at, 'upload', 'seal'),
      sealMs: between(at, 'seal', 'outcome'),
      totalMs,
      controllerCpuMs: cpu[0] as number,
      simulatorCpuMs: cpu[1] as number,
      load,
    };
    if (warmup) s.warmupRoundMs.push(sample.roundMs);
    else s.samples.push(sample);
    env.log(
      `${s.spec.label} ${label}: prepare ${sample.prepareMs} ms, freeze window ${sample.windowMs} ms, round ${sample.roundMs} ms, ` +
        `upload ${sample.uploadMs} ms, seal ${sample.sealMs} ms, whole ${totalMs.toFixed(0)} ms; controller CPU ${sample.controllerCpuMs.toFixed(0)} ms`,
    );
  } catch (err) {
    if (env.signal?.aborted) {
      env.log(`${s.spec.label} ${label}: interrupted (${describeError(err)})`);
      return;
    }
    s.failures.push(`${label}: ${describeError(err)}`);
    env.log(`${s.spec.label} ${label}: snapshot FAILED (${describeError(err)})`);
  }
}
