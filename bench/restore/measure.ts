/**
 * The restore benchmark engine (issue 13's bar): one dev site brought up with a controller and agents as
 * real processes, a snapshot taken with the writer running, then the same snapshot restored twice with
 * the writer running:
 * - **two-phase**: `ffkeeper restore` as it is (stage while the site runs, then switch); its own job
 *   records how long the writers were stopped;
 * - **old sequence**: what a restore did before: stop the writers, restore each component in one call
 *   (the agents' phase-less Restore: Tarantool shards and upload directories, then PostgreSQL by FindFace's
 *   documented sequence), start the writers — driven here over the same agent gRPC API, timed the same way.
 * Both end with the site's integrity check. Everything it starts is torn down before it returns.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { GrpcAgentClient } from '../../controller/transport/grpc-agent-client.js';
import { checkSiteState } from '../../deploy/dev-site/checker.js';
import { startWriter, stopWriter, type SiteState } from '../../deploy/dev-site/index.js';
import { IllegalStateError } from '../../shared/errors.js';
import type { ManifestComponent } from '../../shared/manifest.js';
import { decodeManifest } from '../../shared/manifest-codec.js';
import { uniqueSite } from '../../test/devsite/fixtures.js';
import { startFleet, type TestFleet } from '../../test/harness/fleet.js';
import { measureDataSize, type DataSize } from '../freeze-window/size.js';
import type { BenchEnv } from '../lib/case.js';
import { controllerSecurity, operatorSecurity } from '../../test/harness/pki.js';

export interface RestoreBenchPlan {
  dossiers: number;
  events: number;
  /** Image bytes relative to FindFace's sizes (1: full size). */
  imageScale: number;
  /** Writer pace during the snapshot and both restores, writes/s. */
  rate: number;
}

export interface RestoreRun {
  method: 'two-phase' | 'old sequence';
  /** From the restore's start to its end (integrity check included). */
  totalMs: number;
  /** From the first writer stopped to the last one started again. */
  stoppedMs: number;
  integrityErrors: number;
}

export interface RestoreBenchResult {
  plan: RestoreBenchPlan;
  startedAt: Date;
  durationMs: number;
  site: string;
  size: DataSize;
  snapshotId: string;
  snapshotMs: number;
  runs: RestoreRun[];
  /** The two-phase restore's job lines from the writers' stop to their start (where the downtime goes). */
  switchLog: string[];
}

/** Runs the benchmark; resolves once every site, process and directory it made is gone. */
export async function runRestoreBench(plan: RestoreBenchPlan, env: BenchEnv): Promise<RestoreBenchResult> {
  const startedAt = new Date();
  const site = uniqueSite('rb');
  env.log(`bringing up ${site} (${plan.dossiers} dossiers, ${plan.events} events, images at ${plan.imageScale}×) with a controller and agents`);
  const fleet = await startFleet([{ site, dossiers: plan.dossiers, events: plan.events, imageScale: plan.imageScale, writerRate: plan.rate }]);
  const api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
  const state = fleet.sites.get(site);
  try {
    if (!state) throw new IllegalStateError(`the fleet did not bring up dev site '${site}'`);
    const size = await measureDataSize(state);
    env.log(`site holds ${(size.bytes / 1e9).toFixed(2)} GB in ${size.files} files, ${size.rows} rows, ${size.records} gallery records`);
    await startWriter(state, { rate: plan.rate });
    const t0 = Date.now();
    const snap = await api.createSnapshot({ site, reason: 'restore bench' }, () => undefined);
    if (snap.outcome?.phase !== 'Completed') throw new IllegalStateError(`the bench's snapshot failed: ${snap.outcome?.error?.message ?? snap.phase}`);
    const snapshotMs = Date.now() - t0;
    const snapshotId = (await api.listSnapshots(site)).find((s) => s.jobId === snap.jobId)?.id ?? '';
    env.log(`snapshot ${snapshotId} taken in ${(snapshotMs / 1000).toFixed(1)} s`);
    const switchLog: string[] = [];
    const runs: RestoreRun[] = [];
    runs.push(await twoPhase(api, state, site, snapshotId, plan, env, switchLog));
    runs.push(await oldSequence(fleet, api, state, site, snapshotId, plan, env));
    return { plan, startedAt, durationMs: Date.now() - startedAt.getTime(), site, size, snapshotId, snapshotMs, runs, switchLog };
  } finally {
    api.close();
    if (state) await stopWriter(state).catch(() => undefined);
    await fleet.stop();
  }
}

async function twoPhase(api: GrpcControllerApi, state: SiteState, site: string, id: string, plan: RestoreBenchPlan, env: BenchEnv, switchLog: string[]): Promise<RestoreRun> {
  await startWriter(state, { rate: plan.rate });
  env.log(`two-phase restore of ${id}, writer running`);
  let first: number | undefined;
  const end = await api.restore({ site, selector: { kind: 'id', id }, components: [], noSafetySnapshot: true }, (e) => {
    if (e.message && /^(every component staged|stopped |started )/.test(e.message)) env.log(`  ${e.message}`);
    if (e.message && /^(stopped |switch |started )/.test(e.message)) {
      first ??= e.time.getTime();
      switchLog.push(`+${((e.time.getTime() - first) / 1000).toFixed(1)} s ${e.message}`);
    }
  });
  if (end.outcome?.phase !== 'Completed') throw new IllegalStateError(`the two-phase restore failed: ${end.outcome?.error?.message ?? end.phase}`);
  const job = await api.getJob(end.jobId);
  const detail = job.detail as { writersStoppedMs?: number; integrity?: { errors: number } };
  const run: RestoreRun = {
    method: 'two-phase',
    totalMs: end.time.getTime() - job.createdAt.getTime(),
    stoppedMs: detail.writersStoppedMs ?? Number.NaN,
    integrityErrors: detail.integrity?.errors ?? Number.NaN,
  };
  env.log(`  two-phase: ${(run.totalMs / 1000).toFixed(1)} s, writers stopped ${(run.stoppedMs / 1000).toFixed(1)} s, ${run.integrityErrors} integrity errors`);
  return run;
}

/** A writer unit of the site and the agent that controls it. */
interface Writer {
  address: string;
  unit: string;
}

async function oldSequence(fleet: TestFleet, api: GrpcControllerApi, state: SiteState, site: string, id: string, plan: RestoreBenchPlan, env: BenchEnv): Promise<RestoreRun> {
  await startWriter(state, { rate: plan.rate });
  env.log(`old sequence (writers stopped for the whole restore) of ${id}, writer running until then`);
  const manifest = decodeManifest((await api.getSnapshot(id, site)).manifestJson, `snapshot ${id}`);
  const agents = (await api.listAgents(site)).map((a) => a.description);
  const addressOf = (host: string): string => agents.find((a) => a.host === host)?.grpcAddress ?? '';
  // Stop order as a restore plans it: every findface-security before any sf-api.
  const writers: Writer[] = [
    ...agents.flatMap((a) => a.components.flatMap((c) => (c.kind === 'postgres' ? [{ address: a.grpcAddress, unit: c.appUnit }] : []))),
    ...agents.flatMap((a) => a.components.flatMap((c) => (c.kind === 'sf-api' ? [{ address: a.grpcAddress, unit: c.unit }] : []))),
  ];
  const secrets = JSON.parse(readFileSync(fleet.repositories.secretsFile, 'utf8')) as Record<string, string>;
  const repository = { url: path.join(fleet.repositories.root, site), password: secrets[site] ?? '', env: {} };
  const ordered = [...manifest.components.filter((c) => c.kind !== 'postgres'), ...manifest.components.filter((c) => c.kind === 'postgres')];
  const client = new GrpcAgentClient({ security: controllerSecurity() });
  const t0 = Date.now();
  try {
    for (const w of writers) await client.controlUnits(w.address, { action: 'stop', units: [w.unit] }, { timeoutMs: 120_000 });
    for (const c of ordered) await restoreOne(client, addressOf(c.host), c, repository, env);
    for (const w of [...writers].reverse()) await client.controlUnits(w.address, { action: 'start', units: [w.unit] }, { timeoutMs: 120_000 });
  } finally {
    client.close();
  }
  const stoppedMs = Date.now() - t0;
  const check = await checkSiteState(state);
  const run: RestoreRun = { method: 'old sequence', totalMs: Date.now() - t0, stoppedMs, integrityErrors: check.errors };
  env.log(`  old sequence: ${(run.totalMs / 1000).toFixed(1)} s, writers stopped ${(run.stoppedMs / 1000).toFixed(1)} s, ${run.integrityErrors} integrity errors`);
  return run;
}

async function restoreOne(client: GrpcAgentClient, address: string, c: ManifestComponent, repository: { url: string; password: string; env: Record<string, string> }, env: BenchEnv): Promise<void> {
  const { host: _host, ...artifact } = c;
  const t0 = Date.now();
  await client.restore(address, { jobId: `bench-old-${Date.now()}`, artifacts: [artifact], repository }, { timeoutMs: 3_600_000 });
  env.log(`  ${c.component} restored in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
