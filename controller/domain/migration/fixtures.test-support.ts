/** Facts of a two-shard site as its agents would report them, for migration plan tests. */
import type { ExtractionSample, MigrationSurvey, ShardSurvey } from '../../../shared/migration/survey.js';
import type { PlanFacts } from './plan.js';

const shardLua = (n: number): string =>
  [
    `-- shard-00${n}`,
    'box.cfg{',
    `  listen = '127.0.0.1:3200${n}',`,
    `  vinyl_dir = '/opt/ntech/var/lib/tarantool/shard-00${n}',`,
    `  work_dir = '/opt/ntech/var/lib/tarantool/shard-00${n}',`,
    `  memtx_dir = '/opt/ntech/var/lib/tarantool/shard-00${n}/snapshots',`,
    `  wal_dir = '/opt/ntech/var/lib/tarantool/shard-00${n}/xlogs',`,
    '}',
    `FindFace.start("127.0.0.1", 810${n}, {meta_scheme = meta_scheme})`,
    '',
  ].join('\n');

const SF_API_INI = [
  'listen: 127.0.0.1:18411',
  'extraction-api:',
  '  extraction-api: http://127.0.0.1:18666',
  'storage-api:',
  '  shards:',
  '    - master: http://127.0.0.1:8102/v2/',
  '      slave: ""',
  '    - master: http://127.0.0.1:8101/v2/',
  '      slave: ""',
  '',
].join('\n');

const EXTRACTION_INI = [
  'listen: 127.0.0.1:18666',
  'extractors:',
  '  models_root: /usr/share/findface-data/models',
  '  models:',
  '    face: face/mango_512.cpu.fnk',
  '    body: ""',
  'detectors:',
  '  models:',
  '    face_jasmine:',
  '      aliases: [face, nnd]',
  '      model: detector/face.jasmine_fast.004.cpu.fnk',
  '',
].join('\n');

export function shard(n: number, over: Partial<ShardSurvey> = {}): ShardSurvey {
  return {
    component: `tarantool:shard-00${n}`,
    name: `shard-00${n}`,
    unit: `tarantool@shard-00${n}`,
    host: '127.0.0.1',
    port: 32000 + n,
    instanceFile: { path: `/etc/tarantool/instances.available/shard-00${n}.lua`, text: shardLua(n) },
    galleries: [
      { name: 'ffsec_face_objects', model: 'face-mango-512', dim: 512, count: 100 * n },
      { name: 'ffsec_face_events', model: 'face-mango-512', dim: 512, count: 1000 },
      { name: 'ffsec_body_events', model: 'body-reid-512', dim: 512, count: 7 },
    ],
    dataBytes: 100 * 1024 ** 2,
    target: {
      name: `shard-01${n}`,
      instanceFile: `/etc/tarantool/instances.available/shard-01${n}.lua`,
      existing: [],
      listen: { port: 32010 + n, free: true },
      http: { port: 8110 + n, free: true },
      freeBytes: 10 * 1024 ** 3,
      freeDir: '/opt/ntech/var/lib/tarantool',
    },
    ...over,
  };
}

export const SAMPLE: ExtractionSample = { host: 'files', faces: 128, extracted: 128, failed: 0, ms: 640, model: 'face/mango_512.cpu.fnk' };
const NOW = new Date('2026-12-05T10:00:00Z');

/** The site's surveys with `toDetector`'s file found under the extraction-api's models root. */
export function surveysWithDetector(): MigrationSurvey[] {
  const surveys = facts().surveys;
  const ex = surveys[0]?.extractionApi;
  if (ex) ex.targetDetectorPresent = true;
  return surveys;
}

export function facts(over: Partial<PlanFacts> = {}, surveys?: MigrationSurvey[]): PlanFacts {
  return {
    site: 'msk-1',
    now: NOW,
    toModel: 'face/ifruit_512.cpu.fnk',
    portOffset: 10,
    offline: [],
    surveys: surveys ?? [
      {
        host: 'tnt',
        shards: [shard(1), shard(2)],
        sfApi: { component: 'sf-api:sf-api', unit: 'findface-sf-api', config: { path: '/etc/findface-sf-api.ini', text: SF_API_INI } },
        extractionApi: { config: { path: '/etc/findface-extraction-api.ini', text: EXTRACTION_INI }, unit: 'findface-extraction-api', modelsRoot: '/usr/share/findface-data/models', targetModelPresent: true },
      },
      { host: 'db', shards: [] },
    ],
    sample: SAMPLE,
    verified: { id: 'c-1', createdAt: new Date('2026-12-04T10:00:00Z'), verifiedAt: new Date('2026-12-04T11:00:00Z') },
    ...over,
  };
}

