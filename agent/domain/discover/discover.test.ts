/**
 * Agent discovery against in-memory FindFace hosts: what each file gives, what is guessed (and marked),
 * what is reported missing or unparsable, the choice of parts, and the rendered YAML.
 */
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../../shared/config/agent.js';
import { ValidationError } from '../../../shared/errors.js';
import { discover, idFromHostName, parseParts, type DiscoverOptions } from './discover.js';
import type { HostTree } from './ports.js';
import { renderDiscovery } from './render.js';

/** A host's files by path; directories are implied by the files under them. */
class MemoryTree implements HostTree {
  constructor(private readonly files: Record<string, string>, private readonly dirs: readonly string[] = []) {}
  where(p: string): string {
    return p;
  }
  read(p: string): string | undefined {
    return this.files[p];
  }
  list(dir: string): string[] | undefined {
    const names = Object.keys(this.files).filter((f) => f.startsWith(`${dir}/`)).map((f) => f.slice(dir.length + 1));
    return names.length > 0 || this.dirs.includes(dir) ? names.sort() : undefined;
  }
  findDir(p: string): string | undefined {
    return this.dirs.includes(p) ? p : undefined;
  }
}

const shardLua = (n: number, extra = ''): string =>
  [
    'box.cfg{',
    `  listen = '127.0.0.1:3200${n}',`,
    `  work_dir = '/opt/ntech/var/lib/tarantool/shard-00${n}',`,
    ...(extra === 'no-dirs' ? [] : [`  memtx_dir = 'snapshots',`, `  wal_dir = 'xlogs',`, `  vinyl_dir = 'index',`]),
    '}',
    `FindFace.start("127.0.0.1", 810${n}, {license_ntls_server="127.0.0.1:3133"})`,
  ].join('\n');

const SF_API = (ports: number[]): string => ['listen: 127.0.0.1:18411', 'storage-api:', '  shards:', ...ports.map((p) => `  - master: http://127.0.0.1:${p}/v2/\n    slave: ''`)].join('\n');

const CONFIG_PY = [
  "MEDIA_ROOT = '/var/lib/findface-security/uploads'",
  "EXTERNAL_ADDRESS = 'http://10.0.0.5'",
  "SYNC_TOKEN = 'very-secret-token-42'",
  'DATABASES = {',
  "    'default': {",
  "        'ENGINE': 'django.db.backends.postgresql',",
  "        'NAME': 'ffsecurity',",
  "        'HOST': '127.0.0.1',",
  "        'PORT': 5439,",
  "        'USER': 'ntech',",
  "        'PASSWORD': 'db-secret',",
  "        'OPTIONS': {'NAME': 'not-this'},",
  '    }',
  '}',
].join('\n');

const PGBOUNCER_INI = ['[databases]', 'ffsecurity = host=127.0.0.1 port=5432 dbname=ffsecurity', '', '[pgbouncer]', 'listen_addr = *', 'listen_port = 5439', 'admin_users = pgbadmin'].join('\n');

/** An all-in-one FindFace host as FindFace installs it. */
const HOST = {
  '/etc/findface-sf-api.ini': SF_API([8101, 8102]),
  '/etc/tarantool/instances.enabled/shard-001.lua': shardLua(1),
  '/etc/tarantool/instances.enabled/shard-002.lua': shardLua(2),
  '/etc/ffsecurity/config.py': CONFIG_PY,
  '/etc/pgbouncer/pgbouncer.ini': PGBOUNCER_INI,
  '/etc/findface-extraction-api.ini': 'listen: 127.0.0.1:18666\nextractors:\n  models_root: /usr/share/findface-data/models\n  models:\n    face: face/ifruit_320.cpu.fnk\n',
};
const UPLOAD_DIRS = ['/var/lib/findface-security/uploads', '/var/lib/ffupload'];

const OPTS: DiscoverOptions = { hostName: 'ff-01.msk.example' };
const without = (files: Record<string, string>, ...drop: string[]): Record<string, string> => Object.fromEntries(Object.entries(files).filter(([k]) => !drop.includes(k)));
const guessesOf = (d: ReturnType<typeof discover>): string[] => d.notes.filter((n) => n.guess).map((n) => n.path.join('.'));

describe('discover', () => {
  it("builds every component of an all-in-one host from FindFace's files", () => {
    const d = discover(new MemoryTree(HOST, UPLOAD_DIRS), OPTS);
    expect(d.found).toEqual(['postgres', 'findface-security', 'tarantool', 'sf-api', 'extraction-api', 'uploads']);
    expect(d.config.extractionApi).toEqual({ configPath: '/etc/findface-extraction-api.ini', unit: 'findface-extraction-api' });
    expect(d.report).toMatchObject({ missing: [], problems: [], remarks: [] });
    expect(d.config).toMatchObject({ site: 'ff-01', host: 'ff-01', findfaceSecurity: { configPath: '/etc/ffsecurity/config.py', url: 'http://10.0.0.5', unit: 'findface-security' } });
    expect(d.config.components).toEqual([
      {
        kind: 'postgres', name: 'ffsecurity', database: 'ffsecurity', host: '127.0.0.1', port: 5432, user: 'postgres', owner: 'ntech',
        pgbouncer: { host: '127.0.0.1', port: 5439, adminUser: 'pgbadmin', database: 'ffsecurity' }, units: { app: 'findface-security', pgbouncer: 'pgbouncer' },
      },
      { kind: 'tarantool', name: 'shard-001', host: '127.0.0.1', port: 32001, httpPort: 8101, memtxDir: 'snapshots', walDir: 'xlogs', vinylDir: 'index', unit: 'tarantool@shard-001', instanceFile: '/etc/tarantool/instances.enabled/shard-001.lua' },
      { kind: 'tarantool', name: 'shard-002', host: '127.0.0.1', port: 32002, httpPort: 8102, memtxDir: 'snapshots', walDir: 'xlogs', vinylDir: 'index', unit: 'tarantool@shard-002', instanceFile: '/etc/tarantool/instances.enabled/shard-002.lua' },
      { kind: 'sf-api', name: 'sf-api', configPath: '/etc/findface-sf-api.ini', unit: 'findface-sf-api' },
      { kind: 'uploads', name: 'uploads', paths: UPLOAD_DIRS },
    ]);
    expect(guessesOf(d)).toEqual(expect.arrayContaining(['site', 'nats.servers', 'tls', 'components.0.user', 'components.1.unit']));
    expect(guessesOf(d)).not.toContain('components.0.owner');
  });

  it.each([
    {
      name: 'no pgbouncer.ini: pgbouncer is where config.py connects, PostgreSQL a local default, both marked',
      files: without(HOST, '/etc/pgbouncer/pgbouncer.ini'),
      component: { kind: 'postgres', host: '127.0.0.1', port: 5432, pgbouncer: { host: '127.0.0.1', port: 5439, adminUser: 'postgres', database: 'ffsecurity' } },
      guesses: ['components.0.pgbouncer', 'components.0.host', 'components.0.port'],
      missing: ['/etc/pgbouncer/pgbouncer.ini'],
    },
    {
      name: 'no instances.enabled: instances.available is read, enabled named missing; dirs default to work_dir',
      files: { ...without(HOST, '/etc/tarantool/instances.enabled/shard-001.lua', '/etc/tarantool/instances.enabled/shard-002.lua'), '/etc/tarantool/instances.available/shard-001.lua': shardLua(1, 'no-dirs') },
      component: { kind: 'tarantool', name: 'shard-001', memtxDir: '/opt/ntech/var/lib/tarantool/shard-001', walDir: '/opt/ntech/var/lib/tarantool/shard-001' },
      guesses: ['components.1.memtxDir', 'components.1.walDir', 'components.1.vinylDir'],
      missing: ['/etc/tarantool/instances.enabled/'],
      remarks: [expect.stringContaining('lists shard http://127.0.0.1:8102/v2/: no instance file here')],
    },
    {
      name: 'config.py only at FindFace Multi\'s path, no MEDIA_ROOT: the default uploads dir, marked in the note',
      files: { ...without(HOST, '/etc/ffsecurity/config.py'), '/etc/findface-security/config.py': CONFIG_PY.replace(/^MEDIA_ROOT.*$/m, '') },
      component: { kind: 'uploads', paths: UPLOAD_DIRS },
      guesses: [],
      missing: [],
    },
  ])('$name', ({ files, component, guesses, missing, remarks }) => {
    const d = discover(new MemoryTree(files, UPLOAD_DIRS), OPTS);
    expect(d.config.components).toContainEqual(expect.objectContaining(component));
    expect(guessesOf(d)).toEqual(expect.arrayContaining(guesses));
    expect(d.report.missing).toEqual(missing);
    if (remarks) expect(d.report.remarks).toEqual(remarks);
  });

  it('names every file it looked for when the host has none, and finds nothing usable', () => {
    const d = discover(new MemoryTree({}), OPTS);
    expect(d.found).toEqual([]);
    expect(d.config.components).toEqual([]);
    expect(d.report.missing).toEqual([
      '/etc/ffsecurity/config.py',
      '/etc/findface-security/config.py',
      '/etc/pgbouncer/pgbouncer.ini',
      '/etc/findface-sf-api.ini',
      '/etc/tarantool/instances.enabled/',
      '/etc/tarantool/instances.available/',
      '/etc/findface-extraction-api.ini',
      "/var/lib/findface-security/uploads/ (FindFace's default uploads)",
      "/var/lib/ffsecurity/uploads/ (FindFace's default uploads)",
      '/var/lib/ffupload/ (findface-upload)',
    ]);
  });

  it('falls back to instances.available when instances.enabled holds no instance file', () => {
    const files = { ...without(HOST, '/etc/tarantool/instances.enabled/shard-001.lua', '/etc/tarantool/instances.enabled/shard-002.lua'), '/etc/tarantool/instances.available/shard-002.lua': shardLua(2) };
    const d = discover(new MemoryTree(files, [...UPLOAD_DIRS, '/etc/tarantool/instances.enabled']), { ...OPTS, parts: ['tarantool'] });
    expect(d.config.components.map((c) => c.name)).toEqual(['shard-002']);
    expect(d.report.remarks).toEqual(['/etc/tarantool/instances.enabled/ holds no instance file', expect.stringContaining('lists shard http://127.0.0.1:8101/v2/: no instance file here')]);
    expect(d.report.missing).toEqual([]);
  });

  it('looks only for the parts asked for', () => {
    const d = discover(new MemoryTree(without(HOST, '/etc/ffsecurity/config.py'), UPLOAD_DIRS), { ...OPTS, parts: ['tarantool'], site: 'msk-1', host: 'tnt' });
    expect(d.found).toEqual(['tarantool']);
    expect(d.config.components.map((c) => `${c.kind}:${c.name}`)).toEqual(['tarantool:shard-001', 'tarantool:shard-002']);
    expect(d.config.findfaceSecurity).toBeUndefined();
    expect(d.report.missing).toEqual([]);
    expect(guessesOf(d)).not.toContain('site');
  });

  it('reports an unparsable file and skips instances that are no FindFace shard', () => {
    const files = { ...HOST, '/etc/tarantool/instances.enabled/shard-002.lua': 'box.cfg{}', '/etc/tarantool/instances.enabled/app.lua': "box.cfg{listen = 3301}" };
    const d = discover(new MemoryTree(files, UPLOAD_DIRS), OPTS);
    expect(d.report.problems).toEqual([expect.stringMatching(/^\/etc\/tarantool\/instances.enabled\/shard-002.lua: .*listen/)]);
    expect(d.report.remarks).toEqual(expect.arrayContaining(['skipped /etc/tarantool/instances.enabled/app.lua: no FindFace.start (not a FindFace shard)']));
    expect(d.config.components.filter((c) => c.kind === 'tarantool').map((c) => c.name)).toEqual(['shard-001']);
  });

  it('renders YAML the agent loads, guesses marked, the SYNC_TOKEN and the database password never shown', () => {
    const d = discover(new MemoryTree(HOST, UPLOAD_DIRS), { ...OPTS, site: 'msk-1', host: 'db', nats: ['nats://ops:4222'] });
    const text = renderDiscovery(d, '/');
    expect(agentConfigSchema.parse(parse(text))).toEqual(d.config);
    expect(text).toContain('SYNC_TOKEN is set');
    expect(text).not.toContain('very-secret-token-42');
    expect(text).not.toContain('db-secret');
    expect(text).toMatch(/user: postgres # guess: /);
    expect(text).not.toMatch(/servers:\n\s+# guess/);
    expect(text).toMatch(/^# \(found: postgres, findface-security, tarantool, sf-api, extraction-api, uploads\)$/m);
  });

  it('refuses bad options naming them', () => {
    expect(() => parseParts('tarantool,mongo')).toThrow(expect.objectContaining({ name: 'ValidationError', field: 'components', message: "unknown component 'mongo': one of postgres, findface-security, tarantool, sf-api, extraction-api, uploads" }));
    expect(() => discover(new MemoryTree({}), { ...OPTS, host: 'a.b' })).toThrow(ValidationError);
    expect(() => discover(new MemoryTree({}), { ...OPTS, host: 'a.b' })).toThrow(`--host 'a.b' must be`);
    expect(parseParts(' postgres, uploads ')).toEqual(['postgres', 'uploads']);
    expect(idFromHostName('ff_db01.msk.example')).toBe('ff_db01');
    expect(idFromHostName('ümlaut')).toBe('findface-host');
  });
});
