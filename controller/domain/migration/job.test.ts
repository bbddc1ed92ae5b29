import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../../shared/errors.js';
import type { AgentEntry } from '../../../shared/fleet.js';
import type { JobEvent, JobRecord } from '../../../shared/jobs.js';
import { silentLogger } from '../../../shared/logger.js';
import type { MigrationOpResult } from '../../../shared/migration/ops.js';
import type { MigrationRequest, MigrationResult } from '../../../shared/migration/survey.js';
import { JobRunner } from '../jobs.js';
import type { EventLog } from '../ports.js';
import { facts, SAMPLE, surveysWithDetector } from './fixtures.test-support.js';
import { MigrationJobs, type MigrationDetail, type RollbackDetail } from './job.js';
import { buildMigrationPlan } from './plan.js';
import { MemoryJobs } from '../jobs.test-support.js';

const events: EventLog = { publish: (_e: JobEvent) => Promise.resolve(), history: () => Promise.resolve([]) };
const DEADLINES = { protocolMs: 1000, prepareMs: 1000, unitControlMs: 1000, checkMs: 1000, transferMs: 1000, agentReturnMs: 2000 };

/**
 * The site's agents as the job sees them: `tnt` holds shard-001/-002, sf-api and the extraction-api; `db`
 * runs findface-security. Each gallery re-extracts in batches of 100 (1,100 and 1,200 faces per shard).
 */
class FakeSite {
  calls: string[] = [];
  adopted = false;
  /** Throws once at the n-th reextract call. */
  failAtReextract: number | undefined;
  failSetShards = false;
  /** Throws once at the n-th regenerate call. */
  failAtRegenerate: number | undefined;
  /** Record ids of each face gallery's faces in findface-security's database (`face-sources`). */
  faceIds: Record<string, number[]> = { ffsec_face_objects: [1, 2, 3, 4, 5], ffsec_face_events: [7, 9] };
  private regenerates = 0;
  private reextracts = 0;
  private cursors = new Map<string, number>();

  agents(): AgentEntry[] {
    const shards = this.adopted ? ['shard-011', 'shard-012'] : ['shard-001', 'shard-002'];
    const entry = (host: string, roles: string[], components: AgentEntry['description']['components']): AgentEntry =>
      ({ status: 'online', description: { host, site: 'msk-1', grpcAddress: `${host}:1`, roles, components } }) as unknown as AgentEntry;
    return [entry('tnt', ['tarantool', 'sf-api', 'extraction-api'], shards.map((name) => ({ kind: 'tarantool', name })) as AgentEntry['description']['components']), entry('db', ['postgres', 'findface-security'], []), entry('files', ['uploads'], [])];
  }

  migration(address: string, req: MigrationRequest): Promise<MigrationResult> {
    const host = address.split(':')[0];
    const r = this.answer(host ?? '?', req);
    return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
  }

  private answer(host: string, req: MigrationRequest): MigrationOpResult | Error {
    const edit = { path: '/etc/x', changed: true, diff: '' };
    switch (req.op) {
      case 'unit': {
        const t = req.target.kind === 'shard' ? `${req.target.shard}${req.target.portOffset ? `+${req.target.portOffset}` : ''}` : req.target.kind;
        if (req.action !== 'status') this.calls.push(`${host} ${req.action} ${t}`);
        return { op: 'unit', unit: t, active: true };
      }
      case 'reextract': {
        if (++this.reextracts === this.failAtReextract) return new UnavailableError('agent tnt:1 unavailable: Connection dropped');
        const key = `${req.shard}/${req.gallery}${req.reverse ? '/back' : ''}`;
        const total = req.reverse ? 0 : req.gallery === 'ffsec_face_objects' ? 100 * Number(req.shard.slice(-1)) : 1000;
        const at = this.cursors.get(key) ?? 0;
        const n = Math.min(100, total - at);
        this.cursors.set(key, at + n);
        this.calls.push(`${host} reextract ${key} ${at}+${n}`);
        return { op: 'reextract', batch: { gallery: req.gallery, cursor: String(at + n), read: n, written: n, failed: [], extracted: n, done: at + n >= total, ms: 1 } };
      }
      case 'shard-galleries': {
        const neu = req.portOffset !== undefined;
        const n = Number(req.shard.slice(-1));
        const count = (g: string): number => (g === 'ffsec_face_objects' ? 100 * n : 1000) - (neu ? 0 : 0);
        return { op: 'shard-galleries', galleries: { shard: req.shard, address: '-', galleries: ['ffsec_face_objects', 'ffsec_face_events'].map((name) => ({ name, model: neu ? 'face-ifruit-512' : 'face-mango-512', dim: 512, count: count(name) })) } };
      }
      case 'migration-progress': {
        const n = Number(req.shard.slice(-1));
        return { op: 'migration-progress', progress: { shard: req.shard, galleries: { ffsec_face_objects: { cursor: '', written: 100 * n, failed: 0, done: true }, ffsec_face_events: { cursor: '', written: 1000, failed: 0, done: true } }, failed: [] } };
      }
      case 'set-sf-api-shards':
        this.calls.push(`${host} set-sf-api-shards ${req.to.join(',')}`);
        if (this.failSetShards) return new UnavailableError('disk full');
        return { op: 'set-sf-api-shards', edit };
      case 'adopt':
        this.calls.push(`${host} adopt ${req.undo ? 'undo' : req.shards.join(',')}`);
        this.adopted = !req.undo;
        return { op: 'adopt', file: '/c', changed: true, serving: [] };
      case 'create-shard':
        this.calls.push(`${host} create-shard ${req.shard}`);
        return { op: 'create-shard', shard: { from: req.shard, name: req.shard.replace('-00', '-01'), unit: 'u', instanceFile: '/f', dirs: [], listen: { host: '127.0.0.1', port: 1 }, created: true } };
      case 'set-extraction-model':
        this.calls.push(`${host} set-extraction-model ${req.to}${req.toDetector ? ` ${req.toDetector}` : ''}`);
        return { op: 'set-extraction-model', edit };
      case 'make-tnt-schema':
        return { op: 'make-tnt-schema', text: 'meta_scheme = {}' };
      case 'write-tnt-schema':
        this.calls.push(`${host} write-tnt-schema`);
        return { op: 'write-tnt-schema', edit };
      case 'security-setup':
        this.calls.push(`${host} security-setup`);
        return { op: 'security-setup', output: '' };
      case 'reconcile':
        return { op: 'reconcile', gallery: req.gallery, checked: 0, removed: 0 };
      case 'face-sources': {
        const ids = (this.faceIds[req.gallery] ?? []).filter((id) => req.after === '' || id > Number(req.after)).slice(0, req.limit);
        this.calls.push(`${host} face-sources ${req.gallery} after '${req.after}'`);
        return { op: 'face-sources', faces: ids.map((id) => ({ gallery: req.gallery, id: String(id), source: `s/${id}.jpg`, normalized: `n/${id}.jpg` })), done: ids.length < req.limit };
      }
      case 'regenerate': {
        if (++this.regenerates === this.failAtRegenerate) return new UnavailableError('agent files:1 unavailable: Connection dropped');
        this.calls.push(`${host} regenerate ${req.faces.map((f) => f.id).join(',')}`);
        const bad = req.faces.filter((f) => f.gallery === 'ffsec_face_events' && f.id === '9');
        return { op: 'regenerate', detector: 'detector/face.jasmine_fast.004.cpu.fnk', regenerated: req.faces.length - bad.length, failed: bad.map((f) => ({ gallery: f.gallery, id: f.id, reason: 'source photo s/9.jpg: missing' })) };
      }
      case 'normalized-aside':
        this.calls.push(`${host} normalized-aside ${req.action} ${req.migration}`);
        return { op: 'normalized-aside', dir: `/var/lib/ffupload/.ffk-migration-${req.migration}`, files: 6 };
      case 'remove-shard':
        this.calls.push(`${host} remove-shard ${req.shard}`);
        return { op: 'remove-shard', shard: req.shard, removed: [`/var/lib/tarantool/${req.shard}`], bytes: 1 };
      default:
        return new Error(`unexpected ${req.op}`);
    }
  }
}

function setup(over: { ready?: boolean; regenerate?: boolean; toDetector?: string } = {}) {
  const site = new FakeSite();
  const store = new MemoryJobs();
  const jobs = new JobRunner({ store, events, logger: silentLogger() });
  const snapshots: string[] = [];
  const plan = buildMigrationPlan(facts({ ...(over.ready === false ? { verified: undefined } : {}), ...(over.regenerate ? { regenerate: { dbHost: 'db', filesHost: 'files', ...(over.toDetector ? { toDetector: over.toDetector } : {}) } } : {}) }, over.toDetector ? surveysWithDetector() : undefined));
  const migrations = new MigrationJobs({
    planner: { plan: () => Promise.resolve(plan) },
    client: site,
    agentsOf: () => site.agents(),
    jobs,
    jobStore: store,
    deadlines: DEADLINES,
    takeSnapshot: (_site, reason) => {
      snapshots.push(reason);
      return Promise.resolve(`c-${snapshots.length}`);
    },
  });
  return { site, store, migrations, snapshots };
}

const idx = (calls: string[], c: string): number => {
  const i = calls.indexOf(c);
  if (i < 0) throw new Error(`no call '${c}' in:\n${calls.join('\n')}`);
  return i;
};

describe('migrate start', () => {
  it('runs every step in order: writers stopped for the re-extraction, sf-api down only around its edit, the old shards stopped after', async () => {
    const { site, migrations, snapshots } = setup();
    const record = await (await migrations.start({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' })).done;
    expect(record.phase, record.error?.message).toBe('Completed');
    const d = record.detail as unknown as MigrationDetail;
    expect(d.done).toEqual(['plan', 'snapshot', 'create-shards', 'extraction-model', 'tnt-schema', 'start-shards', 'reextract', 'switch', 'adopt', 'security', 'snapshot-after']);
    expect(snapshots).toEqual(['before migrating to face/ifruit_512.cpu.fnk', 'after migrating to face/ifruit_512.cpu.fnk']);
    const c = site.calls;
    expect(idx(c, 'tnt set-extraction-model face/ifruit_512.cpu.fnk')).toBeLessThan(idx(c, 'tnt restart extraction-api'));
    expect(idx(c, 'tnt write-tnt-schema')).toBeLessThan(idx(c, 'tnt start shard-001+10'));
    expect(idx(c, 'db stop findface-security')).toBeLessThan(idx(c, 'tnt reextract shard-001/ffsec_face_objects 0+100'));
    const stopSf = idx(c, 'tnt stop sf-api');
    expect(c.slice(stopSf, stopSf + 3)).toEqual(['tnt stop sf-api', 'tnt set-sf-api-shards http://127.0.0.1:8112/v2/,http://127.0.0.1:8111/v2/', 'tnt start sf-api']);
    expect(idx(c, 'tnt start sf-api')).toBeLessThan(idx(c, 'tnt stop shard-001'));
    expect(idx(c, 'tnt disable shard-001')).toBeLessThan(idx(c, 'tnt adopt shard-002,shard-001'));
    expect(idx(c, 'db security-setup')).toBeLessThan(idx(c, 'db restart findface-security'));
    expect(d.counts?.ffsec_face_events).toEqual({ old: 2000, new: 2000, failed: 0 });
    expect(d.writersStoppedAt).toBeUndefined();
    expect(typeof d.downtimeMs).toBe('number');
  });

  it('refuses a site whose plan is not ready, naming each failed check, before touching it', async () => {
    const { site, migrations, snapshots } = setup({ ready: false });
    const record = await (await migrations.start({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' })).done;
    expect(record.phase).toBe('FailedValidation');
    expect(record.error?.message).toContain('verified snapshot: the site has no verified snapshot');
    expect(site.calls).toEqual([]);
    expect(snapshots).toEqual([]);
  });

  it('an agent lost in the re-extraction: findface-security started again; resume skips the steps done and goes on from the cursors', async () => {
    const { site, migrations, snapshots } = setup();
    site.failAtReextract = 7;
    const failed = await (await migrations.start({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' })).done;
    expect(failed.phase).toBe('Failed');
    expect(failed.step).toBe('reextract');
    expect(site.calls.at(-1)).toBe('db start findface-security');
    const before = site.calls.length;
    const resumed = await (await migrations.resume(failed.id)).done;
    expect(resumed.phase, resumed.error?.message).toBe('Completed');
    const again = site.calls.slice(before);
    expect(again.filter((c) => c.includes('create-shard') || c.includes('set-extraction-model'))).toEqual([]);
    expect(again[0]).toBe('db stop findface-security');
    // Each gallery's batches once in all (the fake's cursors: the new shard's), none after its last.
    const batches = site.calls.filter((c) => c.includes(' reextract ') && !c.endsWith('+0'));
    expect(new Set(batches).size).toBe(batches.length);
    expect(batches).toHaveLength(1 + 10 + 2 + 10); // shard-001: 100 + 1,000 faces; shard-002: 200 + 1,000
    expect(snapshots).toHaveLength(2);
  });

  it('a failed sf-api edit at the switch still starts sf-api (on the old shards)', async () => {
    const { site, migrations } = setup();
    site.failSetShards = true;
    const record = await (await migrations.start({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' })).done;
    expect(record.phase).toBe('Failed');
    const edit = site.calls.findIndex((c) => c.includes('set-sf-api-shards'));
    expect(site.calls.slice(edit + 1, edit + 2)).toEqual(['tnt start sf-api']);
    expect(site.calls).not.toContain('tnt stop shard-001');
    expect(site.calls.at(-1)).toBe('db start findface-security');
  });
});

describe('migrate start --regenerate-normalized', () => {
  it('with findface-security stopped, makes every face gallery\'s normalized images again page by page before the re-extraction; a failed page resumes from the cursor', async () => {
    const { site, migrations } = setup({ regenerate: true });
    site.faceIds.ffsec_face_objects = Array.from({ length: 1000 }, (_, i) => i + 1);
    site.failAtRegenerate = 2;
    const args = { site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk', regenerateNormalized: true };
    const failed = await (await migrations.start(args)).done;
    expect(failed.phase).toBe('Failed');
    expect(failed.step).toBe('regenerate');
    expect(site.calls.at(-1)).toBe('db start findface-security');
    const resumed = await (await migrations.resume(failed.id)).done;
    expect(resumed.phase, resumed.error?.message).toBe('Completed');
    const d = resumed.detail as unknown as MigrationDetail;
    expect(d.done).toEqual(['plan', 'snapshot', 'create-shards', 'extraction-model', 'tnt-schema', 'start-shards', 'regenerate', 'reextract', 'switch', 'adopt', 'security', 'snapshot-after']);
    const c = site.calls;
    // Pages of 480 from each gallery's cursor: the page that failed asked again, none before it.
    expect(c.filter((x) => x.startsWith('db face-sources ffsec_face_objects'))).toEqual([
      "db face-sources ffsec_face_objects after ''",
      "db face-sources ffsec_face_objects after '480'",
      "db face-sources ffsec_face_objects after '480'",
      "db face-sources ffsec_face_objects after '960'",
      // the switch's catch-up: nothing new
      "db face-sources ffsec_face_objects after '1000'",
    ]);
    expect(c.filter((x) => x.startsWith('files regenerate')).map((x) => x.split(' ')[2]?.split(',').length)).toEqual([480, 480, 40, 2]);
    expect(idx(c, 'db stop findface-security')).toBeLessThan(idx(c, "db face-sources ffsec_face_objects after ''"));
    expect(idx(c, 'files regenerate 7,9')).toBeLessThan(idx(c, 'tnt reextract shard-001/ffsec_face_objects 0+100'));
    expect(d.regenerate).toMatchObject({ dbHost: 'db', filesHost: 'files', detector: 'detector/face.jasmine_fast.004.cpu.fnk', failed: [{ gallery: 'ffsec_face_events', id: '9', reason: 'source photo s/9.jpg: missing' }] });
    expect(d.regenerate?.galleries).toEqual({ ffsec_face_objects: { cursor: '1000', regenerated: 1000, failed: 0, done: true }, ffsec_face_events: { cursor: '9', regenerated: 1, failed: 1, done: true } });
  });

  it('the plan checks for a face detector and for online agents holding the database and the upload directories', () => {
    const plan = buildMigrationPlan(facts({ regenerate: { dbHost: 'db' } }));
    expect(plan.ready).toBe(false);
    expect(plan.checks.find((x) => x.name === 'regeneration')).toEqual({ name: 'regeneration', ok: false, detail: "no online agent holds the upload directories (an 'uploads' component)" });
    expect(plan.checks.find((x) => x.name === 'detector')).toMatchObject({ ok: true, detail: expect.stringContaining('detects faces with detector/face.jasmine_fast.004.cpu.fnk') });
    expect(plan.steps.map((s) => s.title)).toContain("Make each face's normalized image again from its source photo with the detector detector/face.jasmine_fast.004.cpu.fnk");
    const absent = buildMigrationPlan(facts({ regenerate: { dbHost: 'db', filesHost: 'files', toDetector: 'detector/x.cpu.fnk' } }));
    expect(absent.checks.find((x) => x.name === 'target detector')).toEqual({ name: 'target detector', ok: false, detail: 'detector/x.cpu.fnk is not under /usr/share/findface-data/models on tnt: install the detector first' });
    // The regeneration's estimate: the faces at the detector's measured rate; a sample that failed is a failed check.
    const timed = buildMigrationPlan(facts({ regenerate: { dbHost: 'db', filesHost: 'files' }, sample: { ...SAMPLE, detection: { photos: 128, detected: 128, failed: 0, ms: 320, detector: 'detector/face.jasmine_fast.004.cpu.fnk' } } }));
    expect(timed.regenerateSeconds).toBeCloseTo(timed.faces.total / 400);
    expect(timed.checks.find((x) => x.name === 'detector sample')).toMatchObject({ ok: true, detail: expect.stringContaining('(400 images/s)') });
    const untimed = buildMigrationPlan(facts({ regenerate: { dbHost: 'db', filesHost: 'files' }, sample: { ...SAMPLE, detection: { photos: 0, detected: 0, failed: 0, ms: 0, error: 'no image files under /u' } } }));
    expect(untimed.checks.find((x) => x.name === 'detector sample')).toEqual({ name: 'detector sample', ok: false, detail: 'files: no image files under /u' });
    // A detector change alone: the same model, another detector.
    const same = (toDetector: string) => buildMigrationPlan(facts({ toModel: 'face/mango_512.cpu.fnk', regenerate: { dbHost: 'db', filesHost: 'files', toDetector } }, surveysWithDetector()));
    expect(same('detector/x.cpu.fnk').checks.find((x) => x.name === 'target model')).toMatchObject({ ok: true, detail: expect.stringContaining('the model stays face/mango_512.cpu.fnk; the face detector changes') });
    expect(same('detector/face.jasmine_fast.004.cpu.fnk').checks.find((x) => x.name === 'target model')).toMatchObject({ ok: false, detail: 'the site already extracts faces with face/mango_512.cpu.fnk and detects them with detector/face.jasmine_fast.004.cpu.fnk' });
    expect(buildMigrationPlan(facts({ toModel: 'face/mango_512.cpu.fnk' })).checks.find((x) => x.name === 'target model')?.detail).toContain('(a detector change alone: --to-detector FILE)');
    const present = buildMigrationPlan(facts({ regenerate: { dbHost: 'db', filesHost: 'files', toDetector: 'detector/x.cpu.fnk' } }, surveysWithDetector()));
    expect(present.ready).toBe(true);
    const edit = present.steps.find((x) => x.title === 'Switch findface-extraction-api to face/ifruit_512.cpu.fnk and its face detector to detector/x.cpu.fnk');
    expect(edit?.files?.[0]?.diff).toContain('+      model: detector/x.cpu.fnk');
  });

  it('--to-detector: the detector switched with the model before the regeneration, and back by a rollback', async () => {
    const { site, migrations } = setup({ regenerate: true, toDetector: 'detector/face.jasmine_fast.005.cpu.fnk' });
    const done = await (await migrations.start({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk', toDetector: 'detector/face.jasmine_fast.005.cpu.fnk' })).done;
    expect(done.phase, done.error?.message).toBe('Completed');
    const c = site.calls;
    expect(idx(c, 'tnt set-extraction-model face/ifruit_512.cpu.fnk detector/face.jasmine_fast.005.cpu.fnk')).toBeLessThan(idx(c, "db face-sources ffsec_face_objects after ''"));
    expect((done.detail as unknown as MigrationDetail).regenerate).toMatchObject({ detector: 'detector/face.jasmine_fast.004.cpu.fnk', toDetector: 'detector/face.jasmine_fast.005.cpu.fnk' });
    await (await migrations.rollback('msk-1')).done;
    expect(site.calls).toContain('tnt set-extraction-model face/mango_512.cpu.fnk detector/face.jasmine_fast.004.cpu.fnk');
  });

  it('rollback puts the replaced images back; finish removes them', async () => {
    const one = setup({ regenerate: true });
    await (await one.migrations.start({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk', regenerateNormalized: true })).done;
    const back = await (await one.migrations.rollback('msk-1')).done;
    expect(back.phase, back.error?.message).toBe('Completed');
    expect(one.site.calls).toContain(`files normalized-aside restore ${(back.detail as unknown as RollbackDetail).migration}`);
    expect((back.detail as unknown as RollbackDetail).normalizedRestored).toBe(6);

    const two = setup({ regenerate: true });
    const done = await (await two.migrations.start({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk', regenerateNormalized: true })).done;
    const fin = await (await two.migrations.finish('msk-1')).done;
    expect(fin.phase, fin.error?.message).toBe('Completed');
    expect(two.site.calls.at(-1)).toBe(`files normalized-aside remove ${done.id}`);
  });
});

describe('migrate rollback and finish', () => {
  it('rollback: back to the old shards and model, what was written since carried back; refused twice; finish refused after it', async () => {
    const { site, migrations, store } = setup();
    const done = await (await migrations.start({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' })).done;
    const from = site.calls.length;
    const back = await (await migrations.rollback('msk-1')).done;
    expect(back.phase, back.error?.message).toBe('Completed');
    const c = site.calls.slice(from);
    expect(c[0]).toBe('db stop findface-security');
    expect(idx(c, 'tnt set-sf-api-shards http://127.0.0.1:8102/v2/,http://127.0.0.1:8101/v2/')).toBeLessThan(idx(c, 'tnt start shard-001'));
    expect(idx(c, 'tnt set-extraction-model face/mango_512.cpu.fnk')).toBeLessThan(idx(c, 'tnt restart extraction-api'));
    expect(idx(c, 'tnt reextract shard-001/ffsec_face_objects/back 0+0')).toBeLessThan(idx(c, 'tnt stop shard-001+10'));
    expect(idx(c, 'tnt adopt undo')).toBeLessThan(idx(c, 'tnt start sf-api'));
    expect((back.detail as unknown as RollbackDetail).carriedBack).toBe(0);
    expect((store.items.get(done.id)?.detail as unknown as MigrationDetail).rolledBackBy).toBe(back.id);
    await expect(migrations.rollback('msk-1')).rejects.toThrow(`was rolled back already (job ${back.id})`);
    await expect(migrations.finish('msk-1')).rejects.toThrow('was rolled back');
  });

  it('finish removes the old shards of a completed migration; no rollback after it', async () => {
    const { site, migrations } = setup();
    await expect(migrations.finish('msk-1')).rejects.toThrow("site 'msk-1' has no migration to finish");
    await (await migrations.start({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' })).done;
    const fin = await (await migrations.finish('msk-1')).done;
    expect(fin.phase, fin.error?.message).toBe('Completed');
    expect(site.calls.slice(-2)).toEqual(['tnt remove-shard shard-002', 'tnt remove-shard shard-001']);
    await expect(migrations.rollback('msk-1')).rejects.toThrow('its old shards are removed');
    await expect(migrations.finish('msk-1')).rejects.toThrow('was finished already');
  });

  it("a migration whose controller went away mid re-extraction: its site's findface-security started again, the job's mark cleared", async () => {
    const { site, migrations, store } = setup();
    const record: JobRecord = { id: 'j-orphan', kind: 'migrate', site: 'msk-1', phase: 'Failed', createdAt: new Date(), updatedAt: new Date(), step: 'reextract', detail: { writersStoppedAt: new Date().toISOString(), done: [] } };
    await store.put(record);
    const said: string[] = [];
    expect(await migrations.writersBack([record, { ...record, id: 'j-other', kind: 'restore' }], (m) => said.push(m))).toEqual(['msk-1']);
    expect(site.calls).toEqual(['db start findface-security']);
    expect(store.items.get('j-orphan')?.detail.writersStoppedAt).toBeUndefined();
    expect(said[0]).toContain('ffkeeper migrate resume j-orphan');
  });
});
