/**
 * What a model migration (issue 17) acts on in a dev site: the extraction-api (its configured model,
 * deterministic vectors per model, the per-face cost, the call counter), sf-api following an edited shard
 * list after a restart, a new shard made by writing an instance file, the generated config files parsing
 * back, and every face's vector being its normalized image's vector under the site's model.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { facen, galleryModelOf, modelFileOf, ShardSet, shardUrl, startWriter, stopWriter, upSite, type SiteState } from '../../deploy/dev-site/index.js';
import { shardIndexOf } from '../../deploy/dev-site/state.js';
import { parseExtractionApiConfig, setExtractionModel, setFaceDetector } from '../../shared/findface/extraction-api-ini.js';
import { DEV_DETECTOR, normalizeFace, OTHER_DETECTOR } from '../../deploy/dev-site/facen.js';
import { parseInstanceFile } from '../../shared/findface/instance-file.js';
import { parseSfApiConfig, setSfApiShards } from '../../shared/findface/sf-api-ini.js';
import { freePort } from '../../shared/net.js';
import { loadAgentConfig } from '../../shared/config/agent.js';
import { shiftedShardName } from '../../shared/findface/instance-file.js';
import { parseGalleryModel } from '../../shared/findface/models.js';
import { SystemctlServiceManager } from '../../agent/adapters/systemctl.js';
import { HostMigrationAccess } from '../../agent/adapters/migration.js';
import { followRunbook } from '../../deploy/dev-site/runbook.js';
import { sample, survey } from '../../agent/domain/migration/survey.js';
import { buildMigrationPlan } from '../../controller/domain/migration/plan.js';
import { cleanRoot, faceRows, runShim, superuserClient, testRoot, uniqueSite } from './fixtures.js';

const root = testRoot();
const site = uniqueSite('ext');
const COST_MS = 20;

const shim = runShim;

async function http<T>(port: number, route: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  // A kept-alive connection to a service that has restarted since is closed on the first use: ask again.
  const res = await fetch(`http://127.0.0.1:${port}${route}`, init).catch(() => fetch(`http://127.0.0.1:${port}${route}`, init));
  return { status: res.status, body: (await res.json()) as T };
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

describe('dev site: what a model migration needs', () => {
  let state: SiteState;
  let ex: NonNullable<SiteState['extractionApi']>;
  let image: Buffer;
  const iniOf = (): string => readFileSync(ex.configPath, 'utf8');
  const restart = (unit: string): ReturnType<typeof runShim> => shim(state, 'systemctl', ['restart', unit]);

  beforeAll(async () => {
    ({ state } = await upSite({ site, root, shards: 2, dossiers: 40, events: 60, vectorDim: 16, imageScale: 0.05, extraction: { cost: { faceCostMs: COST_MS }, instances: 2 } }));
    ex = state.extractionApi as NonNullable<SiteState['extractionApi']>;
    image = readFileSync(path.join(state.uploads.ffuploadDir, 'dossier_faces/000000/1.jpg'));
  }, 120_000);

  afterAll(() => cleanRoot(root), 60_000);

  it.each([
    ['face-mango-512', 'face/mango_512.cpu.fnk'],
    ['face-elderberry-576-r2', 'face/elderberry_576.r2.cpu.fnk'],
    ['body-reid-64', 'body/reid_64.cpu.fnk'],
  ])('names gallery model %s by model file %s and back', (model, file) => {
    expect(modelFileOf(model)).toBe(file);
    expect(galleryModelOf(file)).toBe(model);
    expect(facen(model, image)).toHaveLength(4 * Number(/\d+/.exec(model)?.[0]));
  });

  it('serves the configured model with deterministic vectors that differ between models, and counts calls', async () => {
    const model = state.vectors.models.ffsec_face_objects;
    const models = await http<{ models: Record<string, { file: string; model: string; dim: number }>; available: string[] }>(ex.port, '/models');
    expect(models.body.models.face).toEqual({ kind: 'face', file: modelFileOf(model), model, dim: 16 });
    expect(models.body.available).toEqual(expect.arrayContaining(['face/mango_16.cpu.fnk', 'face/ifruit_16.cpu.fnk']));
    await http(ex.port, '/stats', { method: 'DELETE' });
    const one = await http<{ facen: string; model: string }>(ex.port, '/v2/extract', { method: 'POST', body: image });
    const again = await http<{ facen: string }>(ex.port, '/v2/extract?kind=face', { method: 'POST', body: image });
    expect(one.body.model).toBe(model);
    expect(one.body.facen).toBe(b64(facen(model, image)));
    expect(again.body.facen).toBe(one.body.facen);
    const batch = await http<{ results: Array<{ facen?: string; error?: string }> }>(ex.port, '/v2/extract/batch', {
      method: 'POST', body: JSON.stringify({ images: [b64(image), b64(Buffer.from('not an image')), b64(image)] }),
    });
    expect(batch.body.results).toEqual([{ facen: one.body.facen }, { error: 'cannot decode image: not a JPEG (12 bytes)' }, { facen: one.body.facen }]);
    const bad = await http<{ detail: string }>(ex.port, '/v2/extract', { method: 'POST', body: Buffer.from('x') });
    expect(bad).toEqual({ status: 422, body: { detail: 'cannot decode image: not a JPEG (1 bytes)' } });
    const tooMany = await http<{ detail: string }>(ex.port, '/v2/extract/batch', { method: 'POST', body: JSON.stringify({ images: Array<string>(17).fill(b64(image)) }) });
    expect(tooMany).toEqual({ status: 400, body: { detail: 'images: 17 images, at most max_batch_size 16 per batch' } });
    expect((await http(ex.port, '/stats')).body).toMatchObject({ requests: 4, batches: 1, faces: 4, failed: 2 });

    // The migration's edit: the face: line, then a restart.
    writeFileSync(ex.configPath, setExtractionModel(iniOf(), 'face', 'face/ifruit_16.cpu.fnk', ex.configPath));
    expect(await restart('findface-extraction-api')).toMatchObject({ code: 0 });
    const ifruit = await http<{ facen: string; model: string }>(ex.port, '/v2/extract', { method: 'POST', body: image });
    expect(ifruit.body.model).toBe('face-ifruit-16');
    expect(ifruit.body.facen).toBe(b64(facen('face-ifruit-16', image)));
    expect(ifruit.body.facen).not.toBe(one.body.facen);
    expect((await http(ex.port, '/stats')).body).toMatchObject({ requests: 1, faces: 1 }); // counted since the restart

    // A model whose file is not under models_root: the unit does not start, naming the file.
    writeFileSync(ex.configPath, setExtractionModel(iniOf(), 'face', 'face/kiwi_16.cpu.fnk', ex.configPath));
    const missing = await restart('findface-extraction-api');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`model file 'face/kiwi_16.cpu.fnk' not found in ${ex.modelsRoot}`);
    writeFileSync(ex.configPath, setExtractionModel(iniOf(), 'face', modelFileOf(model), ex.configPath));
    expect(await restart('findface-extraction-api')).toMatchObject({ code: 0 });
  }, 120_000);

  it('makes normalized images of source photos with its configured face detector, and another after a detector switch', async () => {
    const photo = readFileSync(path.join(state.uploads.uploadsDir, 'dossier_faces/000000/1_photo.jpg'));
    expect((await http<{ detector: string }>(ex.port, '/models')).body.detector).toBe(DEV_DETECTOR);
    await http(ex.port, '/stats', { method: 'DELETE' });
    const r = await http<{ detector: string; results: Array<{ normalized?: string; error?: string }> }>(ex.port, '/v2/detect/batch', { method: 'POST', body: JSON.stringify({ images: [b64(photo), b64(Buffer.from('blur'))] }) });
    expect(r.body).toEqual({ detector: DEV_DETECTOR, results: [{ normalized: b64(normalizeFace(DEV_DETECTOR, photo)) }, { error: 'no face detected: not a JPEG (4 bytes)' }] });
    expect((await http(ex.port, '/stats')).body).toMatchObject({ detected: 1, failed: 1, faces: 0 });
    // A normalized image is a JPEG an eighth of the photo's size, deterministic, and the detector's own.
    const n = normalizeFace(DEV_DETECTOR, photo);
    expect([n[0], n[1], n.length]).toEqual([0xff, 0xd8, Math.max(64, Math.floor(photo.length / 8))]);
    expect(normalizeFace(OTHER_DETECTOR, photo).equals(n)).toBe(false);

    writeFileSync(ex.configPath, setFaceDetector(iniOf(), OTHER_DETECTOR, ex.configPath));
    expect(await restart('findface-extraction-api')).toMatchObject({ code: 0 });
    const other = await http<{ detector: string; results: Array<{ normalized?: string }> }>(ex.port, '/v2/detect/batch', { method: 'POST', body: JSON.stringify({ images: [b64(photo)] }) });
    expect(other.body).toEqual({ detector: OTHER_DETECTOR, results: [{ normalized: b64(normalizeFace(OTHER_DETECTOR, photo)) }] });
    // A detector whose file is not under models_root: the unit does not start, naming the file.
    writeFileSync(ex.configPath, setFaceDetector(iniOf(), 'detector/none.cpu.fnk', ex.configPath));
    const missing = await restart('findface-extraction-api');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`face detector file 'detector/none.cpu.fnk' not found in ${ex.modelsRoot}`);
    writeFileSync(ex.configPath, setFaceDetector(iniOf(), DEV_DETECTOR, ex.configPath));
    expect(await restart('findface-extraction-api')).toMatchObject({ code: 0 });
  }, 120_000);

  it('takes the configured time per face: sleeping on its instances, or busy', async () => {
    const eight = JSON.stringify({ images: Array<string>(8).fill(b64(image)) });
    let t0 = performance.now();
    await http(ex.port, '/v2/extract/batch', { method: 'POST', body: eight });
    expect(performance.now() - t0).toBeGreaterThanOrEqual((8 * COST_MS) / 2 - 2); // 8 faces on 2 instances
    writeFileSync(ex.configPath, iniOf().replace('cost: sleep', 'cost: busy').replace(`face_cost_ms: ${COST_MS}`, 'face_cost_ms: 15'));
    expect(await restart('findface-extraction-api')).toMatchObject({ code: 0 });
    t0 = performance.now();
    await http(ex.port, '/v2/extract/batch', { method: 'POST', body: JSON.stringify({ images: Array<string>(4).fill(b64(image)) }) });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(4 * 15 - 2); // one at a time, whatever the instances
  }, 60_000);

  it("stores every face's vector as the extraction of its normalized image under the site's model, the writer's too", async () => {
    await startWriter(state, { rate: 20 });
    await new Promise((r) => setTimeout(r, 2_000));
    await stopWriter(state);
    const db = await superuserClient(state);
    const shards = await ShardSet.connect(state.shards);
    try {
      for (const [table, gallery] of [['ffsecurity_dossierface', 'ffsec_face_objects'], ['ffsecurity_event', 'ffsec_face_events']] as const) {
        const rows = (await db.query<{ record_id: string; normalized: string }>(`SELECT record_id, normalized FROM ${table}`)).rows;
        const records = await shards.records(gallery, rows.map((r) => Number(r.record_id)));
        expect(records).toHaveLength(rows.length);
        const model = state.vectors.models[gallery];
        const wrong = records.filter((r) => b64(r.feat) !== b64(facen(model, readFileSync(path.join(state.uploads.ffuploadDir, r.norm)))));
        expect(wrong.map((r) => r.id)).toEqual([]);
      }
    } finally {
      shards.close();
      await db.end();
    }
  }, 60_000);

  it('writes config files in FindFace layout that parse back, and make_tnt_schema follows the extraction model', async () => {
    const sf = parseSfApiConfig(readFileSync(state.sfApi.configPath, 'utf8'), state.sfApi.configPath);
    expect(state.sfApi.configPath).toBe(path.join(state.siteDir, 'etc', 'findface-sf-api.ini'));
    expect(sf).toEqual({ listen: { host: '127.0.0.1', port: state.sfApi.port }, extractionApiUrl: `http://127.0.0.1:${ex.port}`, normalizedUploadUrl: `http://127.0.0.1:${state.upload?.port}/uploads/`, shards: state.shards.map((s) => shardUrl(s.httpPort)) });
    const extraction = parseExtractionApiConfig(iniOf(), ex.configPath);
    expect(extraction).toMatchObject({ listen: { port: ex.port }, modelsRoot: ex.modelsRoot, models: { face: { file: 'face/mango_16.cpu.fnk', dim: 16 } } });
    for (const shard of state.shards) {
      const file = path.join(state.siteDir, 'etc', 'tarantool', 'instances.available', `${shard.name}.lua`);
      expect(parseInstanceFile(readFileSync(file, 'utf8'), file)).toEqual({
        listen: { host: '127.0.0.1', port: shard.port }, workDir: shard.dir, memtxDir: shard.memtxDir, walDir: shard.walDir, vinylDir: shard.vinylDir,
        memtxMemory: shard.memtxMemoryBytes, http: { host: '127.0.0.1', port: shard.httpPort },
        tntSchema: path.join(state.siteDir, 'etc', 'findface-security', 'tnt_schema.lua'),
      });
    }
    const schemaFile = path.join(state.siteDir, 'etc', 'findface-security', 'tnt_schema.lua');
    const printed = await shim(state, 'findface-security', ['make_tnt_schema']);
    expect(printed).toMatchObject({ code: 0, stdout: readFileSync(schemaFile, 'utf8') });
    expect(printed.stdout).toContain("{name = 'ffsec_face_objects', model = 'face-mango-16', dim = 16},");
    writeFileSync(ex.configPath, setExtractionModel(iniOf(), 'face', 'face/ifruit_16.cpu.fnk', ex.configPath));
    try {
      const next = (await shim(state, 'findface-security', ['make_tnt_schema'])).stdout;
      expect(next).toContain("{name = 'ffsec_face_events', model = 'face-ifruit-16', dim = 16},");
      expect(next).toContain("{name = 'ffsec_body_objects', model = 'body-reid-16', dim = 16},");
    } finally {
      writeFileSync(ex.configPath, setExtractionModel(iniOf(), 'face', 'face/mango_16.cpu.fnk', ex.configPath));
    }
  }, 60_000);

  it('starts a new shard from an instance file written as the reference says, and sf-api follows an edited shard list after a restart', async () => {
    const etc = path.join(state.siteDir, 'etc', 'tarantool');
    const old = state.shards[0] as NonNullable<SiteState['shards'][0]>;
    const [port, httpPort] = [await freePort(), await freePort()];
    const dir = path.join(state.siteDir, 'tarantool', 'shard-011');
    for (const d of ['index', 'snapshots', 'xlogs']) mkdirSync(path.join(dir, d), { recursive: true });
    const text = readFileSync(path.join(etc, 'instances.available', 'shard-001.lua'), 'utf8')
      .replaceAll(`127.0.0.1:${old.port}`, `127.0.0.1:${port}`)
      .replaceAll(old.dir, dir)
      .replace(`FindFace.start('127.0.0.1', ${old.httpPort},`, `FindFace.start('127.0.0.1', ${httpPort},`);
    writeFileSync(path.join(etc, 'instances.available', 'shard-011.lua'), text);
    expect(await shim(state, 'systemctl', ['start', 'tarantool@shard-011'])).toMatchObject({ code: 5 }); // not enabled yet: no such unit
    symlinkSync(path.join(etc, 'instances.available', 'shard-011.lua'), path.join(etc, 'instances.enabled', 'shard-011.lua'));
    expect(await shim(state, 'systemctl', ['start', 'tarantool@shard-011'])).toMatchObject({ code: 0 });
    expect(await shim(state, 'systemctl', ['is-active', 'tarantool@shard-011'])).toMatchObject({ code: 0, stdout: 'active\n' });

    const model = state.vectors.models.ffsec_face_objects;
    const fresh = await ShardSet.connect([{ ...old, name: 'shard-011', unit: 'tarantool@shard-011', port }]);
    try {
      await fresh.insert('ffsec_face_objects', model, [{ id: 7, feat: facen(model, image), norm: 'dossier_faces/000000/1.jpg', meta: { face_id: 7 } }]);
    } finally {
      fresh.close();
    }
    const sfIni = state.sfApi.configPath;
    const original = readFileSync(sfIni, 'utf8');
    writeFileSync(sfIni, setSfApiShards(original, [shardUrl(httpPort)], sfIni));
    expect(await restart('findface-sf-api')).toMatchObject({ code: 0 });
    expect((await http<{ shards: unknown[] }>(state.sfApi.port, '/')).body.shards).toEqual([{ master: shardUrl(httpPort), name: 'shard-011', iproto: port, http: httpPort }]);
    const record = await http<{ shard: string; feat: string; model: string }>(state.sfApi.port, '/v2/galleries/ffsec_face_objects/faces/7');
    expect(record).toMatchObject({ status: 200, body: { shard: 'shard-011', model, feat: b64(facen(model, image)) } });
    const galleries = await http<{ galleries: Array<{ name: string; count: number }> }>(state.sfApi.port, '/v2/galleries');
    expect(galleries.body.galleries.find((g) => g.name === 'ffsec_face_objects')?.count).toBe(1);

    // Old shards stopped and disabled (kept), then back: the original list serves the site's records again.
    expect(await shim(state, 'systemctl', ['disable', 'tarantool@shard-001'])).toMatchObject({ code: 0 });
    expect(await shim(state, 'systemctl', ['is-enabled', 'tarantool@shard-001', 'tarantool@shard-011'])).toMatchObject({ code: 1, stdout: 'disabled\nenabled\n' });
    expect(await shim(state, 'systemctl', ['enable', 'tarantool@shard-001'])).toMatchObject({ code: 0 });
    writeFileSync(sfIni, original);
    expect(await restart('findface-sf-api')).toMatchObject({ code: 0 });
    // A face the site still has (the writer of an earlier test may have deleted any given one).
    const db = await superuserClient(state);
    const face = await db.query<{ record_id: string; normalized: string }>('SELECT record_id, normalized FROM ffsecurity_dossierface ORDER BY record_id LIMIT 1').finally(() => db.end());
    const { record_id: id, normalized } = face.rows[0] as { record_id: string; normalized: string };
    const back = await http<{ shard: string; feat: string }>(state.sfApi.port, `/v2/galleries/ffsec_face_objects/faces/${id}`);
    const feat = b64(facen(model, readFileSync(path.join(state.uploads.ffuploadDir, normalized))));
    expect(back).toMatchObject({ status: 200, body: { shard: state.shards[shardIndexOf(Number(id), state.shards.length)]?.name, feat } });
    expect((await http<{ detail: string }>(state.sfApi.port, '/v2/galleries/ffsec_face_objects/faces/999999')).status).toBe(404);
    expect(await shim(state, 'systemctl', ['stop', 'tarantool@shard-011'])).toMatchObject({ code: 0 });
  }, 120_000);

  // Issue 17: `migrate plan`'s runbook is right when following it migrates the site. The plan is built from
  // the agents' own surveys (in process here: no controller), then each step's commands and file writes run
  // as an operator would run them, through the site's shims (systemctl, findface-security,
  // findface-sf-api-migrate). Port offset 100: the test above made a shard-011 already.
  it('the runbook of migrate plan, run step by step, moves every face to the new model in new shards; a face without its image is listed', async () => {
    const tnt = loadAgentConfig(state.agentConfigs.tnt as string, {});
    const files = loadAgentConfig(state.agentConfigs.files as string, {});
    const host = new HostMigrationAccess({ pathPrepend: tnt.pathPrepend, services: new SystemctlServiceManager({ pathPrepend: tnt.pathPrepend }) });
    const current = parseGalleryModel(state.vectors.models.ffsec_face_objects);
    const toModel = `face/ifruit_${current.dim}.cpu.fnk`;
    const newModel = galleryModelOf(toModel);
    const surveys = [await survey(tnt, host, { toModel, portOffset: 100 }), await survey(files, host, { toModel, portOffset: 100 })];
    const extractionApiUrl = `http://127.0.0.1:${ex.port}`;
    const taken = await sample(files, host, { op: 'sample', extractionApiUrl, faces: 16, batchSize: 8, concurrency: 3 });
    const plan = buildMigrationPlan({ site: state.site, now: new Date(), toModel, portOffset: 100, offline: [], surveys, sample: taken, verified: { id: 'stand-in', createdAt: new Date(), verifiedAt: new Date() } });
    expect(plan.checks.filter((c) => !c.ok)).toEqual([]);

    // Before: what sf-api serves, every face's record id and normalized image; one event loses its image.
    const faces = { rows: await faceRows(state) };
    const lost = faces.rows.find((f) => f.gallery === 'ffsec_face_events');
    if (!lost) throw new Error('no event');
    rmSync(path.join(state.uploads.ffuploadDir, lost.normalized));
    const countsBefore = (await http<{ galleries: { name: string; count: number }[] }>(state.sfApi.port, '/v2/galleries')).body.galleries;

    const work = mkdtempSync(path.join(root, 'runbook-'));
    const runs = await followRunbook(state, plan.steps, {
      cwd: work,
      // ffkeeper's own snapshot needs a controller; the dev site has no video units to restart.
      skip: (step) => step.commands.some((c) => c.startsWith('ffkeeper ') || c.includes('findface-video-')),
    });
    const migrateOut = runs.find((r) => r.title.startsWith('Re-extract'))?.output ?? '';
    // The extraction-api restarted with the new model before the re-extraction: its count since is that run's alone.
    const extractedByMigration = (await http<{ faces: number }>(ex.port, '/stats')).body.faces;
    for (const unit of ['findface-security', 'findface-extraction-api', 'findface-sf-api']) expect(await restart(unit)).toMatchObject({ code: 0 });
    console.log(`findface-sf-api-migrate:\n${migrateOut}`);
    expect(migrateOut).toContain(`face ${lost.record_id} of ffsec_face_events not migrated: normalized image ${lost.normalized}: missing`);

    // sf-api serves the new shards; every face there holds its image's vector under the new model.
    const served = (await http<{ shards: { name: string }[] }>(state.sfApi.port, '/')).body.shards.map((x) => x.name);
    expect(served).toEqual(state.shards.map((x) => shiftedShardName(x.name, 100)));
    // findface-security, restarted by the runbook, writes to the shards sf-api serves now: stopped, so that
    // every face row it left has its record — counted against sf-api, each checked.
    expect(await shim(state, 'systemctl', ['stop', 'findface-security'])).toMatchObject({ code: 0 });
    const now = { rows: await faceRows(state) };
    const isLost = (f: { gallery: string; record_id: string }): boolean => f.gallery === lost.gallery && f.record_id === lost.record_id;
    const countsAfter = (await http<{ galleries: { name: string; models: string[]; count: number }[] }>(state.sfApi.port, '/v2/galleries')).body.galleries;
    for (const g of countsBefore) {
      const after = countsAfter.find((a) => a.name === g.name);
      if (g.name.startsWith('ffsec_face_')) expect(after?.count, g.name).toBe(now.rows.filter((f) => f.gallery === g.name && !isLost(f)).length);
      else expect(after?.count, g.name).toBe(g.count);
      if (g.name.startsWith('ffsec_face_') && g.count > 0) expect(after?.models, g.name).toEqual([newModel]);
    }
    let checked = 0;
    for (const f of now.rows) {
      if (isLost(f)) continue;
      const r = await http<{ feat: string; model: string; shard: string }>(state.sfApi.port, `/v2/galleries/${f.gallery}/faces/${f.record_id}`);
      expect(r.status, `${f.gallery} ${f.record_id}`).toBe(200);
      expect(r.body.feat, `${f.gallery} ${f.record_id}`).toBe(b64(facen(newModel, readFileSync(path.join(state.uploads.ffuploadDir, f.normalized)))));
      checked++;
    }
    expect(checked).toBe(now.rows.filter((f) => !isLost(f)).length);
    // Each face extracted once: the extraction-api counted exactly the faces migrated.
    expect(migrateOut).toMatch(new RegExp(`migrated ${faces.rows.length - 1} faces with ${toModel.replace(/[./]/g, '\\$&')}`));
    expect(extractedByMigration).toBe(faces.rows.length - 1);
    // The old shards: stopped, disabled, their data kept.
    for (const old of state.shards) {
      expect(await shim(state, 'systemctl', ['is-active', old.unit]), old.unit).toMatchObject({ code: 3 });
      expect(await shim(state, 'systemctl', ['is-enabled', old.unit]), old.unit).toMatchObject({ code: 1 });
      expect(readdirSync(old.memtxDir).some((n) => n.endsWith('.snap')), old.memtxDir).toBe(true);
    }
  }, 300_000);
});
