import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../../shared/config/agent.js';
import { EXIT_CODES, exitCodeFor } from '../../../shared/exit-codes.js';
import type { MigrationOpResult } from '../../../shared/migration/ops.js';
import { parseMigrationRequest } from '../../../shared/migration/survey.js';
import type { ExportBatch, GalleryInfo } from '../drivers/tarantool/ports.js';
import { adopt, parseAdoption, servedConfig } from './adopt.js';
import { migration, type MigrationOpsHost, type MigrationShard } from './ops.js';

const LUA = "box.cfg{ listen = '127.0.0.1:32001', work_dir = '/var/lib/tarantool/shard-001', memtx_dir = '/var/lib/tarantool/shard-001/snapshots', wal_dir = '/var/lib/tarantool/shard-001/xlogs' }\ndofile('/etc/ffs/tnt_schema.lua')\nFindFace.start('127.0.0.1', 8101, {})\n";
const EXTRACTION = 'listen: 127.0.0.1:18666\nextractors:\n  models_root: /models\n  models:\n    face: face/mango_512.cpu.fnk\n';

interface Rec {
  id: number;
  norm: string;
  feat: string;
}

/** A shard in memory: galleries of records, a migration's cursor and failed faces. */
class FakeShard implements MigrationShard {
  galleries = new Map<string, { model: string; dim: number; recs: Map<number, Rec> }>();
  cursors = new Map<string, { cursor: string; written: number; failed: number; done: boolean }>();
  failed: { gallery: string; id: string; reason: string }[] = [];
  constructor(readonly address: string) {}
  listGalleries(): Promise<GalleryInfo[]> {
    return Promise.resolve([...this.galleries].map(([name, g]) => ({ name, model: g.model, dim: g.dim, count: g.recs.size })));
  }
  exportBatch(gallery: string, after: string | undefined, limit: number): Promise<ExportBatch> {
    const recs = [...(this.galleries.get(gallery)?.recs.values() ?? [])].filter((r) => after === undefined || r.id > Number(after)).sort((a, b) => a.id - b.id).slice(0, limit);
    return Promise.resolve({ lines: recs.map((r) => Buffer.from(JSON.stringify({ id: r.id, feat: r.feat, norm: r.norm, meta: {} }))), lastKey: recs.length ? String(recs[recs.length - 1]?.id) : undefined });
  }
  ensureGallery(g: { name: string; model: string; dim: number }): Promise<void> {
    const there = this.galleries.get(g.name);
    if (there && there.model !== g.model) return Promise.reject(new Error(`gallery '${g.name}' holds vectors of model '${there.model}'`));
    if (!there) this.galleries.set(g.name, { model: g.model, dim: g.dim, recs: new Map() });
    return Promise.resolve();
  }
  migrateBatch(b: { migration: string; gallery: string; cursorBefore: string; cursorAfter: string; lines: Buffer[]; failed: { id: string; reason: string }[]; done: boolean }): Promise<number> {
    const cur = this.cursors.get(b.gallery);
    if ((cur?.cursor ?? '') !== b.cursorBefore) return Promise.reject(new Error('another batch running'));
    for (const l of b.lines) {
      const r = JSON.parse(l.toString()) as Rec;
      this.galleries.get(b.gallery)?.recs.set(r.id, r);
    }
    this.failed.push(...b.failed.map((f) => ({ gallery: b.gallery, ...f })));
    this.cursors.set(b.gallery, { cursor: b.cursorAfter, written: (cur?.written ?? 0) + b.lines.length, failed: (cur?.failed ?? 0) + b.failed.length, done: b.done });
    return Promise.resolve(b.lines.length);
  }
  readMigration(): Promise<{ galleries: Record<string, { cursor: string; written: number; failed: number; done: boolean }>; failed: { gallery: string; id: string; reason: string }[] }> {
    return Promise.resolve({ galleries: Object.fromEntries(this.cursors), failed: this.failed });
  }
  keysAfter(gallery: string, after: string | undefined, limit: number): Promise<string[]> {
    return Promise.resolve([...(this.galleries.get(gallery)?.recs.keys() ?? [])].sort((a, b) => a - b).filter((k) => after === undefined || k > Number(after)).slice(0, limit).map(String));
  }
  maxKey(gallery: string): Promise<string | undefined> {
    const keys = [...(this.galleries.get(gallery)?.recs.keys() ?? [])];
    return Promise.resolve(keys.length ? String(Math.max(...keys)) : undefined);
  }
  missingKeys(gallery: string, keys: readonly string[]): Promise<string[]> {
    return Promise.resolve(keys.filter((k) => !this.galleries.get(gallery)?.recs.has(Number(k))));
  }
  deleteKeys(gallery: string, keys: readonly string[]): Promise<number> {
    let n = 0;
    for (const k of keys) if (this.galleries.get(gallery)?.recs.delete(Number(k))) n++;
    return Promise.resolve(n);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

class FakeHost implements MigrationOpsHost {
  files: Record<string, string> = { '/etc/tarantool/instances.available/shard-001.lua': LUA, '/etc/findface-extraction-api.ini': EXTRACTION };
  links: Record<string, string> = { '/etc/tarantool/instances.enabled/shard-001.lua': '/etc/tarantool/instances.available/shard-001.lua' };
  dirs: string[] = [];
  units: string[] = [];
  images: Record<string, Buffer> = {};
  extracted = 0;
  model = 'face/ifruit_512.cpu.fnk';
  shards: Record<number, FakeShard> = { 32001: new FakeShard('127.0.0.1:32001'), 32011: new FakeShard('127.0.0.1:32011') };
  readText(file: string): Promise<string> {
    const t = this.files[this.links[file] ?? file];
    return t === undefined ? Promise.reject(new Error(`ENOENT: ${file}`)) : Promise.resolve(t);
  }
  exists(file: string): Promise<boolean> {
    return Promise.resolve(file in this.files || file in this.links || this.dirs.includes(file));
  }
  bytesUnder(dirs: readonly string[]): Promise<number> {
    return Promise.resolve(dirs.filter((d) => this.dirs.includes(d)).length * 1000);
  }
  free(dir: string): Promise<{ dir: string; bytes: number }> {
    return Promise.resolve({ dir, bytes: 1e9 });
  }
  portFree(_h: string, port: number): Promise<{ port: number; free: boolean }> {
    return Promise.resolve({ port, free: true });
  }
  galleries(): Promise<[]> {
    return Promise.resolve([]);
  }
  sampleImages(): Promise<Buffer[]> {
    return Promise.resolve([]);
  }
  extractBatch(): Promise<{ extracted: number; failed: number; model: string }> {
    return Promise.resolve({ extracted: 0, failed: 0, model: this.model });
  }
  now(): number {
    return 0;
  }
  writeFile(file: string, text: string): Promise<void> {
    this.files[file] = text;
    return Promise.resolve();
  }
  linkTarget(file: string): Promise<string | undefined> {
    return Promise.resolve(this.links[file]);
  }
  symlink(target: string, link: string): Promise<void> {
    this.links[link] = target;
    return Promise.resolve();
  }
  mkdirs(dirs: readonly string[]): Promise<void> {
    this.dirs.push(...dirs);
    return Promise.resolve();
  }
  removed: string[] = [];
  active = new Set<string>();
  remove(file: string): Promise<void> {
    this.removed.push(file);
    delete this.files[file];
    delete this.links[file];
    this.dirs = this.dirs.filter((d) => d !== file);
    return Promise.resolve();
  }
  chownTarantool(): Promise<void> {
    return Promise.resolve();
  }
  unit(action: string, unit: string): Promise<void> {
    this.units.push(`${action} ${unit}`);
    return Promise.resolve();
  }
  isActive(unit: string): Promise<boolean> {
    return Promise.resolve(this.active.has(unit));
  }
  run(): Promise<string> {
    return Promise.resolve('meta_scheme = {}\n');
  }
  shard(c: { port: number }): MigrationShard {
    const s = this.shards[c.port];
    if (!s) throw new Error(`no shard on port ${c.port}`);
    return s;
  }
  fetchImage(url: string): Promise<Buffer | undefined> {
    return Promise.resolve(this.images[new URL(url).pathname]);
  }
  extract(_url: string, images: readonly Buffer[]): Promise<{ file: string; results: { facen?: string; error?: string }[] }> {
    this.extracted += images.length;
    return Promise.resolve({ file: this.model, results: images.map((i) => ({ facen: `v-${this.model}-${i.toString()}` })) });
  }
  // Regeneration has its own tests (regenerate.test.ts).
  faceSources = unused;
  detect = unused;
  readBytes = unused;
  writeBytes = unused;
  link = unused;
  rename = unused;
  filesUnder = unused;
}

function unused(): never {
  throw new Error('not used by these tests');
}

const config = agentConfigSchema.parse({
  site: 'msk-1',
  host: 'tnt',
  nats: { servers: ['nats://127.0.0.1:4222'] },
  insecure: true,
  cacheDir: '/var/cache/ffk',
  extractionApi: {},
  components: [
    { kind: 'tarantool', name: 'shard-001', port: 32001, memtxDir: '/var/lib/tarantool/shard-001/snapshots', walDir: '/var/lib/tarantool/shard-001/xlogs', unit: 'tarantool@shard-001', instanceFile: '/etc/tarantool/instances.enabled/shard-001.lua' },
  ],
});

async function op<K extends MigrationOpResult['op']>(host: FakeHost, req: Record<string, unknown> & { op: K }): Promise<Extract<MigrationOpResult, { op: K }>> {
  return (await migration(config, host, parseMigrationRequest(JSON.stringify(req)))) as Extract<MigrationOpResult, { op: K }>;
}

function seed(host: FakeHost, n: number): void {
  const recs = new Map<number, Rec>();
  for (let id = 1; id <= n; id++) {
    recs.set(id, { id, norm: `faces/${id}.jpg`, feat: 'old' });
    host.images[`/uploads/faces/${id}.jpg`] = Buffer.from(String(id));
  }
  host.shards[32001]?.galleries.set('ffsec_face_objects', { model: 'face-mango-512', dim: 512, recs });
}

const reextract = { op: 'reextract', migration: 'j-1', shard: 'shard-001', portOffset: 10, gallery: 'ffsec_face_objects', toModel: 'face/ifruit_512.cpu.fnk', limit: 4, extractionApiUrl: 'http://127.0.0.1:18666', normalizedUrl: 'http://127.0.0.1:3333/uploads/', batchSize: 2, workers: 2 } as const;

describe('agent migration steps', () => {
  it('creates the new shard from the old one (instance file shifted, linked where the old one is, dirs made); asked again, finds it there', async () => {
    const host = new FakeHost();
    const r = await op(host, { op: 'create-shard', shard: 'shard-001', portOffset: 10 });
    expect(r.shard).toMatchObject({ name: 'shard-011', unit: 'tarantool@shard-011', instanceFile: '/etc/tarantool/instances.available/shard-011.lua', enabledLink: '/etc/tarantool/instances.enabled/shard-011.lua', listen: { port: 32011 }, http: { port: 8111 }, created: true });
    expect(host.files['/etc/tarantool/instances.available/shard-011.lua']).toContain("listen = '127.0.0.1:32011'");
    expect(host.dirs).toContain('/var/lib/tarantool/shard-011/snapshots');
    expect((await op(host, { op: 'create-shard', shard: 'shard-001', portOffset: 10 })).shard.created).toBe(false);
    // Someone else's file there: refused, naming it.
    host.files['/etc/tarantool/instances.available/shard-011.lua'] = '-- mine';
    const err = await op(host, { op: 'create-shard', shard: 'shard-001', portOffset: 10 }).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(EXIT_CODES.CONFLICT);
    expect(String(err)).toContain('/etc/tarantool/instances.available/shard-011.lua already exists');
    expect(exitCodeFor(await op(host, { op: 'create-shard', shard: 'shard-009', portOffset: 10 }).catch((e: unknown) => e))).toBe(EXIT_CODES.NOT_FOUND);
  });

  it("switches the extraction-api's model only from the migration's old one, and reads it back", async () => {
    const host = new FakeHost();
    const r = await op(host, { op: 'set-extraction-model', from: 'face/mango_512.cpu.fnk', to: 'face/ifruit_512.cpu.fnk' });
    expect(r.edit).toMatchObject({ path: '/etc/findface-extraction-api.ini', changed: true });
    expect(r.edit.diff).toContain('+    face: face/ifruit_512.cpu.fnk');
    expect((await op(host, { op: 'set-extraction-model', from: 'face/mango_512.cpu.fnk', to: 'face/ifruit_512.cpu.fnk' })).edit.changed).toBe(false);
    const err = await op(host, { op: 'set-extraction-model', from: 'face/kiwi_512.cpu.fnk', to: 'face/grape_512.cpu.fnk' }).catch((e: unknown) => e);
    expect(String(err)).toContain('extracts faces with face/ifruit_512.cpu.fnk, neither face/kiwi_512.cpu.fnk');
  });

  it('switches the face detector with the model (a detector change), only from the old detector, and back', async () => {
    const host = new FakeHost();
    host.files['/etc/findface-extraction-api.ini'] = `${EXTRACTION}detectors:\n  models:\n    jasmine:\n      aliases: [face]\n      model: detector/d4.cpu.fnk\n`;
    const to = { op: 'set-extraction-model', from: 'face/mango_512.cpu.fnk', to: 'face/ifruit_512.cpu.fnk', fromDetector: 'detector/d4.cpu.fnk', toDetector: 'detector/d5.cpu.fnk' } as const;
    const r = await op(host, to);
    expect(r.edit.diff).toContain('+      model: detector/d5.cpu.fnk');
    expect(r.edit.diff).toContain('+    face: face/ifruit_512.cpu.fnk');
    expect((await op(host, to)).edit.changed).toBe(false);
    const other = await op(host, { ...to, from: 'face/ifruit_512.cpu.fnk', to: 'face/mango_512.cpu.fnk', fromDetector: 'detector/d9.cpu.fnk', toDetector: 'detector/d4.cpu.fnk' }).catch((e: unknown) => e);
    expect(String(other)).toContain('detects faces with detector/d5.cpu.fnk, neither detector/d9.cpu.fnk');
    const back = await op(host, { ...to, from: 'face/ifruit_512.cpu.fnk', to: 'face/mango_512.cpu.fnk', fromDetector: 'detector/d5.cpu.fnk', toDetector: 'detector/d4.cpu.fnk' });
    expect(back.edit.changed).toBe(true);
    expect(host.files['/etc/findface-extraction-api.ini']).toContain('model: detector/d4.cpu.fnk');
  });

  it('re-extracts a gallery batch by batch from the cursor the new shard keeps; a missing image is listed, the rest written', async () => {
    const host = new FakeHost();
    seed(host, 10);
    delete host.images['/uploads/faces/6.jpg'];
    const batches = [];
    for (;;) {
      const { batch } = await op(host, reextract);
      batches.push(batch);
      if (batch.done) break;
    }
    expect(batches.map((b) => [b.read, b.written, b.cursor])).toEqual([[4, 4, '4'], [4, 3, '8'], [2, 2, '10']]);
    expect(batches[1]?.failed).toEqual([{ gallery: 'ffsec_face_objects', id: '6', reason: expect.stringContaining('normalized image faces/6.jpg: missing') }]);
    const neu = host.shards[32011]?.galleries.get('ffsec_face_objects');
    expect(neu?.model).toBe('face-ifruit-512');
    expect(neu?.recs.get(3)?.feat).toBe('v-face/ifruit_512.cpu.fnk-3');
    expect(host.extracted).toBe(9);
    // Asked again (a resumed job): nothing is extracted twice.
    const again = await op(host, reextract);
    expect(again.batch).toMatchObject({ read: 0, written: 0, done: true });
    expect(host.extracted).toBe(9);
    // A record deleted from the old shard since: reconcile removes it from the new one.
    host.shards[32001]?.galleries.get('ffsec_face_objects')?.recs.delete(2);
    expect(await op(host, { op: 'reconcile', shard: 'shard-001', portOffset: 10, gallery: 'ffsec_face_objects' })).toMatchObject({ checked: 9, removed: 1 });
  });

  it('an extraction-api still serving the old model is refused, nothing written', async () => {
    const host = new FakeHost();
    seed(host, 3);
    host.model = 'face/mango_512.cpu.fnk';
    const err = await op(host, reextract).catch((e: unknown) => e);
    expect(String(err)).toContain('extracts faces with face/mango_512.cpu.fnk, not face/ifruit_512.cpu.fnk');
    expect(host.shards[32011]?.galleries.get('ffsec_face_objects')?.recs.size).toBe(0);
  });

  it('a carry-back (rollback) takes only what the new shard got after the old one’s last record, with the old model', async () => {
    const host = new FakeHost();
    seed(host, 5);
    const newer = new Map<number, Rec>();
    for (let id = 1; id <= 8; id++) newer.set(id, { id, norm: `faces/${id}.jpg`, feat: 'new' });
    for (let id = 6; id <= 8; id++) host.images[`/uploads/faces/${id}.jpg`] = Buffer.from(String(id));
    host.shards[32011]?.galleries.set('ffsec_face_objects', { model: 'face-ifruit-512', dim: 512, recs: newer });
    host.model = 'face/mango_512.cpu.fnk';
    const { batch } = await op(host, { ...reextract, migration: 'j-2', toModel: 'face/mango_512.cpu.fnk', reverse: true });
    expect(batch).toMatchObject({ read: 3, written: 3, done: true });
    expect(host.shards[32001]?.galleries.get('ffsec_face_objects')?.recs.get(7)?.feat).toBe('v-face/mango_512.cpu.fnk-7');
    expect(host.extracted).toBe(3);
  });

  it('adopting the new shards is kept in the cache directory and serves them in place of the old; undo takes them out', async () => {
    const host = new FakeHost();
    await op(host, { op: 'create-shard', shard: 'shard-001', portOffset: 10 });
    const r = await op(host, { op: 'adopt', shards: ['shard-001'], portOffset: 10 });
    expect(r).toMatchObject({ file: '/var/cache/ffk/migrated-shards.json', changed: true, serving: ['shard-011'] });
    const adoption = parseAdoption(host.files[r.file] ?? '', r.file);
    const served = servedConfig(config, adoption, r.file, () => undefined);
    expect(served.components).toEqual([expect.objectContaining({ name: 'shard-011', port: 32011, httpPort: 8111, unit: 'tarantool@shard-011', memtxDir: '/var/lib/tarantool/shard-011/snapshots' })]);
    expect((await op(host, { op: 'adopt', shards: ['shard-001'], portOffset: 10 })).changed).toBe(false);
    expect((await op(host, { op: 'adopt', shards: ['shard-001'], portOffset: 10, undo: true })).serving).toEqual(['shard-001']);
    expect(adopt({ shards: { a: { portOffset: 10, component: { kind: 'tarantool', name: 'b' } } } }, new Map([['a', undefined]]), 10, true)).toEqual({ shards: {} });
    expect(() => parseAdoption('{"shards": {"a": {"portOffset": 10}}}', 'f.json')).toThrow(/f\.json: shards\.a\.component/);
    expect(() => servedConfig(config, { shards: { 'shard-001': { portOffset: 10, component: { kind: 'tarantool', name: 'x' } } } }, 'f.json', () => undefined)).toThrow(/f\.json: shards\.shard-001\.component is no Tarantool component/);
  });

  it('finish removes an old shard the agent no longer serves and that is stopped: its files and the directories with its name', async () => {
    const host = new FakeHost();
    host.dirs.push('/var/lib/tarantool/shard-001', '/var/lib/tarantool/shard-001/snapshots', '/var/lib/tarantool/shard-001/xlogs', '/var/lib/tarantool');
    await op(host, { op: 'create-shard', shard: 'shard-001', portOffset: 10 });
    const notYet = await op(host, { op: 'remove-shard', shard: 'shard-001' }).catch((e: unknown) => e);
    expect(String(notYet)).toContain('still serves shard shard-001');
    await op(host, { op: 'adopt', shards: ['shard-001'], portOffset: 10 });
    host.active.add('tarantool@shard-001');
    expect(String(await op(host, { op: 'remove-shard', shard: 'shard-001' }).catch((e: unknown) => e))).toContain('tarantool@shard-001 is active');
    host.active.clear();
    const r = await op(host, { op: 'remove-shard', shard: 'shard-001' });
    expect(r.removed.sort()).toEqual(['/etc/tarantool/instances.available/shard-001.lua', '/etc/tarantool/instances.enabled/shard-001.lua', '/var/lib/tarantool/shard-001', '/var/lib/tarantool/shard-001/snapshots', '/var/lib/tarantool/shard-001/xlogs']);
    expect(r.bytes).toBe(3000);
    expect(host.dirs).toContain('/var/lib/tarantool');
    expect(host.files['/etc/tarantool/instances.available/shard-011.lua']).toBeDefined();
  });
});
