/**
 * PostgreSQL driver under faults, on real servers: a unit that refuses to stop (the restore stops there,
 * names the step and leaves the site as it was), a wrong repository password, a missing owner role or
 * snapshot (clear errors, nothing changed), a damaged dump (the load is rolled back whole), and pg_dump
 * failing at start or mid-stream (no snapshot left in the repository).
 */
import { pipeline, Transform } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { BackupSourceFailedError, RepositoryWrongPasswordError, SnapshotNotFoundError } from '../../shared/repository/errors.js';
import type { Repository } from '../../shared/repository/repository.js';
import { ResticRepository } from '../../shared/repository/restic.js';
import { createPostgresDriver } from '../../agent/adapters/postgres/factory.js';
import { PG_DUMP_APP_NAME } from '../../agent/adapters/postgres/pg-dump.js';
import { RestoreStepFailedError } from '../../agent/domain/drivers/postgres/steps.js';
import type { ComponentArtifact } from '../../agent/domain/drivers/types.js';
import { adminQuery, PgTestSite, seedSchema, tableSums, tempRepository } from './postgres-support.js';

const SITE = 'pg-faults';

describe('PostgreSQL driver: faults', () => {
  let site: PgTestSite;
  let repository: Awaited<ReturnType<typeof tempRepository>>;
  let artifact: ComponentArtifact;

  beforeAll(async () => {
    site = await PgTestSite.start();
    repository = await tempRepository();
    await seedSchema(site, 2000);
    const driver = site.driver();
    await driver.cut();
    artifact = await driver.upload({ jobId: 'j', tags: { site: SITE, cutId: 'c-ok', component: driver.ref }, repository: repository.repo, logger: silentLogger() });
  });

  afterAll(async () => {
    await site?.dispose();
    repository?.remove();
  });

  /** Runs a restore expected to fail; returns the error and checks the database did not change. */
  async function failingRestore(options: { repo?: Repository; art?: ComponentArtifact; owner?: string } = {}): Promise<RestoreStepFailedError> {
    const before = await tableSums(site.db.connectionString);
    site.clearLogs();
    const driver = options.owner ? createPostgresDriver({ ...site.config, owner: options.owner }, { logger: silentLogger(), pathPrepend: [site.binDir] }) : site.driver();
    const err = await driver
      .restore({ jobId: 'r', artifact: options.art ?? artifact, repository: options.repo ?? repository.repo, logger: silentLogger() })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreStepFailedError);
    expect(await tableSums(site.db.connectionString)).toEqual(before);
    return err as RestoreStepFailedError;
  }

  it('stops at a stop step that fails, names it and leaves the site as it was', async () => {
    site.inject('stop', 'findface-security');
    try {
      const err = await failingRestore();
      expect(err.step).toBe('stop findface-security');
      expect(err.siteChanged).toBe(false);
      expect(err.message).toBe(
        "restore of postgres:ffsecurity stopped at step 'stop findface-security': systemctl stop findface-security failed (exit 1): " +
          'Job for findface-security.service failed because the control process exited with error code (injected); nothing on the site was changed',
      );
      const last = err.report.steps.at(-1);
      expect(last).toMatchObject({ step: 'stop findface-security', ok: false });
      expect(site.log('systemctl').filter((l) => !l.startsWith('is-active'))).toEqual(['stop findface-security']);
      expect(site.appActive()).toBe(true);
      expect(await site.pgbouncerListening()).toBe(true);
    } finally {
      site.heal('stop', 'findface-security');
    }
  });

  it('when pgbouncer refuses to stop after the app stopped, starts the app again', async () => {
    site.inject('stop', 'pgbouncer');
    try {
      const err = await failingRestore();
      expect(err.step).toBe('stop pgbouncer');
      expect(err.siteChanged).toBe(false);
      expect(err.message).toMatch(/stopped at step 'stop pgbouncer': systemctl stop pgbouncer failed \(exit 1\).*; database '.+' is untouched and findface-security started again, as before the restore$/);
      expect(err.report.steps.slice(-3).map((s) => [s.step, s.ok])).toEqual([
        ['stop findface-security', true],
        ['stop pgbouncer', false],
        ['undo: start findface-security', true],
      ]);
      expect(site.log('systemctl').filter((l) => !l.startsWith('is-active'))).toEqual(['stop findface-security', 'stop pgbouncer', 'start findface-security']);
      expect(site.appActive()).toBe(true);
      expect(await site.pgbouncerListening()).toBe(true);
    } finally {
      site.heal('stop', 'pgbouncer');
    }
  });

  it('a wrong repository password gives a clear error and changes nothing', async () => {
    const wrong = new ResticRepository({ url: repository.url, password: 'not the password' });
    const err = await failingRestore({ repo: wrong });
    expect(err.step).toBe('check artifact');
    expect(err.code).toBe('VALIDATION');
    expect(err.cause).toBeInstanceOf(RepositoryWrongPasswordError);
    expect(err.message).toBe(`restore of postgres:ffsecurity stopped at step 'check artifact': wrong password for repository ${repository.url}; nothing on the site was changed`);
    expect(site.log('systemctl').filter((l) => !l.startsWith('is-active'))).toEqual([]);
    expect(site.log('app-commands')).toEqual([]);
    expect(site.appActive()).toBe(true);
  });

  it('an unknown snapshot or a missing owner role is found before anything is touched', async () => {
    const missing = { ...artifact, snapshotIds: ['0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'] };
    const e1 = await failingRestore({ art: missing });
    expect(e1.step).toBe('check artifact');
    expect(e1.cause).toBeInstanceOf(SnapshotNotFoundError);
    expect(e1.message).toContain(`snapshot '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' not found in repository ${repository.url}`);
    const e2 = await failingRestore({ owner: 'ffk_no_such_owner' });
    expect(e2.step).toBe('check database server');
    expect(e2.message).toContain("owner role 'ffk_no_such_owner' does not exist on PostgreSQL postgres@127.0.0.1:5432");
    expect(site.log('systemctl').filter((l) => !l.startsWith('is-active'))).toEqual([]);
  });

  it('a dump that does not match its checksum is rolled back whole; a re-run with the right artifact restores', async () => {
    const file = `/${site.db.name}.sql`;
    const damaged = { ...artifact, checksums: { [file]: '0'.repeat(64) } };
    const reference = await tableSums(site.db.connectionString);
    const caught = await site
      .driver()
      .restore({ jobId: 'r', artifact: damaged, repository: repository.repo, logger: silentLogger() })
      .catch((e: unknown) => e);
    expect(caught).toBeInstanceOf(RestoreStepFailedError);
    const err = caught as RestoreStepFailedError;
    expect(err.step).toBe(`load ${file} into ${site.db.name}`);
    expect(err.siteChanged).toBe(true);
    expect(err.message).toContain(`recorded ${'0'.repeat(64)}`);
    expect(err.message).toContain('fix the cause and run the restore again');
    expect(await tableSums(site.db.connectionString)).toEqual({}); // nothing of the load was committed
    expect(site.appActive()).toBe(false); // the app stays stopped on an empty database
    await site.driver().restore({ jobId: 'r2', artifact, repository: repository.repo, logger: silentLogger() });
    expect(await tableSums(site.db.connectionString)).toEqual(reference);
    expect(site.appActive()).toBe(true);
  });

  it('pg_dump failing at start (snapshot gone) leaves no snapshot in the repository', async () => {
    const before = (await repository.repo.listSnapshots()).length;
    const driver = site.driver();
    await driver.cut();
    await adminQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ffkeeper-cut'", [site.db.name]);
    const err = await driver
      .upload({ jobId: 'j', tags: { site: SITE, cutId: 'c-gone', component: driver.ref }, repository: repository.repo, logger: silentLogger() })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupSourceFailedError);
    expect((err as Error).message).toMatch(new RegExp(`^source of '${site.db.name}\\.sql' failed \\(pg_dump of database '${site.db.name}' on postgres@127\\.0\\.0\\.1:5432 failed \\(exit 1\\): .*invalid snapshot identifier.*\\); no snapshot was created in `));
    expect((await repository.repo.listSnapshots()).length).toBe(before);
  });

  it('pg_dump failing mid-stream leaves no snapshot in the repository', async () => {
    const before = (await repository.repo.listSnapshots()).length;
    let streamedBeforeFailure = 0;
    // The real repository, with a hook on the stream: once bytes flowed, pg_dump's server session is killed.
    const killer: Repository = Object.assign(Object.create(repository.repo) as Repository, {
      backupStream: (request: Parameters<Repository['backupStream']>[0], options?: Parameters<Repository['backupStream']>[1]) => {
        let first = true;
        const hook = new Transform({
          transform(chunk: Buffer, _enc, callback) {
            streamedBeforeFailure += chunk.length;
            if (!first) return callback(null, chunk);
            first = false;
            adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2', [site.db.name, PG_DUMP_APP_NAME]).then(
              () => callback(null, chunk),
              callback,
            );
          },
        });
        pipeline(request.stream, hook, () => undefined);
        return repository.repo.backupStream({ ...request, stream: hook }, options);
      },
    });
    const driver = site.driver();
    await driver.cut();
    const err = await driver
      .upload({ jobId: 'j', tags: { site: SITE, cutId: 'c-mid', component: driver.ref }, repository: killer, logger: silentLogger() })
      .catch((e: unknown) => e);
    expect(streamedBeforeFailure).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(BackupSourceFailedError);
    expect((err as Error).message).toMatch(/pg_dump of database '.+' on postgres@127\.0\.0\.1:5432 failed \(exit 1\): .*terminat/);
    expect((await repository.repo.listSnapshots()).length).toBe(before);
    expect(await adminQuery("SELECT 1 FROM pg_stat_activity WHERE application_name IN ('ffkeeper-cut', $1)", [PG_DUMP_APP_NAME]).then((r) => r.rowCount)).toBe(0);
  });
});
