/**
 * The migration bench's run: a dev site with a controller and agents (real processes), a snapshot and its
 * verification (not timed), `migrate plan` (timed; its extraction sample and estimate kept), the
 * extraction-api alone on the site's normalized images (the peer: `extraction_batch_size` images per call,
 * `workers_num` calls at a time, as migration.ini runs it),
 * then `ffkeeper migrate start` (the job) while sf-api is read every 100 ms: the job's re-extraction faces/s
 * and how long sf-api did not answer.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GrpcControllerApi } from '../../controller/cli/api.js';
import { MIGRATE_BATCH, MIGRATE_WORKERS, type MigrationPlan } from '../../controller/domain/migration/plan.js';
import type { MigrationDetail } from '../../controller/domain/migration/job.js';
import { extractBatch } from '../../deploy/dev-site/sf-api-migrate.js';
import type { SiteState } from '../../deploy/dev-site/index.js';
import { mapLimit } from '../../shared/concurrency.js';
import { IllegalStateError } from '../../shared/errors.js';
import { parseGalleryModel } from '../../shared/findface/models.js';
import { uniqueSite } from '../../test/devsite/fixtures.js';
import { startFleet } from '../../test/harness/fleet.js';
import { operatorSecurity } from '../../test/harness/pki.js';
import type { BenchEnv } from '../lib/case.js';

export interface MigrationBenchPlan {
  dossiers: number;
  events: number;
  imageScale: number;
}

export interface MigrationBenchResult {
  plan: MigrationBenchPlan;
  startedAt: Date;
  durationMs: number;
  site: string;
  fromModel: string;
  toModel: string;
  faces: number;
  planMs: number;
  estimateSeconds?: number;
  sampleFacesPerSecond?: number;
  alone: { faces: number; ms: number };
  /** The job's re-extraction step: faces written to the new shards, failed, and its time. */
  migrate: { faces: number; failed: number; ms: number };
  /** Time sf-api did not answer a read over the whole job (polled every 100 ms), and the job's own measure. */
  downtimeMs: number;
  downtimeWindows: number;
  jobDowntimeMs: number;
  /** How long findface-security took no writes (the re-extraction and the switch). */
  writesStoppedMs: number;
  jobMs: number;
  steps: { step: string; ms: number }[];
}

function imagesUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && !e.name.startsWith('.ffk')) imagesUnder(p, out);
    else if (e.isFile() && e.name.endsWith('.jpg')) out.push(p);
  }
  return out;
}

/** The extraction-api alone: every image once, `MIGRATE_BATCH` per call, `MIGRATE_WORKERS` calls at a time. */
async function extractionAlone(url: string, files: readonly string[]): Promise<{ faces: number; ms: number }> {
  const batches: string[][] = [];
  for (let i = 0; i < files.length; i += MIGRATE_BATCH) batches.push(files.slice(i, i + MIGRATE_BATCH));
  const t0 = performance.now();
  const done = await mapLimit(batches, MIGRATE_WORKERS, async (batch) => (await extractBatch(url, batch.map((f) => readFileSync(f)))).results.filter((r) => r.facen).length);
  return { faces: done.reduce((a, b) => a + b, 0), ms: performance.now() - t0 };
}

/** Reads sf-api every 100 ms until stopped; sums the time between a failed read and the next good one. */
function watchReads(url: string): { stop: () => Promise<{ downMs: number; windows: number }> } {
  let downSince: number | undefined;
  let downMs = 0;
  let windows = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      const ok = await fetch(url, { signal: AbortSignal.timeout(2000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (!ok && downSince === undefined) {
        downSince = t;
        windows++;
      }
      if (ok && downSince !== undefined) {
        downMs += t - downSince;
        downSince = undefined;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { downMs: downMs + (downSince === undefined ? 0 : performance.now() - downSince), windows };
    },
  };
}

export async function runMigrationBench(plan: MigrationBenchPlan, env: BenchEnv): Promise<MigrationBenchResult> {
  const startedAt = new Date();
  const site = uniqueSite('mg');
  env.log(`bringing up ${site} (${plan.dossiers} dossiers, ${plan.events} events, images at ${plan.imageScale}×) with a controller and agents`);
  const fleet = await startFleet([{ site, dossiers: plan.dossiers, events: plan.events, imageScale: plan.imageScale }]);
  const api = new GrpcControllerApi(fleet.controllerAddress, 30_000, operatorSecurity());
  try {
    const state = fleet.sites.get(site) as SiteState | undefined;
    if (!state?.extractionApi) throw new IllegalStateError(`the fleet did not bring up dev site '${site}' with an extraction-api`);
    const snap = await api.createSnapshot({ site, reason: 'migration bench' }, () => undefined);
    if (snap.outcome?.phase !== 'Completed') throw new IllegalStateError(`the bench's snapshot failed: ${snap.outcome?.error?.message ?? snap.phase}`);
    const verified = await api.verify({ site, readData: false }, () => undefined);
    if (verified.outcome?.phase !== 'Completed') throw new IllegalStateError(`the bench's verify failed: ${verified.outcome?.error?.message ?? verified.phase}`);
    env.log('snapshot taken and verified');

    const current = parseGalleryModel(state.vectors.models.ffsec_face_objects);
    const toModel = `face/${current.name === 'ifruit' ? 'elderberry' : 'ifruit'}_${current.dim}.cpu.fnk`;
    const t0 = performance.now();
    const migration: MigrationPlan = await api.planMigration({ site, toModel });
    const planMs = performance.now() - t0;
    if (!migration.ready) throw new IllegalStateError(`migrate plan: ${migration.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
    env.log(`migrate plan in ${(planMs / 1000).toFixed(1)} s: ${migration.faces.total} faces, estimate ${migration.estimateSeconds?.toFixed(1) ?? '?'} s`);

    const extractionUrl = `http://127.0.0.1:${state.extractionApi.port}`;
    const images = imagesUnder(state.uploads.ffuploadDir).slice(0, migration.faces.total);
    const alone = await extractionAlone(extractionUrl, images);
    env.log(`extraction-api alone: ${alone.faces} faces in ${(alone.ms / 1000).toFixed(1)} s`);

    const probe = await firstFace(state);
    const watch = watchReads(`http://127.0.0.1:${state.sfApi.port}/v2/galleries/ffsec_face_objects/faces/${probe}`);
    // `ffkeeper migrate start`: the job's events give each step's start.
    const starts: { step: string; at: number }[] = [];
    const j0 = performance.now();
    let outcome;
    let down: { downMs: number; windows: number };
    try {
      outcome = await api.migrate({ site, toModel }, (e) => {
        if (starts.at(-1)?.step !== e.step) {
          starts.push({ step: e.step, at: performance.now() });
          env.log(`job step: ${e.step}`);
        }
      });
      await waitForRead(`http://127.0.0.1:${state.sfApi.port}/v2/galleries/ffsec_face_objects/faces/${probe}`);
    } finally {
      down = await watch.stop();
    }
    const jobMs = performance.now() - j0;
    if (outcome.outcome?.phase !== 'Completed') throw new IllegalStateError(`migrate start: ${outcome.outcome?.error?.message ?? outcome.phase}`);
    const record = await api.getJob(outcome.jobId);
    const d = record.detail as unknown as MigrationDetail;
    const steps = starts.map((s, i) => ({ step: s.step, ms: (starts[i + 1]?.at ?? j0 + jobMs) - s.at }));
    const faceGalleries = Object.values(d.progress).flatMap((g) => Object.values(g)).filter((g) => g.face);
    return {
      plan,
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
      site,
      fromModel: migration.fromModel ?? '?',
      toModel,
      faces: migration.faces.total,
      planMs,
      ...(migration.estimateSeconds !== undefined ? { estimateSeconds: migration.estimateSeconds } : {}),
      ...(migration.sample?.facesPerSecond !== undefined ? { sampleFacesPerSecond: migration.sample.facesPerSecond } : {}),
      alone,
      migrate: { faces: faceGalleries.reduce((n, g) => n + g.written, 0), failed: d.failedTotal, ms: steps.find((s) => s.step === 'reextract')?.ms ?? Number.NaN },
      downtimeMs: down.downMs,
      downtimeWindows: down.windows,
      jobDowntimeMs: d.downtimeMs ?? Number.NaN,
      writesStoppedMs: d.writesStoppedMs ?? Number.NaN,
      jobMs,
      steps,
    };
  } finally {
    api.close();
    await fleet.stop();
  }
}

async function firstFace(state: SiteState): Promise<string> {
  const pg = await import('pg');
  const db = new pg.default.Client({ host: state.postgres.host, port: state.postgres.port, user: state.postgres.superuser, database: state.postgres.database });
  await db.connect();
  try {
    const r = await db.query<{ record_id: string }>('SELECT record_id FROM ffsecurity_dossierface ORDER BY id LIMIT 1');
    const id = r.rows[0]?.record_id;
    if (!id) throw new IllegalStateError('the site has no dossier face');
    return id;
  } finally {
    await db.end();
  }
}

async function waitForRead(url: string): Promise<void> {
  const until = Date.now() + 60_000;
  while (Date.now() < until) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new IllegalStateError(`sf-api does not answer ${url} a minute after the procedure`);
}
