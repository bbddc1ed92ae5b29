import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../../shared/errors.js';
import { silentLogger } from '../../shared/logger.js';
import type { ComponentArtifact } from '../../shared/manifest.js';
import type { Repository } from '../../shared/repository/repository.js';
import type { SandboxComponent } from '../../shared/sandbox.js';
import { TarantoolShardDriver } from './drivers/tarantool/driver.js';
import { FakeShard } from './drivers/tarantool/fakes.test-support.js';
import type { ExportBatch, GalleryInfo, GalleryStore } from './drivers/tarantool/ports.js';
import type { ComponentDriver } from './drivers/types.js';
import { databaseDumpName, exportSnapshot, uploadArchiveName, EXPORT_MANIFEST_NAME } from './export.js';

/** A scratch instance's galleries: records keyed by id, served in key order. */
class MemoryGalleries implements GalleryStore {
  readonly address: string;
  closed = false;
  constructor(
    port: number,
    private readonly galleries: { info: GalleryInfo; ids: number[] }[],
  ) {
    this.address = `127.0.0.1:${port}`;
  }
  listGalleries(): Promise<GalleryInfo[]> {
    return Promise.resolve(this.galleries.map((g) => ({ ...g.info, count: g.ids.length })));
  }
  exportBatch(gallery: string, afterKey: string | undefined, limit: number): Promise<ExportBatch> {
    const ids = (this.galleries.find((g) => g.info.name === gallery)?.ids ?? []).filter((id) => afterKey === undefined || id > Number(afterKey)).slice(0, limit);
    return Promise.resolve({ lines: ids.map((id) => Buffer.from(`{"id":${id},"feat":"AAAA","norm":"n/${id}","meta":{}}`)), lastKey: ids.length ? String(ids[ids.length - 1]) : undefined });
  }
  ensureGallery = (): Promise<void> => Promise.reject(new Error('not used'));
  readProgress = (): Promise<never> => Promise.reject(new Error('not used'));
  importBatch = (): Promise<void> => Promise.reject(new Error('not used'));
  clearProgress = (): Promise<void> => Promise.reject(new Error('not used'));
  truncate = (): Promise<number> => Promise.reject(new Error('not used'));
  replaceBatch = (): Promise<number> => Promise.reject(new Error('not used'));
  digest = (): Promise<never> => Promise.reject(new Error('not used'));
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const faces = (count: number): GalleryInfo => ({ name: 'ffsec_face_objects', model: 'face-v1', dim: 1, count });
const events = (count: number): GalleryInfo => ({ name: 'ffsec_face_events', model: 'face-v1', dim: 1, count });

function shardDriver(name: string, stores: Map<number, MemoryGalleries>): TarantoolShardDriver {
  const shard = new FakeShard();
  return new TarantoolShardDriver(
    { name, unit: `tarantool@${name}`, memtxDir: '/data/memtx', walDir: '/data/wal' },
    { admin: shard, files: shard, services: shard, logger: silentLogger(), realpath: async (d) => d, sandboxGalleries: (_h, port) => stores.get(port) as GalleryStore },
  );
}

const artifact = (component: string, kind: ComponentArtifact['kind'], details: ComponentArtifact['details'] = {}): ComponentArtifact =>
  ({ component, kind, cut: { kind, component, time: new Date(0) } as never, snapshotIds: ['s1'], bytes: 1, files: 1, dataAddedBytes: 1, details });

/** A repository whose `dump` serves one plain dump. */
const repository = (sql: string): Repository => ({ dump: () => Readable.from([Buffer.from(sql)]) }) as unknown as Repository;

describe('snapshot export on one host', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = mkdtempSync(path.join(os.tmpdir(), 'ffk-export-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('names files as FindFace does: upload roots below /, dumps by database', () => {
    expect(uploadArchiveName('/var/lib/ffupload')).toBe('var_lib_ffupload.tar.gz');
    expect(uploadArchiveName('/var/lib/findface-security/uploads/')).toBe('var_lib_findface-security_uploads.tar.gz');
    expect(() => uploadArchiveName('relative/dir')).toThrow(ValidationError);
    expect(() => uploadArchiveName('/')).toThrow(ValidationError);
    expect(databaseDumpName('ffsecurity')).toBe('ffsecurity_postgres_backup.sql');
    expect(() => databaseDumpName('../etc')).toThrow(ValidationError);
  });

  it('writes galleries of every shard into one file each, the dump, each upload root as tar.gz, and the manifest', async () => {
    const stores = new Map([
      [7001, new MemoryGalleries(7001, [{ info: faces(2), ids: [2, 4] }, { info: events(1), ids: [6] }])],
      [7002, new MemoryGalleries(7002, [{ info: faces(2), ids: [1, 3] }])],
    ]);
    const drivers: ComponentDriver[] = [shardDriver('shard-001', stores), shardDriver('shard-002', stores), { ref: 'postgres:ffsecurity', kind: 'postgres' } as ComponentDriver, { ref: 'uploads:media', kind: 'uploads' } as ComponentDriver];
    const sandboxDir = tmp();
    const root = '/var/lib/ffupload';
    mkdirSync(path.join(sandboxDir, root, 'n'), { recursive: true });
    writeFileSync(path.join(sandboxDir, root, 'n', '1.jpg'), 'jpeg bytes');
    const sandbox: SandboxComponent[] = [
      { kind: 'tarantool', component: 'tarantool:shard-001', name: 'shard-001', host: '127.0.0.1', port: 7001 },
      { kind: 'tarantool', component: 'tarantool:shard-002', name: 'shard-002', host: '127.0.0.1', port: 7002 },
      { kind: 'uploads', component: 'uploads:media', roots: [{ original: root, restored: path.join(sandboxDir, root) }] },
    ];
    const to = path.join(tmp(), 'export');
    const files = await exportSnapshot(
      {
        artifacts: [artifact('tarantool:shard-001', 'tarantool'), artifact('tarantool:shard-002', 'tarantool'), artifact('postgres:ffsecurity', 'postgres', { database: 'ffsecurity', file: '/ffsecurity.sql', format: 'plain' }), artifact('uploads:media', 'uploads')],
        sandbox,
        toDir: to,
        manifestJson: '{"cutId":"c1"}',
        repository: repository('CREATE TABLE t ();\n'),
      },
      { select: () => drivers, logger: silentLogger() },
    );
    expect(files.map((f) => f.name).sort()).toEqual([EXPORT_MANIFEST_NAME, 'ffsec_face_events.json', 'ffsec_face_objects.json', 'ffsecurity_postgres_backup.sql', 'var_lib_ffupload.tar.gz']);
    expect(readdirSync(to).sort()).toEqual(files.map((f) => f.name).sort());
    const ids = readFileSync(path.join(to, 'ffsec_face_objects.json'), 'utf8').trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: number }).id);
    expect(ids).toEqual([2, 4, 1, 3]);
    expect(files.find((f) => f.name === 'ffsec_face_objects.json')?.holds).toBe('gallery ffsec_face_objects (model face-v1): 4 record(s)');
    expect(readFileSync(path.join(to, 'ffsecurity_postgres_backup.sql'), 'utf8')).toBe('CREATE TABLE t ();\n');
    expect(execFileSync('tar', ['-tzf', path.join(to, 'var_lib_ffupload.tar.gz')], { encoding: 'utf8' }).split('\n')).toContain('var/lib/ffupload/n/1.jpg');
    expect([...stores.values()].every((s) => s.closed)).toBe(true);
  });

  it('never overwrites a file already in the directory, and leaves nothing of its own behind when it fails', async () => {
    const stores = new Map([[7001, new MemoryGalleries(7001, [{ info: faces(1), ids: [1] }])]]);
    const to = tmp();
    writeFileSync(path.join(to, 'ffsec_face_objects.json'), 'kept');
    const run = exportSnapshot(
      {
        artifacts: [artifact('postgres:ffsecurity', 'postgres', { database: 'ffsecurity', file: '/ffsecurity.sql', format: 'plain' }), artifact('tarantool:shard-001', 'tarantool')],
        sandbox: [{ kind: 'tarantool', component: 'tarantool:shard-001', name: 'shard-001', host: '127.0.0.1', port: 7001 }],
        toDir: to,
        manifestJson: '{}',
        repository: repository('SELECT 1;\n'),
      },
      { select: () => [{ ref: 'postgres:ffsecurity', kind: 'postgres' } as ComponentDriver, shardDriver('shard-001', stores)], logger: silentLogger() },
    );
    await expect(run).rejects.toThrow(ConflictError);
    expect(readdirSync(to)).toEqual(['ffsec_face_objects.json']);
    expect(readFileSync(path.join(to, 'ffsec_face_objects.json'), 'utf8')).toBe('kept');
  });

  it("two hosts sharing the directory share the manifest; another snapshot's manifest there is a conflict", async () => {
    const to = tmp();
    const dump = (database: string, manifestJson: string) =>
      exportSnapshot(
        { artifacts: [artifact(`postgres:${database}`, 'postgres', { database, file: `/${database}.sql`, format: 'plain' })], sandbox: [], toDir: to, manifestJson, repository: repository('SELECT 1;\n') },
        { select: () => [{ ref: `postgres:${database}`, kind: 'postgres' } as ComponentDriver], logger: silentLogger() },
      );
    const [a, b] = await Promise.all([dump('one', '{"cutId":"c1"}'), dump('two', '{"cutId":"c1"}')]);
    expect([...a, ...b].filter((f) => f.name === EXPORT_MANIFEST_NAME)).toHaveLength(2);
    expect(readdirSync(to).sort()).toEqual([EXPORT_MANIFEST_NAME, 'one_postgres_backup.sql', 'two_postgres_backup.sql']);
    await expect(dump('three', '{"cutId":"c2"}')).rejects.toThrow("holds another snapshot's manifest");
    expect(readdirSync(to)).not.toContain('three_postgres_backup.sql');
  });

  it('a file it cannot write fails the export with the reason (a leftover .partial of a killed export): nothing else is left', async () => {
    const to = tmp();
    writeFileSync(path.join(to, 'ffsecurity_postgres_backup.sql.partial'), 'left by a killed export');
    const run = exportSnapshot(
      { artifacts: [artifact('postgres:ffsecurity', 'postgres', { database: 'ffsecurity', file: '/ffsecurity.sql', format: 'plain' })], sandbox: [], toDir: to, manifestJson: '{}', repository: repository('SELECT 1;\n') },
      { select: () => [{ ref: 'postgres:ffsecurity', kind: 'postgres' } as ComponentDriver], logger: silentLogger() },
    );
    await expect(run).rejects.toThrow(`cannot write ${path.join(to, 'ffsecurity_postgres_backup.sql')}: EEXIST`);
    expect(readdirSync(to)).toEqual(['ffsecurity_postgres_backup.sql.partial']);
  });

  it('refuses a component not restored into the sandbox, and a relative directory, before writing anything', async () => {
    const to = path.join(tmp(), 'never');
    const req = { artifacts: [artifact('uploads:media', 'uploads')], sandbox: [], toDir: to, manifestJson: '{}', repository: repository('') };
    const deps = { select: () => [{ ref: 'uploads:media', kind: 'uploads' } as ComponentDriver], logger: silentLogger() };
    await expect(exportSnapshot(req, deps)).rejects.toThrow('uploads:media was not restored into the sandbox: restore it there before the export');
    await expect(exportSnapshot({ ...req, toDir: 'rel/dir' }, deps)).rejects.toThrow("export directory 'rel/dir' must be an absolute path");
    expect(() => readdirSync(to)).toThrow();
  });
});
