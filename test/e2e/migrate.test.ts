/**
 * Issue 17, `ffkeeper migrate start --regenerate-normalized`: a dev site with ≥ 5,000 faces over 2 shards
 * moves to another model as one job, each face's normalized image made again from its source photo by the
 * extraction-api's detector first (a detector change, reference 003). Its agent is killed in the middle of the re-extraction and `migrate resume` completes the job
 * without extracting a finished batch again (the extraction-api's own count); every face is then in the new
 * shards with the vector of its regenerated normalized image under the new model (both computed here,
 * independently), the
 * counts per gallery equal, sf-api serves the new shards, the old ones are stopped, disabled and intact, the
 * face whose image was removed is listed, the site's integrity check finds 0 errors, the agents serve the new
 * shards, and a restore of the snapshot taken before is refused naming both models. `migrate rollback` then
 * takes the site back; `finish` is refused for it, and on a small second site (a migration's size changes
 * nothing `finish` does) removes the old shards after a migration.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSiteState } from '../../deploy/dev-site/checker.js';
import { DEV_DETECTOR, facen, modelFileOf, normalizeFace, OTHER_DETECTOR } from '../../deploy/dev-site/facen.js';
import type { SiteState } from '../../deploy/dev-site/state.js';
import type { MigrationDetail } from '../../controller/domain/migration/job.js';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import { galleryModelOf, parseGalleryModel } from '../../shared/findface/models.js';
import { shiftedShardName } from '../../shared/findface/instance-file.js';
import type { JobRecord } from '../../shared/jobs.js';
import { faceRows, runShim, type FaceRow } from '../devsite/fixtures.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { BIN, waitFor, type CliResult } from '../harness/processes.js';

const SITE = 'mig-1';
/** The site `finish` is tried on (the last test adds it). */
const SMALL = 'mig-2';

function cli(fleet: TestFleet, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN.cli, ...args, '--controller', fleet.controllerAddress], { timeout: 600_000, maxBuffer: 64 * 2 ** 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

async function http<T>(port: number, p: string): Promise<{ status: number; body: T }> {
  // A kept-alive connection to a service that has restarted since is closed on the first use: ask again.
  const res = await fetch(`http://127.0.0.1:${port}${p}`).catch(() => fetch(`http://127.0.0.1:${port}${p}`));
  return { status: res.status, body: (await res.json()) as T };
}

const shim = runShim;

/** A snapshot of `site`, verified: migrate plan (and so start) wants a recently verified one. */
async function snapshotVerified(fleet: TestFleet, site: string): Promise<void> {
  expect((await cli(fleet, ['snapshot', 'create', '--site', site, '--wait'])).code).toBe(0);
  const v = await cli(fleet, ['verify', '--site', site]);
  expect(v.code, v.stderr).toBe(0);
}

const b64 = (v: Uint8Array): string => Buffer.from(v).toString('base64');

/** Each face (but `skip`) as sf-api serves it holds its normalized image's vector under `model`; returns how many. */
async function expectVectors(state: SiteState, rows: FaceRow[], model: string, skip: (r: { gallery: string; record_id: string }) => boolean): Promise<number> {
  let checked = 0;
  for (const f of rows) {
    if (skip(f)) continue;
    const r = await http<{ feat: string }>(state.sfApi.port, `/v2/galleries/${f.gallery}/faces/${f.record_id}`);
    expect(r.status, `${f.gallery} ${f.record_id}`).toBe(200);
    expect(r.body.feat, `${f.gallery} ${f.record_id}`).toBe(b64(facen(model, readFileSync(path.join(state.uploads.ffuploadDir, f.normalized)))));
    checked++;
  }
  return checked;
}

describe('ffkeeper migrate start / resume / rollback', () => {
  let fleet: TestFleet;
  let state: SiteState;
  let before = '';
  let lost: FaceRow | undefined;
  const t0 = Date.now();

  beforeAll(async () => {
    fleet = await startFleet([{ site: SITE, dossiers: 2500, events: 2000, imageScale: 0.2 }]);
    state = fleet.sites.get(SITE) as SiteState;
    await snapshotVerified(fleet, SITE);
    before = (await fleet.json<{ id: string }[]>('snapshot', 'list', '--site', SITE))[0]?.id ?? '';
    console.log(`fleet up, snapshot ${before} taken and verified in ${Date.now() - t0} ms`);
  }, 600_000);

  afterAll(async () => {
    await fleet?.stop();
    console.log(`migrate e2e: ${Date.now() - t0} ms in all`);
  });

  it('moves every face to the new model in new shards; an agent killed mid-way, resume completes it without extracting a finished batch again', async () => {
    const current = parseGalleryModel(state.vectors.models.ffsec_face_objects);
    const toModel = `face/${['ifruit', 'elderberry'].find((n) => n !== current.name) ?? '?'}_${current.dim}.cpu.fnk`;
    const newModel = galleryModelOf(toModel);
    const ex = state.extractionApi;
    if (!ex) throw new Error('no extraction-api');

    // Before: every face's record and normalized image; one event loses its image and its full frame (no
    // regeneration can make it again).
    const faces = { rows: await faceRows(state) };
    expect(faces.rows.length).toBeGreaterThanOrEqual(5000);
    lost = faces.rows.find((f) => f.gallery === 'ffsec_face_events');
    if (!lost) throw new Error('no event');
    rmSync(path.join(state.uploads.ffuploadDir, lost.normalized));
    rmSync(path.join(state.uploads.uploadsDir, lost.source));
    const normalizedBefore = new Map(faces.rows.filter((f) => f !== lost).slice(0, 200).map((f) => [f.normalized, readFileSync(path.join(state.uploads.ffuploadDir, f.normalized))] as const));
    const countsBefore = (await http<{ galleries: { name: string; count: number }[] }>(state.sfApi.port, '/v2/galleries')).body.galleries;

    // Started; the agent of the shards killed once the re-extraction is under way.
    let stats = { faces: 0 };
    const started = Date.now();
    // A detector change with the model: each normalized image made again by the other detector first. The
    // plan times the detector on a sample of the site's photos and estimates the regeneration.
    const plan = await cli(fleet, ['migrate', 'plan', '--site', SITE, '--to-model', toModel, '--to-detector', OTHER_DETECTOR]);
    expect(plan.code, plan.stderr + plan.stdout).toBe(0);
    expect(plan.stdout).toMatch(/ok +detector sample: \d+\/\d+ image\(s\) of the uploads root in \d+ ms with detector\/face\.jasmine_fast\.004\.cpu\.fnk/);
    expect(plan.stdout).toMatch(/normalized images made again first: \d+, with detector\/face\.jasmine_fast\.005\.cpu\.fnk; estimated /);
    expect(plan.stdout).toContain(`--to-detector ${OTHER_DETECTOR}\` runs these steps as a job`);
    const first = cli(fleet, ['migrate', 'start', '--site', SITE, '--to-model', toModel, '--to-detector', OTHER_DETECTOR, '--yes']);
    // The site stays readable meanwhile: sf-api answers from the old shards.
    const reads = { ok: 0, failed: 0 };
    await waitFor(async () => {
      stats = (await http<{ faces: number }>(ex.port, '/stats').catch(() => ({ body: { faces: 0 } }))).body;
      if (stats.faces > 0) {
        const g = await http<{ galleries: unknown[] }>(state.sfApi.port, '/v2/galleries').catch(() => ({ status: 0 }));
        if (g.status === 200) reads.ok++;
        else reads.failed++;
      }
      return stats.faces >= 1000;
    }, 300_000, 50);
    expect(reads).toMatchObject({ failed: 0 });
    expect(reads.ok).toBeGreaterThan(0);
    const runOf = async (): Promise<string | undefined> => (await fleet.json<{ host: string; startedAt: string }[]>('agents', 'list', '--site', SITE)).find((a) => a.host === 'tnt')?.startedAt;
    const killedRun = await runOf();
    await fleet.agents.get(`${SITE}/tnt`)?.kill();
    console.log(`agent tnt killed ${Date.now() - started} ms after the start, ${stats.faces} faces extracted`);
    const r1 = await first;
    console.log(r1.stdout.split('\n').slice(-12).join('\n'), r1.stderr);
    expect(r1.code, r1.stderr).not.toBe(0);
    const jobId = /migrate resume (j-[\w-]+)/.exec(r1.stderr)?.[1];
    if (!jobId) throw new Error(`no resume hint in: ${r1.stderr}`);
    fleet.startAgent(SITE, 'tnt');
    // Every agent online, the tnt one in its new run (the killed run's presence stays listed until its TTL).
    await waitFor(async () => (await fleet.json<{ status: string }[]>('agents', 'list', '--site', SITE)).every((a) => a.status === 'online') && (await runOf()) !== killedRun, 60_000, 1000);

    const r2 = await cli(fleet, ['migrate', 'resume', jobId]);
    console.log(r2.stdout, r2.stderr);
    expect(r2.code, r2.stderr + r2.stdout).toBe(0);
    const job = await fleet.json<JobRecord>('jobs', 'show', jobId);
    const d = job.detail as unknown as MigrationDetail;
    console.log(`migration ${jobId}: ${Date.now() - started} ms in all; sf-api down ${d.downtimeMs} ms at the switch`);

    // No finished batch extracted again: the extraction-api (restarted with the new model before the
    // re-extraction began) extracted every face once, plus at most the batches in flight when the agent died.
    const extracted = (await http<{ faces: number }>(ex.port, '/stats')).body.faces;
    // The faces the new shards received (counted at the switch; findface-security was stopped meanwhile).
    const migrated = (d.counts?.ffsec_face_objects?.new ?? 0) + (d.counts?.ffsec_face_events?.new ?? 0);
    expect(migrated).toBeGreaterThanOrEqual(5000);
    console.log(`extraction-api: ${extracted} faces extracted for ${migrated} faces migrated (${extracted - migrated} again: the batches in flight at the kill)`);
    expect(extracted).toBeGreaterThanOrEqual(migrated);
    expect(extracted).toBeLessThanOrEqual(migrated + 2 * 240);

    // The face without its image is listed; per gallery, the old shards' records are the new shards' plus
    // the faces that failed (counted at the switch, nothing writing).
    expect(d.failed).toEqual([{ gallery: 'ffsec_face_events', id: lost.record_id, reason: expect.stringContaining(`normalized image ${lost.normalized}: missing`) }]);
    expect(r2.stdout).toContain(`ffsec_face_events ${lost.record_id}: normalized image ${lost.normalized}: missing`);
    // The face without a source photo is listed as not regenerated.
    expect(d.regenerate?.failed).toEqual([{ gallery: 'ffsec_face_events', id: lost.record_id, reason: expect.stringContaining(`source photo ${lost.source}: missing`) }]);
    expect(r2.stdout).toContain(`(detector ${OTHER_DETECTOR}); 1 could not be`);
    expect((await http<{ detector: string }>(ex.port, '/models')).body.detector).toBe(OTHER_DETECTOR);
    expect(Object.values(d.regenerate?.galleries ?? {}).reduce((n, g) => n + g.regenerated, 0)).toBeGreaterThanOrEqual(5000);
    for (const g of countsBefore) {
      const c = d.counts?.[g.name];
      expect(c, g.name).toBeDefined();
      expect(c?.new, g.name).toBe((c?.old ?? 0) - (g.name === 'ffsec_face_events' ? 1 : 0));
      expect(c?.failed, g.name).toBe(g.name === 'ffsec_face_events' ? 1 : 0);
    }
    console.log(`counts at the switch: ${JSON.stringify(d.counts)}; findface-security took no writes for ${d.writesStoppedMs} ms`);
    const galleriesAfter = (await http<{ galleries: { name: string; models: string[]; count: number }[] }>(state.sfApi.port, '/v2/galleries')).body.galleries;
    for (const g of galleriesAfter) if (g.name.startsWith('ffsec_face_') && g.count > 0) expect(g.models, g.name).toEqual([newModel]);

    // sf-api serves the new shards; every face there (findface-security stopped: nothing writes now) holds its
    // image's vector under the new model: re-extracted, or written by findface-security since with that model.
    const served = (await http<{ shards: { name: string }[] }>(state.sfApi.port, '/')).body.shards.map((x) => x.name);
    expect(served).toEqual(state.shards.map((x) => shiftedShardName(x.name, 10)));
    expect(await shim(state, 'systemctl', ['stop', 'findface-security'])).toMatchObject({ code: 0 });
    const others = (await faceRows(state)).filter((f) => !(f.record_id === lost?.record_id && f.gallery === lost.gallery));
    // Every other face of those before the migration (findface-security adds faces again since) has its
    // normalized image made again from its source photo (the detector's output, computed here), and it differs
    // from the one it had.
    const existed = new Set(faces.rows.map((f) => `${f.gallery} ${f.record_id}`));
    let changed = 0;
    let regeneratedHere = 0;
    for (const f of others) {
      if (!existed.has(`${f.gallery} ${f.record_id}`)) continue;
      regeneratedHere++;
      const now = readFileSync(path.join(state.uploads.ffuploadDir, f.normalized));
      expect(now.equals(normalizeFace(OTHER_DETECTOR, readFileSync(path.join(state.uploads.uploadsDir, f.source)))), `${f.gallery} ${f.record_id} ${f.normalized}`).toBe(true);
      const was = normalizedBefore.get(f.normalized);
      if (was) changed += now.equals(was) ? 0 : 1;
      else normalizedBefore.delete(f.normalized);
    }
    expect(changed).toBeGreaterThan(100);
    expect(regeneratedHere).toBeGreaterThan(4000);
    const checked = await expectVectors(state, others, newModel, () => false);
    expect(checked).toBeGreaterThanOrEqual(5000);

    // The old shards: stopped, disabled, their data kept.
    for (const old of state.shards) {
      expect(await shim(state, 'systemctl', ['is-active', old.unit]), old.unit).toMatchObject({ code: 3 });
      expect(await shim(state, 'systemctl', ['is-enabled', old.unit]), old.unit).toMatchObject({ code: 1 });
      expect(readdirSync(old.memtxDir).some((n) => n.endsWith('.snap')), old.memtxDir).toBe(true);
    }

    // The site checks clean but for that face (the checker follows sf-api's shards and the extraction-api's model).
    const report = await checkSiteState(state);
    console.log(`integrity check: ${JSON.stringify(report.issues.filter((i) => i.severity === 'error'))}`);
    // Its only errors are the face whose images were removed before the migration: the images, and so its record.
    const errors = report.issues.filter((i) => i.severity === 'error').map((i) => [i.kind, i.gallery, String(i.recordId)]);
    expect(errors.sort()).toEqual([['missing-file', lost.gallery, lost.record_id], ['missing-file', lost.gallery, lost.record_id], ['missing-record', lost.gallery, lost.record_id]]);

    // The agents serve the new shards; the snapshot taken after records the new model.
    const agents = await fleet.json<{ host: string; components: { kind: string; name: string }[] }[]>('agents', 'list', '--site', SITE);
    expect(agents.find((a) => a.host === 'tnt')?.components.filter((c) => c.kind === 'tarantool').map((c) => c.name)).toEqual(state.shards.map((x) => shiftedShardName(x.name, 10)));
    expect(d.snapshotAfterId).toBeTruthy();

    // A restore of the snapshot taken before the migration is refused, naming both models.
    const refused = await cli(fleet, ['restore', '--site', SITE, '--snapshot', before, '--yes']);
    console.log(`restore of the pre-migration snapshot: exit ${refused.code}: ${refused.stderr}`);
    expect(refused.code).toBe(EXIT_CODES.VALIDATION);
    expect(refused.stderr).toContain(state.vectors.models.ffsec_face_objects);
    expect(refused.stderr).toContain(newModel);
    expect(refused.stderr).toContain('ffkeeper migrate rollback');
  }, 900_000);

  it('rollback: sf-api, the extraction-api and the agents back on the old shards and model, what was written since carried back; integrity as before', async () => {
    const oldModel = state.vectors.models.ffsec_face_objects;
    if (!lost) throw new Error('the migration test did not run');
    const gone = lost;
    // findface-security writes on the migrated site for a while: those records exist only in the new shards.
    const count = async (): Promise<number> => (await faceRows(state)).length;
    const n0 = await count();
    expect(await shim(state, 'systemctl', ['start', 'findface-security'])).toMatchObject({ code: 0 });
    await waitFor(async () => (await count()) >= n0 + 5, 120_000, 500);
    expect(await shim(state, 'systemctl', ['stop', 'findface-security'])).toMatchObject({ code: 0 });

    const r = await cli(fleet, ['migrate', 'rollback', '--site', SITE, '--yes']);
    console.log(r.stdout, r.stderr);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toMatch(/records written since the switch, carried back to the old shards: [1-9]\d*/);
    // The normalized images the regeneration replaced are back (the old vectors below are theirs), none kept aside.
    expect(r.stdout).toMatch(/normalized images the migration had made again, put back as they were: [1-9]\d*/);
    expect(readdirSync(state.uploads.ffuploadDir).filter((n) => n.startsWith('.ffk-migration-'))).toEqual([]);
    expect((await http<{ detector: string }>((state.extractionApi as { port: number }).port, '/models')).body.detector).toBe(DEV_DETECTOR);

    const served = (await http<{ shards: { name: string }[] }>(state.sfApi.port, '/')).body.shards.map((x) => x.name);
    expect(served).toEqual(state.shards.map((x) => x.name));
    expect(await shim(state, 'systemctl', ['stop', 'findface-security'])).toMatchObject({ code: 0 });
    const rows = await faceRows(state);
    const checked = await expectVectors(state, rows, oldModel, (f) => f.record_id === gone.record_id && f.gallery === gone.gallery);
    expect(checked).toBe(rows.length - 1);
    for (const old of state.shards) {
      const neu = shiftedShardName(old.name, 10);
      expect(await shim(state, 'systemctl', ['is-active', `tarantool@${neu}`]), neu).toMatchObject({ code: 3 });
      expect(await shim(state, 'systemctl', ['is-enabled', `tarantool@${neu}`]), neu).toMatchObject({ code: 1 });
      expect(await shim(state, 'systemctl', ['is-enabled', old.unit]), old.unit).toMatchObject({ code: 0 });
    }
    const agents = await fleet.json<{ host: string; components: { kind: string; name: string }[] }[]>('agents', 'list', '--site', SITE);
    expect(agents.find((a) => a.host === 'tnt')?.components.filter((c) => c.kind === 'tarantool').map((c) => c.name)).toEqual(state.shards.map((x) => x.name));
    // The old shards kept the face whose image is gone: only the image is missing now.
    const report = await checkSiteState(state);
    const errors = report.issues.filter((i) => i.severity === 'error').map((i) => [i.kind, i.gallery, String(i.recordId)]);
    expect(errors).toEqual([['missing-file', gone.gallery, gone.record_id], ['missing-file', gone.gallery, gone.record_id]]);
  }, 600_000);

  it('finish: refused for a rolled-back migration; after a migration it removes the old shards, and the agents serve the new ones from their cache alone', async () => {
    const refused = await cli(fleet, ['migrate', 'finish', '--site', SITE, '--yes']);
    expect(refused.code).toBe(EXIT_CODES.ILLEGAL_STATE);
    expect(refused.stderr).toContain('was rolled back');
    // Finish on a small site of its own: what it does to shards, images and agents does not depend on how
    // many faces moved, and a second migration of the 5,000 faces above would double this file's time.
    // (Which port offset a migration after a rollback takes is planner.test.ts's.) A detector change alone:
    // the site's model stays, every face re-extracted from the image the other detector makes.
    const small = await fleet.addSite({ site: SMALL, dossiers: 40, events: 40, imageScale: 0.2 });
    await snapshotVerified(fleet, SMALL);
    const r = await cli(fleet, ['migrate', 'start', '--site', SMALL, '--to-model', modelFileOf(small.vectors.models.ffsec_face_objects), '--to-detector', OTHER_DETECTOR, '--yes']);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(r.stdout).toContain(`(detector ${OTHER_DETECTOR})`);
    const f = await cli(fleet, ['migrate', 'finish', '--site', SMALL, '--yes']);
    console.log(f.stdout, f.stderr);
    expect(f.code, f.stderr + f.stdout).toBe(0);
    // The images the regeneration replaced are removed with the old shards.
    expect(f.stdout).toMatch(/normalized image\(s\) the regeneration replaced, removed/);
    expect(readdirSync(small.uploads.ffuploadDir).filter((n) => n.startsWith('.ffk-migration-'))).toEqual([]);
    for (const old of small.shards) {
      expect(f.stdout).toContain(`tnt ${old.name}:`);
      expect(existsSync(old.instanceFile), old.instanceFile).toBe(false);
      expect(existsSync(old.dir), old.dir).toBe(false);
    }
    // Started again, the agent of the shards serves the new ones from migrated-shards.json (the old shards' files are gone).
    type Listed = { host: string; status: string; startedAt: string; components: { kind: string; name: string }[] };
    const tntNow = async (): Promise<Listed | undefined> => (await fleet.json<Listed[]>('agents', 'list', '--site', SMALL)).find((a) => a.host === 'tnt');
    const firstRun = (await tntNow())?.startedAt;
    await fleet.agents.get(`${SMALL}/tnt`)?.kill();
    fleet.startAgent(SMALL, 'tnt');
    // The killed run's presence stays listed online until its TTL: wait for the new run's.
    await waitFor(async () => {
      const tnt = await tntNow();
      return tnt?.status === 'online' && tnt.startedAt !== firstRun && tnt.components.filter((c) => c.kind === 'tarantool').map((c) => c.name).join(',') === small.shards.map((x) => shiftedShardName(x.name, 10)).join(',');
    }, 60_000, 1000);
    const snap = await cli(fleet, ['snapshot', 'create', '--site', SMALL, '--wait']);
    expect(snap.code, snap.stderr).toBe(0);
    const back = await cli(fleet, ['migrate', 'rollback', '--site', SMALL, '--yes']);
    expect(back.code).toBe(EXIT_CODES.ILLEGAL_STATE);
    expect(back.stderr).toContain('its old shards are removed');
  }, 600_000);
});
