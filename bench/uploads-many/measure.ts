/**
 * The `uploads-many` engine (issue 14): a million small files in FindFace's layout (tree.ts), backed up by
 * a real agent process and by `restic backup` alone, side by side on the same growing tree:
 *
 * - start: the agent starts and its deletion shield links every file (timed: what an agent start costs on
 *   such a site, before any snapshot);
 * - full: restic alone, then ffkeeper — `ffkeeper snapshot create --site bench --wait` to a real controller
 *   process, which drives the agent (Prepare → … → Upload) and seals the manifest, timed as the operator
 *   waits for the command — each into its own fresh repository;
 * - incrementals: `incrementals` times, +`addPerMille`‰ new files (new events), then ffkeeper's snapshot
 *   (the controller sends the parent from its catalog) and restic's, in alternating order — so each
 *   repository ends with 1 + `incrementals` snapshots (the agent's also with as many manifests);
 * - the repositories after that: `restic snapshots` on the agent's repository (and restic's, the peer),
 *   the size of each of its snapshot records (`restic cat snapshot`), and `ffkeeper snapshot list`;
 * - restore: the agent's last snapshot through its Restore call into an empty directory, against
 *   `restic restore latest`; every restored tree is counted against the live one;
 * - the agent's memory: its resident set after each phase and its peak (`VmHWM`).
 *
 * Everything lives in one `ffk-bench-many-*` directory, removed (agent and NATS stopped) before returning.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { IllegalStateError } from '../../shared/errors.js';
import type { ComponentArtifact } from '../../shared/manifest.js';
import { decodeManifest } from '../../shared/manifest-codec.js';
import { freePort } from '../../shared/net.js';
import { controllerSettings, waitAgentsOnline } from '../../test/harness/fleet.js';
import { startNats, type TestNats } from '../../test/harness/nats.js';
import { ensureTestPki } from '../../test/harness/pki.js';
import { BIN, runCli, runProcess, type CliResult, type TestProcess } from '../../test/harness/processes.js';
import type { BenchEnv } from '../lib/case.js';
import { accessTo, BenchAgent, resticRuns, type ResticRun } from '../throughput/agent.js';
import { BENCH_PASSWORD, ResticCli } from '../throughput/commands.js';
import { measureTree } from '../throughput/tree.js';
import { newSeries, record, timeInto, type Series } from '../throughput/series.js';
import { agentConfig, BENCH_AGENT } from '../uploads/measure.js';
import { writeEvents, type ManyRoots, type ManyTreeSize } from './tree.js';

export interface ManyPlan {
  /** Events written before the first snapshot; two files each. */
  events: number;
  /** New files before each incremental, per mille of the files there (1 = +0.1%). */
  addPerMille: number;
  /** Incremental snapshots after the full one (each repository ends with 1 + this many). */
  incrementals: number;
}

/** The agent's memory at a point of the run. */
export interface RssPoint {
  phase: string;
  rssBytes: number;
}

export interface ManyResult {
  plan: ManyPlan;
  startedAt: Date;
  durationMs: number;
  aborted: boolean;
  /** The bench's work directory (removed before returning). */
  workDir: string;
  agentPid: number | undefined;
  data: ManyTreeSize;
  generateMs: number;
  /** The agent's start: process start → its shield seeded (the warm-up prepare answered). */
  agentStartMs: number;
  full: { agent: Series; restic: Series };
  incremental: { agent: Series; restic: Series };
  /** The restic runs of each ffkeeper snapshot (full first): the agent's, then the controller's (`controller …`). */
  agentRestic: ResticRun[][];
  /**
   * The agent's walk of the trees as of the cut in each ffkeeper snapshot (its debug log's `upload walk
   * done`), ms: inside the agent's restic run, which it opened at prepare and lets read only after the walk.
   */
  agentWalkMs: number[];
  /** Each ffkeeper snapshot's freeze window (its manifest's), ms. */
  freezeWindowsMs: number[];
  /** `restic snapshots` on each repository after the last snapshot: wall time of each try, ms. */
  listing: { agent: number[]; restic: number[] };
  /** `ffkeeper snapshot list --site bench` after the last snapshot: wall time of each try, ms, and the snapshots it listed. */
  catalogListing: { ms: number[]; listed: number[] };
  /** Bytes of each snapshot record (`restic cat snapshot ID`) of the agent's repository, and of restic's. */
  recordBytes: { agent: number[]; restic: number[] };
  restore: { agent: Series; restic: Series };
  agentRestoreSteps: Array<{ step: string; ms: number }>;
  rss: RssPoint[];
  /** The agent's peak resident set over its life (`VmHWM`), read before it stops. */
  peakRssBytes: number;
  /** Files the tree held at the end (before the restores). */
  finalTree: { files: number; bytes: number };
  loadAverages: number[];
  problems: string[];
}

const COMPONENT = 'uploads:uploads';
const { site: SITE, host: HOST } = BENCH_AGENT;
const LISTINGS = 3;

/** A process's resident set (`VmRSS`) or peak (`VmHWM`) in bytes; 0 when it cannot be read. */
export async function procMemory(pid: number | undefined, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  if (pid === undefined) return 0;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1];
  return kb ? Number(kb) * 1024 : 0;
}

/** The controller process the snapshots go through, and its gRPC address. */
interface BenchController {
  process: TestProcess;
  address: string;
}

interface Ctx {
  plan: ManyPlan;
  env: BenchEnv;
  work: string;
  roots: ManyRoots;
  agent: BenchAgent;
  controller: BenchController;
  agentRepo: ResticCli;
  resticRepo: ResticCli;
  result: ManyResult;
  /** Next event id to write. */
  nextEvent: number;
  lastArtifacts?: ComponentArtifact[];
}

const secs = (ms: number | undefined): string => `${((ms ?? Number.NaN) / 1000).toFixed(1)} s`;

export async function runManyBench(plan: ManyPlan, env: BenchEnv): Promise<ManyResult> {
  const startedAt = new Date();
  const work = await mkdtemp(path.join(os.tmpdir(), 'ffk-bench-many-'));
  const roots: ManyRoots = { uploads: path.join(work, 'data', 'uploads'), ffupload: path.join(work, 'data', 'ffupload') };
  const result: ManyResult = {
    plan, startedAt, durationMs: 0, aborted: false, workDir: work, agentPid: undefined, data: { files: 0, bytes: 0, dirs: 0 }, generateMs: 0, agentStartMs: 0,
    full: { agent: newSeries('agent', 'ffkeeper snapshot create'), restic: newSeries('restic', 'restic backup') },
    incremental: { agent: newSeries('agent-incr', 'ffkeeper snapshot create'), restic: newSeries('restic-incr', 'restic backup') },
    agentRestic: [], agentWalkMs: [], freezeWindowsMs: [], listing: { agent: [], restic: [] }, catalogListing: { ms: [], listed: [] }, recordBytes: { agent: [], restic: [] },
    restore: { agent: newSeries('agent-restore', 'ffkeeper agent'), restic: newSeries('restic-restore', 'restic restore') },
    agentRestoreSteps: [], rss: [], peakRssBytes: 0, finalTree: { files: 0, bytes: 0 }, loadAverages: [], problems: [],
  };
  let nats: TestNats | undefined;
  let agent: BenchAgent | undefined;
  let controller: BenchController | undefined;
  try {
    const cacheDir = path.join(work, 'cache', 'restic');
    await mkdir(cacheDir, { recursive: true });
    await mkdir(roots.uploads, { recursive: true });
    await mkdir(roots.ffupload, { recursive: true });
    const t0 = performance.now();
    result.data = await writeEvents(roots, 0, plan.events, env.signal);
    result.generateMs = performance.now() - t0;
    env.log(`generated ${result.data.files.toLocaleString('en-US')} files, ${(result.data.bytes / 1e6).toFixed(0)} MB in ${result.data.dirs} directories in ${secs(result.generateMs)}`);
    const agentRepo = await ResticCli.fresh(path.join(work, 'repos'), cacheDir, 'agent');
    const resticRepo = await ResticCli.fresh(path.join(work, 'repos'), cacheDir, 'restic');
    nats = await startNats();
    await ensureTestPki();
    const identity = await nats.agent(SITE, HOST);
    const configFile = path.join(work, 'agent.yaml');
    await writeFile(configFile, stringify(agentConfig({ nats: identity.nats, work, paths: [roots.uploads, roots.ffupload], tls: identity.tls })));
    const s0 = performance.now();
    agent = await BenchAgent.start(configFile, SITE);
    result.agentPid = agent.pid;
    await agent.warm([COMPONENT], accessTo(agentRepo.url, BENCH_PASSWORD));
    result.agentStartMs = performance.now() - s0;
    controller = await startController(work, nats, agentRepo.url);
    const ctx: Ctx = { plan, env, work, roots, agent, controller, agentRepo, resticRepo, result, nextEvent: plan.events };
    await rssAt(ctx, 'started (shield seeded)');
    env.log(`agent started, shield seeded in ${secs(result.agentStartMs)}; RSS ${mb(result.rss.at(-1)?.rssBytes ?? 0)}`);
    result.aborted = (await snapshots(ctx)) || (await afterwards(ctx));
    result.peakRssBytes = await procMemory(agent.pid, 'VmHWM');
  } finally {
    await controller?.process.kill();
    await agent?.stop();
    await nats?.stop();
    await rm(work, { recursive: true, force: true });
  }
  result.durationMs = Date.now() - startedAt.getTime();
  return result;
}

const mb = (n: number): string => `${(n / 1e6).toFixed(0)} MB`;

async function rssAt(ctx: Ctx, phase: string): Promise<void> {
  ctx.result.rss.push({ phase, rssBytes: await procMemory(ctx.agent.pid, 'VmRSS') });
}

const excludesOf = (roots: ManyRoots): string[] => [path.join(roots.uploads, '.ffk-*'), path.join(roots.ffupload, '.ffk-*')];

async function resticSnapshot(ctx: Ctx, series: Series, bytes: number): Promise<void> {
  await timeInto(series, bytes, () => ctx.resticRepo.backup([ctx.roots.uploads, ctx.roots.ffupload], excludesOf(ctx.roots)));
}

/**
 * A controller process on the bench's NATS, the site's repository being the agent's (its password given in
 * the config); resolves once it lists the agent online. Debug log: its restic runs are timed from it.
 */
async function startController(work: string, nats: TestNats, repositoryUrl: string): Promise<BenchController> {
  const address = `127.0.0.1:${await freePort()}`;
  const sites = { [SITE]: { url: repositoryUrl, password: BENCH_PASSWORD } };
  const config = controllerSettings({ grpc: address, metrics: `127.0.0.1:${await freePort()}`, nats, dir: path.join(work, 'controller'), sites });
  const file = path.join(work, 'controller.yaml');
  await writeFile(file, stringify(config));
  const proc = runProcess(BIN.controller, ['--config', file], { FFK_CONTROLLER_LOG__LEVEL: 'debug' });
  try {
    await waitAgentsOnline(address, [`${SITE}/${HOST}`], 60_000);
  } catch (err) {
    await proc.kill();
    throw new IllegalStateError(`the bench controller: ${String(err)}; its log: ${proc.logs().slice(-2000)}; the nats-server's log: ${nats.logTail()}`);
  }
  return { process: proc, address };
}

/** The `walkMs` of the upload walk in a slice of the agent's debug log; NaN when it logged none. */
function walkMs(log: string): number {
  const line = log.split('\n').find((l) => l.includes('"msg":"upload walk done"'));
  const ms = line ? (JSON.parse(line) as { walkMs?: unknown }).walkMs : undefined;
  return typeof ms === 'number' ? ms : Number.NaN;
}

/** `ffkeeper ARGS --controller <the bench's>`; a non-zero exit throws with its stderr. */
async function ffkeeper(ctx: Ctx, ...args: string[]): Promise<CliResult> {
  const r = await runCli([...args, '--controller', ctx.controller.address]);
  if (r.code !== 0) throw new IllegalStateError(`ffkeeper ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r;
}

/**
 * One snapshot as an operator takes it: `ffkeeper snapshot create --wait`, timed to the command's end;
 * its manifest (`snapshot show`) gives the freeze window and the artifact, the processes' debug logs
 * the restic runs.
 */
async function ffkeeperSnapshot(ctx: Ctx, series: Series, bytes: number, expectFiles: number | undefined): Promise<void> {
  const { result } = ctx;
  const marks = { agent: ctx.agent.logs().length, controller: ctx.controller.process.logs().length };
  const t0 = performance.now();
  const created = await ffkeeper(ctx, 'snapshot', 'create', '--site', SITE, '--wait', '--json');
  const ms = performance.now() - t0;
  const id = (JSON.parse(created.stdout) as { snapshot: { id: string } | null }).snapshot?.id;
  if (!id) throw new IllegalStateError(`ffkeeper snapshot create named no sealed snapshot: ${created.stdout.trim()}`);
  const manifest = decodeManifest((await ffkeeper(ctx, 'snapshot', 'show', id, '--site', SITE, '--json')).stdout, `ffkeeper snapshot show ${id}`);
  record(series, ms, bytes);
  const controllerRuns = resticRuns(ctx.controller.process.logs().slice(marks.controller)).map((r) => ({ ...r, operation: `controller ${r.operation}` }));
  const agentLog = ctx.agent.logs().slice(marks.agent);
  result.agentRestic.push([...resticRuns(agentLog), ...controllerRuns]);
  result.agentWalkMs.push(walkMs(agentLog));
  result.freezeWindowsMs.push(manifest.freezeWindowMs);
  ctx.lastArtifacts = manifest.components.map(({ host: _host, ...artifact }) => artifact);
  const a = ctx.lastArtifacts[0];
  if (expectFiles !== undefined && a?.files !== expectFiles) result.problems.push(`snapshot ${result.agentRestic.length}: ${a?.files ?? 0} files, expected ${expectFiles}`);
}

async function snapshots(ctx: Ctx): Promise<boolean> {
  const { result, plan, env } = ctx;
  result.loadAverages.push(os.loadavg()[0] ?? Number.NaN);
  await resticSnapshot(ctx, result.full.restic, result.data.bytes);
  env.log(`restic backup (full): ${secs(result.full.restic.ms.at(-1))}`);
  if (env.signal?.aborted) return true;
  result.loadAverages.push(os.loadavg()[0] ?? Number.NaN);
  await ffkeeperSnapshot(ctx, result.full.agent, result.data.bytes, result.data.files);
  await rssAt(ctx, 'after the full snapshot');
  env.log(`agent full snapshot: ${secs(result.full.agent.ms.at(-1))}; RSS ${mb(result.rss.at(-1)?.rssBytes ?? 0)}`);
  let files = result.data.files;
  for (let k = 0; k < plan.incrementals; k += 1) {
    if (env.signal?.aborted) return true;
    const events = Math.max(1, Math.round((files * plan.addPerMille) / 1000 / 2));
    const added = await writeEvents(ctx.roots, ctx.nextEvent, events);
    ctx.nextEvent += events;
    files += added.files;
    result.loadAverages.push(os.loadavg()[0] ?? Number.NaN);
    const agentFirst = k % 2 === 0;
    if (agentFirst) await ffkeeperSnapshot(ctx, result.incremental.agent, added.bytes, files);
    await resticSnapshot(ctx, result.incremental.restic, added.bytes);
    if (!agentFirst) await ffkeeperSnapshot(ctx, result.incremental.agent, added.bytes, files);
    env.log(`+${added.files} files (${k + 1}/${plan.incrementals}): agent ${secs(result.incremental.agent.ms.at(-1))}, restic ${secs(result.incremental.restic.ms.at(-1))}`);
  }
  await rssAt(ctx, 'after the incrementals');
  return false;
}

async function snapshotIds(repo: ResticCli): Promise<string[]> {
  const out = await repo.json(['snapshots']);
  return (out as Array<{ id: string }>).map((s) => s.id);
}

async function afterwards(ctx: Ctx): Promise<boolean> {
  const { result, env } = ctx;
  for (let i = 0; i < LISTINGS; i += 1) {
    for (const [name, repo] of [['agent', ctx.agentRepo], ['restic', ctx.resticRepo]] as const) {
      const t0 = performance.now();
      await repo.plain(['snapshots']);
      result.listing[name].push(performance.now() - t0);
    }
  }
  for (const [name, repo] of [['agent', ctx.agentRepo], ['restic', ctx.resticRepo]] as const) {
    for (const id of await snapshotIds(repo)) result.recordBytes[name].push(Buffer.byteLength(await repo.plain(['cat', 'snapshot', id])));
  }
  env.log(`restic snapshots: agent's repository ${result.listing.agent.map((ms) => secs(ms)).join(', ')}; largest record ${Math.max(...result.recordBytes.agent)} bytes`);
  for (let i = 0; i < LISTINGS; i += 1) {
    const t0 = performance.now();
    const listed = await ffkeeper(ctx, 'snapshot', 'list', '--site', SITE, '--json');
    result.catalogListing.ms.push(performance.now() - t0);
    result.catalogListing.listed.push((JSON.parse(listed.stdout) as unknown[]).length);
  }
  env.log(`ffkeeper snapshot list: ${result.catalogListing.ms.map((ms) => secs(ms)).join(', ')} (${result.catalogListing.listed.join(', ')} snapshots)`);
  const sealed = result.agentRestic.length;
  if (result.catalogListing.listed.some((n) => n !== sealed)) result.problems.push(`ffkeeper snapshot list listed ${result.catalogListing.listed.join(', ')} snapshots, expected ${sealed}`);
  result.finalTree = await measureTree(ctx.roots.uploads, ctx.roots.ffupload);
  if (env.signal?.aborted) return true;
  const target = path.join(ctx.work, 'restore');
  const artifacts = ctx.lastArtifacts;
  if (!artifacts) throw new Error('no agent snapshot to restore');
  for (const v of ['agent', 'restic'] as const) {
    const dir = path.join(target, v);
    try {
      if (v === 'agent') {
        const { ms, steps } = await ctx.agent.restore(artifacts, accessTo(ctx.agentRepo.url, BENCH_PASSWORD), dir);
        record(result.restore.agent, ms, result.finalTree.bytes);
        result.agentRestoreSteps = steps.map((s) => ({ step: s.step, ms: s.durationMs }));
        await rssAt(ctx, 'after the restore');
      } else {
        await timeInto(result.restore.restic, result.finalTree.bytes, () => ctx.resticRepo.restore(dir));
      }
      const got = await measureTree(dir);
      if (got.files !== result.finalTree.files || got.bytes !== result.finalTree.bytes) {
        result.problems.push(`${v} restore: ${got.files} files / ${got.bytes} bytes, expected ${result.finalTree.files} / ${result.finalTree.bytes}`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    env.log(`${v} restore: ${secs(result.restore[v].ms.at(-1))}`);
  }
  return false;
}
