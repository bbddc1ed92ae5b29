/**
 * The sync benchmark engine (issue 15's targets), on real processes: a master dev site with a large
 * watch list and a small slave site, their agents, a controller and nats-server (test/harness/fleet.ts).
 * 1. the floor (bench/sync/floor.ts) on the master's data; 2. `ffkeeper sync link --no-safety-snapshot`
 * of the master's list 1 to the slave's list 2, timed until every dossier, face row, gallery record and
 * file is on the slave, then one `ffkeeper sync check`; 3. propagation latency at each rate
 * (bench/sync/latency.ts). Everything it starts is torn down before it returns.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { ShardSet, type SiteState } from '../../deploy/dev-site/index.js';
import { IllegalStateError } from '../../shared/errors.js';
import type { SyncCheckReport } from '../../shared/sync/inspect.js';
import { uniqueSite } from '../../test/devsite/fixtures.js';
import { startFleet, type TestFleet } from '../../test/harness/fleet.js';
import type { BenchEnv } from '../lib/case.js';
import { connect, countReplicaRows, readMasterList, Remaining, type MasterList } from './content.js';
import { runFloor, type FloorRun } from './floor.js';
import { measureLatency, type LatencyRun } from './latency.js';
import { operatorSecurity } from '../../test/harness/pki.js';

export interface SyncBenchPlan {
  /** Dossiers of the master (all put into its list 1). */
  dossiers: number;
  slaveDossiers: number;
  events: number;
  imageScale: number;
  rates: number[];
  seconds: number;
  /** How long the initial sync may take before the bench gives up on it. */
  timeoutMs: number;
  /** How long nothing may move (slave counts, every part's handled/pending) before the bench calls the sync stalled. */
  stallMs: number;
  /** Runs of the floor, each after a flush; the fastest is the floor (default 1). */
  floorRuns?: number;
}

export interface InitialSync {
  link: string;
  linkNumber: number;
  /** The `sync link` CLI process alone. */
  linkCliMs: number;
  /** `sync link` started → the last category complete on the slave (undefined: it never got there). */
  totalMs: number | undefined;
  /** Why the bench stopped waiting when the sync did not complete. */
  stopped?: 'timeout' | 'stalled' | 'aborted';
  /** `sync link` started → every dossier and face row in the replica list. */
  rowsMs: number | undefined;
  /** What was still missing at the end (all 0 when complete). */
  missing: { dossiers: number; faces: number; foreign: number; records: number; files: number };
  check?: { wallMs: number; report?: SyncCheckReport; exitCode: number; stderr: string };
  /** One line every 10 s while it ran: what was on the slave and what each part of the link reported. */
  progress: string[];
  /** Distinct warnings and errors the agents logged about sync by then (`site/host: msg: error × count`). */
  agentWarnings: string[];
  /** `sync show` of the link when the sync did not complete, for the report. */
  stuck?: string[];
}

export interface SyncBenchResult {
  plan: SyncBenchPlan;
  startedAt: Date;
  durationMs: number;
  /** `baselineMs`: the snapshot of each site taken before the link (outside the timed window), ms. */
  sites: { master: string; slave: string; upMs: number; baselineMs: number[] };
  list: Omit<MasterList, 'dossierIds' | 'recordIds' | 'files'> & { dossiers: number; records: number; files: number };
  /** The fastest of the floor's runs, before the link and after it. */
  floor: FloorRun;
  /** Every floor run's time before the link, ms, in the order run. */
  floorTimesMs: number[];
  /**
   * One more floor run right after the initial sync (and its check), ms: the floor's runs before the link
   * got slower one after the other on this kind of machine, and the sync, which follows them, paid that
   * too; this run shows what the floor pays at the sync's point in the run. Undefined when the sync did
   * not complete or the bench was stopped.
   */
  floorAfterMs?: number;
  initial: InitialSync;
  latency: LatencyRun[];
  loadavg: { floor: number; sync: number };
  /** How long flushing dirty pages (`sync`) took before each timed phase (not timed). */
  flushMs: { floor: number; sync: number };
}

const POLL_MS = 500;
const LOG_EVERY_MS = 10_000;

/** Runs the benchmark; resolves once every site, process and directory it made is gone. */
export async function runSyncBench(plan: SyncBenchPlan, env: BenchEnv): Promise<SyncBenchResult> {
  const startedAt = new Date();
  const [masterSite, slaveSite] = [uniqueSite('sbm'), uniqueSite('sbs')];
  env.log(`bringing up ${masterSite} (${plan.dossiers} dossiers, images at ${plan.imageScale}×) and ${slaveSite} (${plan.slaveDossiers} dossiers) with a controller and agents`);
  const fleet = await startFleet([
    { site: masterSite, dossiers: plan.dossiers, events: plan.events, imageScale: plan.imageScale },
    { site: slaveSite, dossiers: plan.slaveDossiers, events: plan.events, imageScale: plan.imageScale },
  ]);
  const upMs = Date.now() - startedAt.getTime();
  const floorCopies = mkdtempSync(path.join(os.tmpdir(), 'ffk-bench-sync-floors-'));
  try {
    const master = fleet.sites.get(masterSite);
    const slave = fleet.sites.get(slaveSite);
    if (!master || !slave) throw new IllegalStateError(`the fleet did not bring up dev sites '${masterSite}' and '${slaveSite}'`);
    const db = await connect(master);
    await db.query('INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) SELECT id, 1 FROM ffsecurity_dossier ON CONFLICT DO NOTHING');
    await db.end();
    const list = await readMasterList(master, 1);
    env.log(`master list 1: ${list.dossierIds.length} dossiers, ${list.faces} faces, ${list.files.length} files, ${(list.bytes / 1e6).toFixed(0)} MB (sites up in ${(upMs / 1000).toFixed(0)} s)`);
    // The floor's copy pays for the machine's writeback as it happens (the same 2.7 GiB took cp -r 1.8 s
    // in one run and 12 s in another here): it runs several times and the fastest is the floor. Its copies
    // stay until the end (see runFloor: writes into blocks just freed are slow here), so that neither a
    // later floor run nor the sync writes where an earlier run's copy was just removed.
    // One floor run after a flush, logged; the fastest so far (with its flush and load) is the floor.
    let fastest: { run: FloorRun; flushed: number; load: number } | undefined;
    const floorRun = async (label: string, flushFor: string): Promise<FloorRun> => {
      const flushed = await flushDirtyPages(env, flushFor);
      const load = os.loadavg()[0] ?? 0;
      const run = await runFloor(master, floorCopies);
      env.log(`${label}: ${(run.totalMs / 1000).toFixed(1)} s (pg_dump | psql ${(run.dumpMs / 1000).toFixed(1)} s, cp -r ${(run.copyMs / 1000).toFixed(1)} s)`);
      if (!fastest || run.totalMs < fastest.run.totalMs) fastest = { run, flushed, load };
      return run;
    };
    const floorTimesMs: number[] = [];
    const floorRuns = plan.floorRuns ?? 1;
    for (let i = 1; i <= floorRuns; i++) floorTimesMs.push((await floorRun(`floor ${i}/${floorRuns}`, 'the floor')).totalMs);
    const baselineMs = await baselineSnapshots(fleet, [masterSite, slaveSite], env);
    const flushSync = await flushDirtyPages(env, 'the link');
    const loadSync = os.loadavg()[0] ?? 0;
    const initial = await initialSync(fleet, master, slave, list, plan, env);
    const floorAfterMs = initial.totalMs !== undefined && floorRuns > 1 && !env.signal?.aborted ? (await floorRun('floor after the link', 'the floor after the link')).totalMs : undefined;
    if (!fastest) throw new IllegalStateError('the floor never ran');
    const { run: floor, flushed: flushFloor, load: loadFloor } = fastest;
    const latency = initial.totalMs === undefined ? [] : await latencyRuns(master, slave, initial.linkNumber, list.dossierIds, plan, env);
    return {
      plan,
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
      sites: { master: masterSite, slave: slaveSite, upMs, baselineMs },
      list: { dossiers: list.dossierIds.length, faces: list.faces, records: list.recordIds.length, files: list.files.length, bytes: list.bytes },
      floor,
      floorTimesMs,
      ...(floorAfterMs === undefined ? {} : { floorAfterMs }),
      initial,
      latency,
      loadavg: { floor: loadFloor, sync: loadSync },
      flushMs: { floor: flushFloor, sync: flushSync },
    };
  } finally {
    await fleet.stop();
    await rm(floorCopies, { recursive: true, force: true });
  }
}

/**
 * Writes the machine's dirty pages out (`sync`) before a timed phase, so that neither the floor nor the
 * link pays for writing back what came before it (the sites' load, the floor's copy, the baseline
 * snapshots): both start with the master's files in the page cache and nothing waiting to be written.
 */
async function flushDirtyPages(env: BenchEnv, before: string): Promise<number> {
  const t0 = Date.now();
  await execa('sync');
  const ms = Date.now() - t0;
  env.log(`flushed dirty pages before ${before} in ${(ms / 1000).toFixed(1)} s (not timed)`);
  return ms;
}

/**
 * One snapshot of each site before linking: `sync link` compares the sites' face models as their last
 * snapshot recorded them and takes a baseline snapshot of a site that has none (fresh dev sites) — a
 * backup, not the sync, so it is taken here, outside the timed window, as a site in service would have.
 */
async function baselineSnapshots(fleet: TestFleet, sites: string[], env: BenchEnv): Promise<number[]> {
  const api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
  try {
    const out: number[] = [];
    for (const site of sites) {
      const t0 = Date.now();
      const snap = await api.createSnapshot({ site, reason: 'sync bench baseline' }, () => undefined);
      if (snap.outcome?.phase !== 'Completed') throw new IllegalStateError(`the baseline snapshot of '${site}' failed: ${snap.outcome?.error?.message ?? snap.phase}`);
      out.push(Date.now() - t0);
      env.log(`baseline snapshot of ${site} in ${((Date.now() - t0) / 1000).toFixed(1)} s (before the link, not timed)`);
    }
    return out;
  } finally {
    api.close();
  }
}

async function initialSync(fleet: TestFleet, master: SiteState, slave: SiteState, list: MasterList, plan: SyncBenchPlan, env: BenchEnv): Promise<InitialSync> {
  const t0 = Date.now();
  const link = await fleet.json<{ id: string; number: number }>('sync', 'link', '--from', `${master.site}:1`, '--to', `${slave.site}:2`, '--no-safety-snapshot');
  const linkCliMs = Date.now() - t0;
  env.log(`linked ${link.id} (number ${link.number}) in ${linkCliMs} ms; waiting for the slave's list 2`);
  const db = await connect(slave);
  const shards = await ShardSet.connect(slave.shards, 10_000);
  const remaining = new Remaining(slave, master.site, link.number, list);
  let rowsMs: number | undefined;
  let totalMs: number | undefined;
  let rows = { dossiers: 0, faces: 0, foreign: 0 };
  let lastLog = Date.now();
  let stopped: InitialSync['stopped'];
  let lastChange = { at: Date.now(), state: '' };
  const progress: string[] = [];
  const api = new GrpcControllerApi(fleet.controllerAddress, 10_000, operatorSecurity());
  try {
    while (totalMs === undefined && Date.now() - t0 < plan.timeoutMs) {
      const tick = Date.now();
      rows = await countReplicaRows(db, 2, link.number);
      const rowsDone = rows.dossiers === list.dossierIds.length && rows.faces === list.faces && rows.foreign === 0;
      if (rowsDone) rowsMs ??= Date.now() - t0;
      // Records and files are checked once the rows are in (the sync ends with the last of the three).
      const left = rowsDone ? await remaining.refresh(shards) : remaining.counts;
      if (rowsDone && left.records === 0 && left.files === 0) totalMs = Date.now() - t0;
      if (Date.now() - lastLog >= LOG_EVERY_MS) {
        lastLog = Date.now();
        const line = `+${((Date.now() - t0) / 1000).toFixed(0)} s: ${rows.dossiers}/${list.dossierIds.length} dossiers, ${rows.faces}/${list.faces} faces${rows.foreign ? `, ${rows.foreign} own dossiers left in the list` : ''}${rowsDone ? `, ${left.records} records and ${left.files} files not yet confirmed` : ''}`;
        const parts = await partsLine(api, link.id);
        progress.push(`${line} | ${parts}`);
        env.log(`  ${line}`);
        const state = `${rows.dossiers} ${rows.faces} ${left.records} ${left.files} ${parts}`;
        if (state !== lastChange.state) lastChange = { at: Date.now(), state };
        else if (Date.now() - lastChange.at >= plan.stallMs) stopped = 'stalled';
      }
      if (env.signal?.aborted) stopped = 'aborted';
      if (stopped) break;
      await new Promise((r) => setTimeout(r, Math.max(0, tick + POLL_MS - Date.now())));
    }
    if (totalMs === undefined) {
      stopped ??= 'timeout';
      await remaining.refresh(shards);
    }
  } finally {
    api.close();
    shards.close();
    await db.end();
  }
  const missing = { dossiers: list.dossierIds.length - rows.dossiers, faces: list.faces - rows.faces, foreign: rows.foreign, ...remaining.counts };
  keepAgentLogs(fleet);
  const result: InitialSync = { link: link.id, linkNumber: link.number, linkCliMs, totalMs, rowsMs, missing, progress, agentWarnings: agentWarnings(fleet), ...(stopped ? { stopped } : {}) };
  if (totalMs === undefined) {
    env.log(`the initial sync did not complete (${stopped === 'stalled' ? `nothing moved for ${plan.stallMs / 1000} s` : stopped ?? ''}): ${JSON.stringify(missing)}`);
    result.stuck = await describeLink(fleet, link.id);
    return result;
  }
  env.log(`initial sync complete in ${(totalMs / 1000).toFixed(1)} s (rows in ${((rowsMs ?? 0) / 1000).toFixed(1)} s); running sync check`);
  const c0 = Date.now();
  const check = await fleet.cli('sync', 'check', link.id, '--json');
  result.check = { wallMs: Date.now() - c0, exitCode: check.code, stderr: check.stderr.trim() };
  try {
    result.check.report = JSON.parse(check.stdout) as SyncCheckReport;
  } catch {
    // Left undefined: the report says the check gave no report, with its exit code and stderr.
  }
  env.log(`sync check: exit ${check.code}, ${result.check.report?.differences.length ?? '?'} differences, ${result.check.wallMs} ms`);
  return result;
}

/** With FFK_BENCH_LOG_DIR set, each agent's whole log so far goes there (with FFK_AGENT_LOG__LEVEL=debug: every batch of every part). */
function keepAgentLogs(fleet: TestFleet): void {
  const dir = process.env.FFK_BENCH_LOG_DIR;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  for (const [agent, p] of fleet.agents) writeFileSync(path.join(dir, `${agent.replace(/\//g, '_')}.log`), p.logs());
}

/** Distinct sync warnings and errors in the agents' logs (pino JSON lines, level ≥ 40), with counts. */
function agentWarnings(fleet: TestFleet): string[] {
  const counts = new Map<string, number>();
  for (const [agent, p] of fleet.agents) {
    for (const line of p.logs().split('\n')) {
      if (!/"level":(40|50|60)/.test(line) || !line.includes('sync')) continue;
      try {
        const j = JSON.parse(line) as { msg?: string; role?: string; err?: { message?: string } };
        const key = `${agent}: ${j.role ? `${j.role}: ` : ''}${j.msg ?? ''}${j.err?.message ? `: ${j.err.message.slice(0, 240)}` : ''}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      } catch {
        // Not a JSON log line.
      }
    }
  }
  return [...counts].map(([k, n]) => `${k} × ${n}`);
}

/** What each part of the link reports, `role handled/pending`, for the progress lines. */
async function partsLine(api: GrpcControllerApi, id: string): Promise<string> {
  try {
    const view = await api.getSyncLink(id);
    // Sorted and without repeats: the order of the controller's answer is not stable between calls.
    return [...new Set(view.parts.map((p) => `${p.role} ${p.handled}/${p.pending}${p.errors ? ` (${p.errors} errors)` : ''}`))].sort().join(', ');
  } catch (err) {
    return `parts unavailable: ${String(err)}`;
  }
}

/** `sync show --json` of the link, one line per part, for a report of a sync that did not complete. */
async function describeLink(fleet: TestFleet, id: string): Promise<string[]> {
  try {
    const v = await fleet.json<{ state: string; lastError?: string; pending: number; parts: { role: string; host: string; state: string; position: number; pending: number; handled: number; errors: number; lastError?: string }[] }>('sync', 'show', id);
    return [
      `link state ${v.state}, pending ${v.pending}${v.lastError ? `, last error: ${v.lastError}` : ''}`,
      ...v.parts.map((p) => `${p.role} on ${p.host}: ${p.state}, position ${p.position}, pending ${p.pending}, handled ${p.handled}, errors ${p.errors}${p.lastError ? ` (${p.lastError})` : ''}`),
    ];
  } catch (err) {
    return [`sync show failed: ${String(err)}`];
  }
}

async function latencyRuns(master: SiteState, slave: SiteState, linkNumber: number, dossierIds: number[], plan: SyncBenchPlan, env: BenchEnv): Promise<LatencyRun[]> {
  const m = new pg.Pool({ host: master.postgres.host, port: master.postgres.port, user: 'postgres', database: master.postgres.database, max: 4 });
  const s = await connect(slave);
  const runs: LatencyRun[] = [];
  let seqStart = 1;
  try {
    for (const rate of plan.rates) {
      if (env.signal?.aborted) break;
      env.log(`latency at ${rate} changes/s for ${plan.seconds} s`);
      const run = await measureLatency({
        master: m, slave: s, linkNumber, dossierIds, seqStart, loadavg: os.loadavg()[0] ?? 0,
        plan: { rate, seconds: plan.seconds, graceMs: 60_000, pollMs: 20 },
      });
      seqStart += run.committed;
      runs.push(run);
      env.log(`  ${run.committed} committed (${run.achievedRate.toFixed(1)}/s), ${run.samples.length} seen, ${run.coalesced} coalesced, ${run.unseen} never seen`);
    }
  } finally {
    await m.end();
    await s.end();
  }
  return runs;
}
