/**
 * The freeze-window benchmark engine (issue 5's "flat with data" bar, issue 7's case 5): a fleet of
 * real processes over dev sites of different sizes, snapshots taken in turn on each (interleaved, so
 * machine noise hits every size alike), the writer loading the site being measured, the site trimmed
 * back to its starting size between runs. Everything it starts is torn down before it returns.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { stopWriter, type SiteState } from '../../deploy/dev-site/index.js';
import { describeError, IllegalStateError } from '../../shared/errors.js';
import { uniqueSite } from '../../test/devsite/fixtures.js';
import { startFleet, type TestFleet } from '../../test/harness/fleet.js';
import type { BenchEnv } from '../lib/case.js';
import { takeQuietSample, takeSample, type Sample } from './sample.js';
import { measureDataSize, type DataSize } from './size.js';
import { SiteTrimmer, type SiteCounts } from './trim.js';
import { operatorSecurity } from '../../test/harness/pki.js';

/** One data size to measure: `label` for people ('1×'), the dev site's dossiers and events. */
export interface SizeSpec {
  label: string;
  /** Site-id tag: letters, digits, '-'. */
  tag: string;
  dossiers: number;
  events: number;
  /**
   * Measured on the site of the size with the same tag, with one extra CPU-bound process running for the
   * snapshot (a busy loop, as another service spinning on the host would): reported, not judged.
   */
  cpuBound?: boolean;
}

export interface BenchPlan {
  sizes: SizeSpec[];
  /** Measured snapshots per size. */
  runs: number;
  /** Snapshots per size taken first and not counted (repository set-up, cold caches). */
  warmup: number;
  /** Writer pace on the measured site, writes/s. */
  rate: number;
}

export interface SizeResult {
  spec: SizeSpec;
  site: string;
  database: string;
  before: DataSize;
  after: DataSize | undefined;
  samples: Sample[];
  warmupWindowsMs: number[];
  failures: string[];
  /** The machine's 1-minute load average before each measured run (noise from other work shows here). */
  loadAverages: number[];
  /** What the trimmer removed and re-added over the whole bench. */
  trimmed: { removed: SiteCounts; added: { dossiers: number; events: number } };
}

export interface FreezeBenchResult {
  plan: BenchPlan;
  startedAt: Date;
  durationMs: number;
  /** True when stopped early by the caller's signal. */
  aborted: boolean;
  /** Directory of the dev sites (removed before returning). */
  root: string;
  sizes: SizeResult[];
}

interface SiteRun {
  result: SizeResult;
  state: SiteState;
  trimmer: SiteTrimmer;
  baseline: SiteCounts;
}

/** Runs the benchmark; resolves once every site, process and directory it made is gone. */
export async function runFreezeWindowBench(plan: BenchPlan, env: BenchEnv): Promise<FreezeBenchResult> {
  const startedAt = new Date();
  const sites = new Map(plan.sizes.filter((spec) => !spec.cpuBound).map((spec) => [spec.tag, uniqueSite(spec.tag)]));
  const ids = plan.sizes.map((spec) => {
    const site = sites.get(spec.tag);
    if (!site) throw new IllegalStateError(`size '${spec.label}' runs with a CPU-bound process on the site of tag '${spec.tag}', and no size has it`);
    return { spec, site };
  });
  const own = ids.filter((s) => !s.spec.cpuBound);
  env.log(`bringing up ${own.map((s) => `${s.spec.label} (${s.spec.dossiers} dossiers, ${s.spec.events} events)`).join(' and ')} with a controller and agents`);
  const fleet = await startFleet(own.map((s) => ({ site: s.site, dossiers: s.spec.dossiers, events: s.spec.events, writerRate: plan.rate })));
  const api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
  const runs: SiteRun[] = [];
  let aborted = false;
  try {
    for (const s of ids) {
      const shared = runs.find((r) => r.result.site === s.site);
      runs.push(shared ? { ...shared, result: emptyResult(s, shared.state, shared.result.before) } : await openSite(fleet, s));
    }
    aborted = await measureAll({ plan, env, api, runs });
    for (const r of runs) r.result.after = await measureDataSize(r.state);
  } finally {
    api.close();
    await closeAll(runs, fleet);
  }
  return { plan, startedAt, durationMs: Date.now() - startedAt.getTime(), aborted, root: fleet.root, sizes: runs.map((r) => r.result) };
}

async function openSite(fleet: TestFleet, s: { spec: SizeSpec; site: string }): Promise<SiteRun> {
  const state = fleet.sites.get(s.site);
  if (!state) throw new IllegalStateError(`the fleet did not bring up dev site '${s.site}'`);
  const before = await measureDataSize(state);
  const trimmer = await SiteTrimmer.open(state);
  const baseline = await trimmer.counts().catch(async (err: unknown) => {
    await trimmer.close();
    throw err;
  });
  return { result: emptyResult(s, state, before), state, trimmer, baseline };
}

function emptyResult(s: { spec: SizeSpec; site: string }, state: SiteState, before: DataSize): SizeResult {
  return {
    spec: s.spec, site: s.site, database: state.postgres.database, before, after: undefined,
    samples: [], warmupWindowsMs: [], failures: [], loadAverages: [],
    trimmed: { removed: { dossiers: 0, faces: 0, events: 0 }, added: { dossiers: 0, events: 0 } },
  };
}

/** Warm-ups (all sizes at once, writer off), then the measured runs in ABBA order; returns true when aborted. */
async function measureAll(c: { plan: BenchPlan; env: BenchEnv; api: GrpcControllerApi; runs: SiteRun[] }): Promise<boolean> {
  for (let i = 0; i < c.plan.warmup; i += 1) {
    if (c.env.signal?.aborted) return true;
    const label = `warm-up ${i + 1}/${c.plan.warmup} (writer off)`;
    const once = c.runs.filter((run) => !run.result.spec.cpuBound);
    await Promise.all(once.map((run) => measureOne({ api: c.api, run, rate: undefined, log: c.env.log, label, signal: c.env.signal })));
  }
  for (let i = 0; i < c.plan.runs; i += 1) {
    const order = i % 2 === 0 ? c.runs : [...c.runs].reverse();
    for (const run of order) {
      if (c.env.signal?.aborted) return true;
      await measureOne({ api: c.api, run, rate: c.plan.rate, log: c.env.log, label: `run ${i + 1}/${c.plan.runs}`, signal: c.env.signal });
    }
  }
  return false;
}

interface OneRun {
  api: GrpcControllerApi;
  run: SiteRun;
  /** Writer pace; undefined for a warm-up (no writer, not counted). */
  rate: number | undefined;
  log: (l: string) => void;
  label: string;
  signal: AbortSignal | undefined;
}

/** One snapshot of one site, then the trim. A snapshot that failed because the bench was stopped is not a failure. */
async function measureOne(c: OneRun): Promise<void> {
  const { result, state, trimmer, baseline } = c.run;
  const t0 = Date.now();
  const load = os.loadavg()[0] ?? Number.NaN;
  const hog = result.spec.cpuBound ? startCpuBound() : undefined;
  const taking = c.rate === undefined ? takeQuietSample({ api: c.api, state }) : takeSample({ api: c.api, state, rate: c.rate });
  const sample = await taking.catch((err: unknown) => ({ kind: 'failed' as const, reason: describeError(err) })).finally(() => hog?.stop());
  const trim = await trimmer.trimTo(baseline);
  const t = result.trimmed;
  for (const k of ['dossiers', 'faces', 'events'] as const) t.removed[k] += trim.removed[k];
  t.added.dossiers += trim.added.dossiers;
  t.added.events += trim.added.events;
  const took = `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  if (sample.kind === 'failed' && c.signal?.aborted) {
    c.log(`${result.spec.label} ${c.label}: interrupted (${sample.reason})`);
    return;
  }
  if (sample.kind === 'failed') {
    result.failures.push(sample.reason);
    c.log(`${result.spec.label} ${c.label}: snapshot FAILED (${sample.reason}) [${took}]`);
    return;
  }
  if (c.rate === undefined) {
    result.warmupWindowsMs.push(sample.windowMs);
  } else {
    result.samples.push(sample);
    result.loadAverages.push(load);
  }
  const pace = Number.isFinite(sample.writerRate) ? `writer ${sample.writerRate.toFixed(0)} writes/s` : 'no writer';
  const removed = trim.removed;
  c.log(`${result.spec.label} ${c.label}: freeze window ${sample.windowMs} ms (${pace}); trimmed ${removed.events} events, ${removed.dossiers} dossiers, ${removed.faces} faces [${took}]`);
}

/** One process spinning on a CPU (a busy loop in another node) until stopped. */
function startCpuBound(): { stop(): Promise<void> } {
  const child = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    stop: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function closeAll(runs: SiteRun[], fleet: TestFleet): Promise<void> {
  for (const r of runs.filter((x) => !x.result.spec.cpuBound)) {
    await stopWriter(r.state).catch(() => undefined);
    await r.trimmer.close();
  }
  await fleet.stop();
}
