import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../../shared/config/agent.js';
import type { PortSurvey } from '../../../shared/migration/survey.js';
import { sample, survey, type MigrationHost } from './survey.js';

const LUA = "box.cfg{ listen = '127.0.0.1:32001', work_dir = '/var/lib/tarantool/shard-001', memtx_dir = '/var/lib/tarantool/shard-001/snapshots', wal_dir = '/var/lib/tarantool/shard-001/xlogs' }\nFindFace.start('127.0.0.1', 8101, {})\n";
const EXTRACTION = 'listen: 127.0.0.1:18666\nextractors:\n  models_root: /models\n  models:\n    face: face/mango_512.cpu.fnk\n';

class FakeHost implements MigrationHost {
  files: Record<string, string> = { '/etc/tarantool/instances.enabled/shard-001.lua': LUA, '/etc/findface-extraction-api.ini': EXTRACTION, '/models/face/ifruit_512.cpu.fnk': '' };
  busy = new Set([8111]);
  batches: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  clock = 0;
  readText(file: string): Promise<string> {
    const t = this.files[file];
    return t === undefined ? Promise.reject(new Error(`ENOENT: ${file}`)) : Promise.resolve(t);
  }
  exists(file: string): Promise<boolean> {
    return Promise.resolve(file in this.files);
  }
  bytesUnder(): Promise<number> {
    return Promise.resolve(4096);
  }
  free(dir: string): Promise<{ dir: string; bytes: number }> {
    return Promise.resolve({ dir: dir.split('/').slice(0, -1).join('/'), bytes: 1e9 });
  }
  portFree(_host: string, port: number): Promise<PortSurvey> {
    return Promise.resolve(this.busy.has(port) ? { port, free: false, detail: `port ${port} is in use` } : { port, free: true });
  }
  galleries(): Promise<{ name: string; model: string; dim: number; count: number }[]> {
    return Promise.resolve([{ name: 'ffsec_face_objects', model: 'face-mango-512', dim: 512, count: 9 }]);
  }
  sampleImages(_dirs: readonly string[], n: number): Promise<Buffer[]> {
    return Promise.resolve(Array.from({ length: Math.min(n, 20) }, (_, i) => Buffer.from([i])));
  }
  async extractBatch(_url: string, images: readonly Buffer[]): Promise<{ extracted: number; failed: number; model: string }> {
    this.batches.push(images.length);
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    await new Promise((r) => setTimeout(r, 5));
    this.inFlight--;
    this.clock += 10;
    return { extracted: images.length - 1, failed: 1, model: 'face/mango_512.cpu.fnk' };
  }
  now(): number {
    return this.clock;
  }
  /** What the face detector answers each image (the detection sample); none: it is not asked. */
  detectAnswer: ((image: Buffer) => { normalized?: string; error?: string }) | undefined;
  detect(_url: string, photos: readonly Buffer[]): Promise<{ detector: string; results: { normalized?: string; error?: string }[] }> {
    const answer = this.detectAnswer;
    if (!answer) return Promise.reject(new Error('no detector in this test'));
    this.clock += 5;
    return Promise.resolve({ detector: 'detector/d4.cpu.fnk', results: photos.map(answer) });
  }
}

const config = agentConfigSchema.parse({
  site: 'msk-1',
  host: 'tnt',
  nats: { servers: ['nats://127.0.0.1:4222'] },
  insecure: true,
  extractionApi: {},
  components: [
    { kind: 'tarantool', name: 'shard-001', port: 32001, memtxDir: '/var/lib/tarantool/shard-001/snapshots', walDir: '/var/lib/tarantool/shard-001/xlogs', unit: 'tarantool@shard-001', instanceFile: '/etc/tarantool/instances.enabled/shard-001.lua' },
    { kind: 'uploads', name: 'uploads', paths: ['/var/lib/ffupload'] },
  ],
});

describe('agent migration survey and sample', () => {
  it("reports a shard's new sibling (instances.available/ for a file found through instances.enabled/), its ports and galleries, and the target model's presence", async () => {
    const r = { survey: await survey(config, new FakeHost(), { toModel: 'face/ifruit_512.cpu.fnk', portOffset: 10 }) };
    expect(r.survey.shards[0]?.target).toEqual({
      name: 'shard-011',
      instanceFile: '/etc/tarantool/instances.available/shard-011.lua',
      existing: [],
      listen: { port: 32011, free: true },
      http: { port: 8111, free: false, detail: 'port 8111 is in use' },
      freeBytes: 1e9,
      freeDir: '/var/lib/tarantool',
    });
    expect(r.survey.shards[0]?.galleries).toEqual([{ name: 'ffsec_face_objects', model: 'face-mango-512', dim: 512, count: 9 }]);
    expect(r.survey.extractionApi).toMatchObject({ modelsRoot: '/models', targetModelPresent: true, unit: 'findface-extraction-api' });
    const missing = await survey(config, new FakeHost(), { toModel: 'face/elderberry_512.cpu.fnk', portOffset: 10 });
    expect(missing.extractionApi?.targetModelPresent).toBe(false);
  });

  it('extracts the sample in batches, so many at a time, counting failures', async () => {
    const host = new FakeHost();
    const r = { op: 'sample', sample: await sample(config, host, { op: 'sample', extractionApiUrl: 'http://127.0.0.1:18666', faces: 128, batchSize: 8, concurrency: 2 }) };
    expect(host.batches).toEqual([8, 8, 4]);
    expect(host.maxInFlight).toBe(2);
    expect(r).toEqual({ op: 'sample', sample: { host: 'tnt', faces: 20, extracted: 17, failed: 3, ms: 30, model: 'face/mango_512.cpu.fnk' } });
  });

  it('with detect, also times the face detector on images of the uploads root (a regeneration estimate)', async () => {
    const host = Object.assign(new FakeHost(), { dirs: [] as string[] });
    host.detectAnswer = (image) => (image[0] === 0 ? { error: 'no face detected' } : { normalized: 'eA==' });
    const sampled = host.sampleImages.bind(host);
    host.sampleImages = (dirs, n) => (host.dirs.push(...dirs), sampled(dirs, n));
    const both = { ...config, components: [...config.components.filter((c) => c.kind !== 'uploads'), { kind: 'uploads' as const, name: 'uploads', paths: ['/var/lib/findface-security/uploads', '/var/lib/ffupload'] }] };
    const r = await sample(both, host, { op: 'sample', extractionApiUrl: 'http://127.0.0.1:18666', faces: 16, batchSize: 8, concurrency: 2, detect: true });
    expect(r.detection).toEqual({ photos: 16, detected: 15, failed: 1, ms: 10, detector: 'detector/d4.cpu.fnk' });
    expect(host.dirs.at(-1)).toBe('/var/lib/findface-security/uploads');
    const none = await sample(config, host, { op: 'sample', extractionApiUrl: 'http://127.0.0.1:18666', faces: 16, batchSize: 8, concurrency: 2, detect: true });
    expect(none.detection?.error).toContain("holds no uploads root");
  });
});
