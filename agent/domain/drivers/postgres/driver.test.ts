/**
 * Unit tests of the PostgreSQL driver's logic with in-memory fakes of its ports: the restore sequence
 * and what a failure at each step leaves behind, the bounded freeze, and the upload's hold/commit rules.
 * The same behaviour against real servers is in test/drivers/postgres-*.test.ts.
 */
import { createHash } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IllegalStateError, InternalError, TimeoutError, UnavailableError } from '../../../../shared/errors.js';
import { silentLogger } from '../../../../shared/logger.js';
import type { BackupStreamHead, BackupStreamRequest, BackupSummary, OpenedBackupStream, Repository } from '../../../../shared/repository/repository.js';
import type { ServiceManager } from '../../ports.js';
import type { ComponentArtifact } from '../types.js';
import { PostgresDriver } from './driver.js';
import type { AppCommand, DumpProcess, LoadRequest, PoolerConsole, SnapshotHold } from './ports.js';
import { RestoreStepFailedError } from './steps.js';

const DUMP = Buffer.from('CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n');
const SHA = createHash('sha256').update(DUMP).digest('hex');
const SNAP = 'a'.repeat(64);

/** Everything the fakes did, in order. */
type Log = string[];

function fakeServices(log: Log, failOn?: string): ServiceManager & { active: Set<string> } {
  const active = new Set(['findface-security', 'pgbouncer']);
  return {
    active,
    isActive: async (unit) => active.has(unit),
    async stop(unit) {
      log.push(`stop ${unit}`);
      if (failOn === `stop ${unit}`) throw new IllegalStateError(`systemctl stop ${unit} failed`);
      active.delete(unit);
    },
    async start(unit) {
      log.push(`start ${unit}`);
      if (failOn === `start ${unit}`) throw new IllegalStateError(`systemctl start ${unit} failed`);
      active.add(unit);
    },
  };
}

/** A repository whose `dump` counts its runs (`dumps.count`); a wrong password fails the dump, as restic does. */
function fakeRepository(log: Log, options: { wrongPassword?: boolean; dumpBytes?: Buffer; dumps?: { count: number }; openFails?: Error } = {}): Repository {
  const fail = (): never => {
    throw new InternalError('not used');
  };
  const commit = async (request: Pick<BackupStreamRequest, 'stream' | 'sourceComplete'>, how: string): Promise<BackupSummary> => {
    let bytes = 0;
    for await (const chunk of request.stream) bytes += (chunk as Buffer).length;
    await request.sourceComplete?.();
    log.push(`committed ${bytes}${how}`);
    return {
      snapshotId: SNAP, filesNew: 1, filesChanged: 0, filesUnmodified: 0, dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0,
      dataAddedBytes: bytes, totalFilesProcessed: 1, totalBytesProcessed: bytes, durationSeconds: 0, complete: true, itemErrors: [], missingPaths: [],
    };
  };
  return {
    displayUrl: '/repo',
    describe: fail,
    listSnapshots: fail,
    backupTrees: fail,
    openTreesBackup: fail,
    dump: () => {
      if (options.dumps) options.dumps.count += 1;
      if (!options.wrongPassword) return Readable.from([options.dumpBytes ?? DUMP]);
      const failing = new PassThrough();
      setImmediate(() => failing.destroy(new UnavailableError('wrong password for repository /repo')));
      return failing;
    },
    backupStream: (request: BackupStreamRequest) => commit(request, ''),
    async openBackupStream(head: BackupStreamHead): Promise<OpenedBackupStream> {
      log.push(`open backup ${head.filename} ${(head.tags ?? []).join(',')}`);
      if (options.openFails) throw options.openFails;
      let state = 'open';
      return {
        get usable() {
          return state === 'open';
        },
        write: (source) => ((state = 'written'), commit(source, ' into the opened backup')),
        cancel: async () => {
          if (state === 'open') log.push('cancel opened backup');
          state = 'cancelled';
        },
      };
    },
    init: fail, ensureInitialized: fail, backupFiles: fail, restore: fail, forget: fail, check: fail, stats: fail, releaseStaleLocks: fail, tryRemove: fail, copyFrom: fail,
  };
}

interface FakeOptions {
  failOn?: string;
  pause?: (signal: AbortSignal, onSent: () => void) => Promise<void>;
  dump?: () => DumpProcess;
  /** Free bytes on the server's filesystem (the server is then on this host). */
  free?: number;
}

function makeDriver(log: Log, options: FakeOptions = {}): { driver: PostgresDriver; services: ReturnType<typeof fakeServices> } {
  const services = fakeServices(log, options.failOn);
  const step = async (name: string): Promise<void> => {
    log.push(name);
    if (options.failOn === name) throw new IllegalStateError(`${name} failed`);
  };
  const pooler: PoolerConsole = {
    address: 'pgb:6432',
    pause: (_db, o) => (options.pause ? options.pause(o.signal, o.onSent) : (o.onSent(), step('PAUSE'))),
    resume: async () => (await step('RESUME'), 'resumed'),
    kill: () => step('KILL'),
    check: async () => ({ paused: false }),
  };
  const hold: SnapshotHold = { snapshot: { name: '00000003-1', lsn: '0/1', time: new Date(0) }, release: () => step('release hold') };
  const driver = new PostgresDriver({
    name: 'ffsecurity',
    database: 'ffsecurity',
    owner: 'ntech',
    units: { app: 'findface-security', pgbouncer: 'pgbouncer' },
    pauseTimeoutMs: 100,
    logger: silentLogger(),
    ports: {
      pooler,
      services,
      server: {
        address: 'pg:5432',
        check: async () => ({ version: '15.2', versionNum: 150002 }),
        exportSnapshot: async () => (await step('export'), hold),
        prepareSnapshot: async () => (await step('open cut connection'), { take: async () => (await step('export'), hold), discard: () => step('discard cut connection') }),
        roleExists: async () => true,
        databaseExists: async () => false,
        storage: async () => ({ dataDirectory: '/var/lib/postgresql/15/main', databaseBytes: 5000 }),
        dropDatabase: (db) => step(`drop ${db}`),
        createDatabase: (r) => step(`create ${r.database}`),
        renameDatabase: (from, to) => step(`rename ${from} ${to}`),
        validateConstraints: async (db, ks) => (await step(`validate ${db} ${ks.map((k) => k.name).join(',')}`), ks.map((k) => ({ ...k, valid: true }))),
      },
      dump: { check: async () => ({ version: '15.2', major: 15 }), start: options.dump ?? (() => fakeDump(log, 0)) },
      loader: {
        check: async () => undefined,
        async load(r: LoadRequest) {
          let bytes = 0;
          for await (const chunk of r.input) bytes += (chunk as Buffer).length;
          await r.beforeCommit();
          await step(`load ${bytes}`);
        },
      },
      app: { program: 'findface-security', check: async () => undefined, run: (c: AppCommand) => step(c) },
      ...(options.free === undefined ? {} : { freeBytes: async () => options.free ?? 0 }),
    },
  });
  return { driver, services };
}

function fakeDump(log: Log, exitCode: number): DumpProcess {
  const stdout = new PassThrough();
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = () => (exitCode === 0 ? resolve() : reject(new InternalError(`pg_dump failed (exit ${exitCode})`)));
  });
  done.catch(() => undefined);
  setImmediate(() => {
    log.push('dump started');
    stdout.end(DUMP, () => finish());
  });
  return { stdout, done, kill: () => log.push('dump killed') };
}

const artifact: ComponentArtifact = {
  component: 'postgres:ffsecurity',
  kind: 'postgres',
  cut: { kind: 'postgres', component: 'postgres:ffsecurity', time: new Date(0), snapshotName: 's', lsn: '0/1' },
  snapshotIds: [SNAP],
  bytes: DUMP.length,
  files: 1,
  dataAddedBytes: DUMP.length,
  checksums: { '/ffsecurity.sql': SHA },
  details: { database: 'ffsecurity', file: '/ffsecurity.sql' },
};

const SEQUENCE = [
  'stop findface-security',
  'stop pgbouncer',
  'drop ffsecurity',
  'create ffsecurity',
  'start pgbouncer',
  `load ${DUMP.length}`,
  'migrate',
  'create_groups',
  'create_default_user',
  'start findface-security',
];

describe('PostgresDriver.restore', () => {
  it('runs the documented sequence in order, the check and the load reading one dump run', async () => {
    const log: Log = [];
    const dumps = { count: 0 };
    const { driver } = makeDriver(log);
    const report = await driver.restore({ jobId: 'j', artifact, repository: fakeRepository(log, { dumps }), logger: silentLogger() });
    expect(log).toEqual(SEQUENCE);
    expect(report.steps.every((s) => s.ok)).toBe(true);
    expect(report.steps[0]).toMatchObject({ step: 'check artifact', detail: `snapshot ${SNAP} in /repo: first ${DUMP.length} bytes of /ffsecurity.sql read` });
    expect(dumps.count).toBe(1);
  });

  it.each([
    { failOn: 'stop findface-security', changed: false, undo: [], active: ['findface-security', 'pgbouncer'] },
    { failOn: 'stop pgbouncer', changed: false, undo: ['start findface-security'], active: ['findface-security', 'pgbouncer'] },
    { failOn: 'drop ffsecurity', changed: false, undo: ['start pgbouncer', 'start findface-security'], active: ['findface-security', 'pgbouncer'] },
    { failOn: 'create ffsecurity', changed: true, undo: [], active: [] },
    { failOn: `load ${DUMP.length}`, changed: true, undo: [], active: ['pgbouncer'] },
    { failOn: 'create_groups', changed: true, undo: [], active: ['pgbouncer'] },
  ])('a failure at $failOn stops there; site changed: $changed; undo: $undo', async ({ failOn, changed, undo, active }) => {
    const log: Log = [];
    const { driver, services } = makeDriver(log, { failOn });
    const err = await driver.restore({ jobId: 'j', artifact, repository: fakeRepository(log), logger: silentLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreStepFailedError);
    const failed = err as RestoreStepFailedError;
    expect(failed.siteChanged).toBe(changed);
    expect(failed.report.steps.filter((s) => !s.ok)).toHaveLength(1);
    const ran = log;
    expect(ran).toEqual([...SEQUENCE.slice(0, SEQUENCE.indexOf(failOn) + 1), ...undo]);
    expect([...services.active].sort()).toEqual(active);
  });

  it('touches nothing when the repository cannot be opened', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    const err = await driver.restore({ jobId: 'j', artifact, repository: fakeRepository(log, { wrongPassword: true }), logger: silentLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreStepFailedError);
    expect((err as RestoreStepFailedError).step).toBe('check artifact');
    expect((err as Error).message).toContain('wrong password for repository /repo');
    expect(log).toEqual([]);
  });

  it('rolls the load back when the bytes read back differ from the recorded sha256', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    const tampered = Buffer.from(DUMP.toString().replace('1', '2'));
    const err = await driver.restore({ jobId: 'j', artifact, repository: fakeRepository(log, { dumpBytes: tampered }), logger: silentLogger() }).catch((e: unknown) => e);
    expect((err as RestoreStepFailedError).step).toBe('load /ffsecurity.sql into ffsecurity');
    expect((err as Error).message).toContain(`recorded ${SHA}`);
    expect(log).not.toContain(`load ${DUMP.length}`); // beforeCommit rejected: nothing committed
  });

  it('refuses an artifact of another kind before any step', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    const other = { ...artifact, kind: 'uploads' as const };
    const err = await driver.restore({ jobId: 'j', artifact: other, repository: fakeRepository(log), logger: silentLogger() }).catch((e: unknown) => e);
    expect((err as Error).message).toContain('is a uploads artifact, not a PostgreSQL dump');
    expect(log).toEqual([]);
  });
});

describe('PostgresDriver staged restore', () => {
  it('stages into a staging database, switches under pgbouncer KILL/RESUME without stopping a unit, and finishes', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log, { free: 1e9 });
    const staged = await driver.stage({ jobId: 'j', artifact, repository: fakeRepository(log), logger: silentLogger() });
    expect(staged.report.steps.find((s) => s.step === 'check space')?.detail).toBe('4.9 KiB needed, 953.7 MiB free on the filesystem of /var/lib/postgresql/15/main');
    const ctx = { jobId: 'j', logger: silentLogger() };
    await staged.switchIn(ctx);
    await staged.finish(ctx);
    const [staging, aside] = [/ffsecurity_ffk_stage_\w+/, /ffsecurity_ffk_aside_\w+/].map((re) => re.exec(log.join(' '))?.[0] ?? '');
    expect(log).toEqual([
      `drop ${staging}`, `create ${staging}`, `load ${DUMP.length}`,
      'KILL', `rename ffsecurity ${aside}`, `rename ${staging} ffsecurity`, 'RESUME', 'migrate', 'create_groups', 'create_default_user',
      `drop ${aside}`,
    ]);
  });

  it('refuses before creating anything when the server has too little room for a second copy of the database', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log, { free: 4999 });
    const err = await driver.stage({ jobId: 'j', artifact, repository: fakeRepository(log), logger: silentLogger() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreStepFailedError);
    expect((err as Error).message).toContain("stopped at step 'check space': not enough free space to stage postgres:ffsecurity beside /var/lib/postgresql/15/main: the snapshot's copy needs 4.9 KiB, the filesystem has 4.9 KiB free");
    expect(log).toEqual([]);
  });
});

describe('PostgresDriver freeze/thaw', () => {
  it('cancels a PAUSE that does not return in time with RESUME', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log, { pause: (_signal, onSent) => (onSent(), new Promise(() => undefined)) });
    const err = await driver.freeze().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe('PAUSE ffsecurity on pgbouncer pgb:6432 did not return within 100 ms; cancelled with RESUME');
    expect(log).toEqual(['RESUME']);
    await driver.thaw();
    expect(log).toEqual(['RESUME']); // already resumed: thaw has nothing left to do
  });

  it('gives up when the PAUSE cannot even be sent, and has nothing to RESUME', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log, { pause: () => new Promise(() => undefined) });
    const err = await driver.freeze().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toBe('PAUSE ffsecurity on pgbouncer pgb:6432 could not be sent within 2100 ms; nothing was paused');
    expect(log).toEqual([]);
  });

  it('does not RESUME when the PAUSE never reached pgbouncer', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log, { pause: async () => Promise.reject(new UnavailableError('connection refused')) });
    const err = await driver.freeze().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toBe('PAUSE ffsecurity on pgbouncer pgb:6432 failed: connection refused; nothing was paused');
    await driver.thaw();
    expect(log).toEqual([]);
  });

  it('thaw is idempotent', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    await driver.thaw();
    await driver.freeze();
    await driver.thaw();
    await driver.thaw();
    expect(log).toEqual(['PAUSE', 'RESUME']);
  });
});

describe('PostgresDriver cut', () => {
  it('opens the cut connection at prepare, so the cut is the export alone; a release before the cut discards it', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    await driver.prepare();
    expect(log).toEqual(['open cut connection']);
    await driver.freeze();
    await driver.cut();
    await driver.thaw();
    expect(log).toEqual(['open cut connection', 'PAUSE', 'export', 'RESUME']);
    await driver.release();
    expect(log.at(-1)).toBe('release hold');
    log.length = 0;
    await driver.prepare();
    await driver.release();
    expect(log).toEqual(['open cut connection', 'discard cut connection']);
  });

  it('exports on a new connection when the prepared one cannot', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log, { failOn: 'export' });
    await driver.prepare();
    await expect(driver.cut()).rejects.toThrow('export failed'); // the fake fails both: each was tried
    expect(log).toEqual(['open cut connection', 'export', 'export']);
  });
});

describe('PostgresDriver upload', () => {
  const tags = { site: 's', cutId: 'c', component: 'postgres:ffsecurity' };

  it('streams the dump, records its sha256 and releases the hold', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    await driver.cut();
    const art = await driver.upload({ jobId: 'j', tags, repository: fakeRepository(log), logger: silentLogger() });
    expect(art.checksums).toEqual({ '/ffsecurity.sql': SHA });
    expect(art.bytes).toBe(DUMP.length);
    expect(log).toEqual(['export', 'dump started', 'release hold', `committed ${DUMP.length}`, 'dump killed']);
  });

  it('does not commit when pg_dump exits non-zero', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log, { dump: () => fakeDump(log, 1) });
    await driver.cut();
    await expect(driver.upload({ jobId: 'j', tags, repository: fakeRepository(log), logger: silentLogger() })).rejects.toThrow('pg_dump failed (exit 1)');
    expect(log.some((l) => l.startsWith('committed'))).toBe(false);
    expect(log).toContain('release hold');
  });

  it('refuses an upload without a cut, or tagged for another component', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    await expect(driver.upload({ jobId: 'j', tags, repository: fakeRepository(log), logger: silentLogger() })).rejects.toThrow(IllegalStateError);
    await driver.cut();
    await expect(driver.upload({ jobId: 'j', tags: { ...tags, component: 'postgres:other' }, repository: fakeRepository(log), logger: silentLogger() })).rejects.toThrow(
      "postgres:ffsecurity: upload tagged for component 'postgres:other'",
    );
    expect(log).toEqual(['export', 'release hold']);
  });

  const opening = (cutId = 'c'): string => `open backup ffsecurity.sql ffk-site=s,ffk-cut=${cutId},ffk-component=postgres:ffsecurity`;

  it("a cut's prepare opens the dump's backup beside its checks; that cut's upload feeds it", async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    const repository = fakeRepository(log);
    expect(driver.opensRepository).toBe(true);
    await driver.prepare({ tags, repository });
    expect(log).toEqual([opening(), 'open cut connection']);
    await driver.freeze();
    await driver.cut();
    await driver.thaw();
    const art = await driver.upload({ jobId: 'j', tags, repository, logger: silentLogger() });
    expect(art.checksums).toEqual({ '/ffsecurity.sql': SHA });
    expect(log.slice(2)).toEqual(['PAUSE', 'export', 'RESUME', 'dump started', 'release hold', `committed ${DUMP.length} into the opened backup`, 'dump killed']);
  });

  it('a release, a newer prepare, an upload of another cut or a shutdown stops the opened backup without a snapshot', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    const repository = fakeRepository(log);
    await driver.prepare({ tags, repository });
    await driver.release();
    expect(log.filter((l) => l.includes('opened'))).toEqual(['cancel opened backup']);
    log.length = 0;
    await driver.prepare({ tags, repository });
    await driver.prepare({ tags: { ...tags, cutId: 'c2' }, repository });
    expect(log).toEqual([opening(), 'open cut connection', 'cancel opened backup', opening('c2'), 'discard cut connection', 'open cut connection']);
    await driver.cut();
    log.length = 0;
    await driver.upload({ jobId: 'j', tags, repository, logger: silentLogger() }); // cut c, opened for c2
    expect(log.filter((l) => l.includes('opened') || l.startsWith('committed'))).toEqual(['cancel opened backup', `committed ${DUMP.length}`]);
    log.length = 0;
    await driver.prepare({ tags, repository });
    await driver.close();
    expect(log.at(-1)).toBe('cancel opened backup');
  });

  it('a repository that does not open fails the prepare; a failed check stops the opened backup', async () => {
    const log: Log = [];
    const { driver } = makeDriver(log);
    const locked = new UnavailableError('repository /repo is unreachable');
    await expect(driver.prepare({ tags, repository: fakeRepository(log, { openFails: locked }) })).rejects.toBe(locked);
    expect(log).toEqual([opening(), 'open cut connection', 'discard cut connection']);
    const failing = makeDriver((log.length = 0, log), { failOn: 'open cut connection' }).driver;
    await expect(failing.prepare({ tags, repository: fakeRepository(log) })).rejects.toThrow('open cut connection failed');
    expect(log).toEqual([opening(), 'open cut connection', 'cancel opened backup']);
  });
});
