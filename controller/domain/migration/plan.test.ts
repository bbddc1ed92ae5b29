import { describe, expect, it } from 'vitest';
import { facts, SAMPLE, shard } from './fixtures.test-support.js';
import { buildMigrationPlan, defaultPortOffset } from './plan.js';

const failed = (p: ReturnType<typeof buildMigrationPlan>): Record<string, string> => Object.fromEntries(p.checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));

describe('buildMigrationPlan', () => {
  it("plans the reference's procedure for the site: new shards, diffs, migration.ini in sf-api's order, faces and the estimate", () => {
    const p = buildMigrationPlan(facts());
    expect(failed(p)).toEqual({});
    expect(p.ready).toBe(true);
    expect(p.fromModel).toBe('face/mango_512.cpu.fnk');
    // sf-api lists shard-002 first: the plan follows that order (a record's shard is its position).
    expect(p.shards.map((s) => [s.from.name, s.to.name, s.to.listen, s.to.http, s.to.url])).toEqual([
      ['shard-002', 'shard-012', 32012, 8112, 'http://127.0.0.1:8112/v2/'],
      ['shard-001', 'shard-011', 32011, 8111, 'http://127.0.0.1:8111/v2/'],
    ]);
    expect(p.shards[1]?.to.dirs).toEqual(['/opt/ntech/var/lib/tarantool/shard-011', '/opt/ntech/var/lib/tarantool/shard-011/snapshots', '/opt/ntech/var/lib/tarantool/shard-011/xlogs']);
    // Face galleries only: 100 + 200 objects, 2 × 1000 events.
    expect(p.faces).toEqual({ total: 2300, byGallery: { ffsec_face_objects: 300, ffsec_face_events: 2000 } });
    expect(p.sample?.facesPerSecond).toBe(200);
    expect(p.estimateSeconds).toBeCloseTo(11.5);
    expect(p.disk).toEqual([{ host: 'tnt', dir: '/opt/ntech/var/lib/tarantool', needBytes: 2 * Math.ceil(100 * 1024 ** 2 * 1.1), freeBytes: 10 * 1024 ** 3 }]);

    const files = p.steps.flatMap((s) => s.files ?? []);
    const instance = files.find((f) => f.path.endsWith('shard-011.lua'))?.diff ?? '';
    expect(instance).toContain("-  listen = '127.0.0.1:32001',");
    expect(instance).toContain("+  listen = '127.0.0.1:32011',");
    expect(instance).toContain("+  memtx_dir = '/opt/ntech/var/lib/tarantool/shard-011/snapshots',");
    expect(instance).toContain('+FindFace.start("127.0.0.1", 8111, {meta_scheme = meta_scheme})');
    expect(files.find((f) => f.path === '/etc/findface-extraction-api.ini')?.diff).toMatch(/-\s+face: face\/mango_512\.cpu\.fnk\n\+\s+face: face\/ifruit_512\.cpu\.fnk/);
    const sf = files.find((f) => f.path === '/etc/findface-sf-api.ini')?.diff ?? '';
    expect(sf).toContain('+    - master: http://127.0.0.1:8112/v2/');
    const ini = files.find((f) => f.path === 'migration.ini')?.content ?? '';
    expect(ini.indexOf('http://127.0.0.1:8102/v2/')).toBeLessThan(ini.indexOf('http://127.0.0.1:8101/v2/'));
    expect(ini.indexOf('http://127.0.0.1:8112/v2/')).toBeLessThan(ini.indexOf('http://127.0.0.1:8111/v2/'));
    expect(ini).toContain('extraction-api: http://127.0.0.1:18666');
    expect(ini).not.toMatch(/[&*]a\d/); // no YAML anchors: findface-sf-api-migrate's parser need not follow them
    const commands = p.steps.flatMap((s) => s.commands);
    expect(commands).toContain('cp /etc/tarantool/instances.available/shard-001.lua /etc/tarantool/instances.available/shard-011.lua');
    expect(commands).toContain('ln -s /etc/tarantool/instances.available/shard-011.lua /etc/tarantool/instances.enabled/');
    expect(commands).toContain('systemctl start tarantool@shard-011');
    expect(commands).toContain('systemctl disable tarantool@shard-001');
    expect(commands.indexOf('systemctl stop findface-sf-api')).toBeLessThan(commands.indexOf('findface-sf-api-migrate -config migration.ini'));
  });

  it('names every failed precondition and is not ready', () => {
    const busy = shard(1, { target: { ...shard(1).target!, listen: { port: 32011, free: false, detail: '127.0.0.1:32011 is in use' } } });
    const surveys = facts().surveys.map((v) => (v.host === 'tnt' ? { ...v, shards: [busy, shard(2)], extractionApi: { ...v.extractionApi!, targetModelPresent: false } } : v));
    const p = buildMigrationPlan(facts({ offline: ['msk-1/files'], verified: undefined, sample: { ...SAMPLE, extracted: 0, failed: 128 } }, surveys));
    expect(p.ready).toBe(false);
    const f = failed(p);
    expect(Object.keys(f).sort()).toEqual(['agents', 'extraction sample', 'ports', 'target model', 'verified snapshot']);
    expect(f.ports).toContain('127.0.0.1:32011 is in use');
    expect(f['target model']).toContain('face/ifruit_512.cpu.fnk is not under /usr/share/findface-data/models');
    expect(f['verified snapshot']).toContain('ffkeeper verify --site msk-1');
  });

  it('refuses the model the site extracts with already, a gallery on another model, an old verification, too little disk', () => {
    const mixed = shard(2, { galleries: [{ name: 'ffsec_face_objects', model: 'face-ifruit-512', dim: 512, count: 3 }], target: { ...shard(2).target!, freeBytes: 1, freeDir: '/srv/tarantool' } });
    const surveys = facts().surveys.map((v) => (v.host === 'tnt' ? { ...v, shards: [shard(1), mixed] } : v));
    const p = buildMigrationPlan(facts({ toModel: 'face/mango_512.cpu.fnk', verified: { id: 'c-0', createdAt: new Date('2026-11-01T00:00:00Z'), verifiedAt: new Date('2026-11-01T01:00:00Z') } }, surveys));
    const f = failed(p);
    expect(f['target model']).toBe('the site already extracts faces with face/mango_512.cpu.fnk (a detector change alone: --to-detector FILE)');
    expect(f.galleries).toContain('tarantool:shard-002 ffsec_face_objects holds face-ifruit-512');
    expect(f['verified snapshot']).toContain('more than 7 days ago');
    expect(f.disk).toContain('only 1 B free');
  });

  it('finds the new shards that collide with existing ones, and shards sf-api does not list', () => {
    const clash = shard(1, { target: { ...shard(1).target!, name: 'shard-002', existing: ['/etc/tarantool/instances.available/shard-002.lua'] } });
    const stray = shard(3);
    const surveys = facts().surveys.map((v) => (v.host === 'tnt' ? { ...v, shards: [clash, shard(2), stray] } : v));
    const f = failed(buildMigrationPlan(facts({}, surveys)));
    expect(f['new shards']).toContain('the new shard name shard-002 is an existing shard');
    expect(f['new shards']).toContain('/etc/tarantool/instances.available/shard-002.lua already exist');
    expect(f['new shards']).toContain('not in /etc/findface-sf-api.ini: tnt shard-003');
  });

  it('takes an instance file that does not parse for a failed precondition, not an error', () => {
    const broken = shard(1, { instanceFile: { path: '/etc/tarantool/instances.available/shard-001.lua', text: 'box.cfg{}' } });
    const surveys = facts().surveys.map((v) => (v.host === 'tnt' ? { ...v, shards: [broken, shard(2)] } : v));
    const p = buildMigrationPlan(facts({}, surveys));
    expect(p.ready).toBe(false);
    expect(failed(p)['new shards']).toContain("tnt tarantool:shard-001: /etc/tarantool/instances.available/shard-001.lua: no box.cfg listen = 'host:port'");
  });

  it("moves ports by 10 as the reference, or by the power of ten that keeps new shards' numbers clear", () => {
    expect([1, 4, 10, 11, 99, 100, 101].map(defaultPortOffset)).toEqual([10, 10, 10, 100, 100, 100, 1000]);
  });
});
