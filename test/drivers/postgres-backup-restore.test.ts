/**
 * PostgreSQL driver, end to end on real servers (PostgreSQL, pgbouncer run as a unit behind a systemctl
 * shim, restic): a cut taken while writers commit through pgbouncer, the dump streamed into the
 * repository, the site changed, FindFace's restore sequence run, and the database compared table by
 * table (row counts and content md5) with the state at the cut.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import { snapshotTags } from '../../shared/tags.js';
import type { ComponentArtifact, DriverProgress } from '../../agent/domain/drivers/types.js';
import { adminQuery, changeRows, PgTestSite, seedSchema, startWriters, tableSums, tempRepository, type TableSums } from './postgres-support.js';

const SITE = 'pg-drv';

describe('PostgreSQL driver: back up and restore', () => {
  let site: PgTestSite;
  let repository: Awaited<ReturnType<typeof tempRepository>>;
  let artifact: ComponentArtifact;
  let atCut: TableSums;

  beforeAll(async () => {
    site = await PgTestSite.start();
    repository = await tempRepository();
    await seedSchema(site, 3000);
  });

  afterAll(async () => {
    await site?.dispose();
    repository?.remove();
  });

  it('cuts while writers run, and uploads exactly the cut (streamed, hashed, tagged)', async () => {
    const driver = site.driver();
    await driver.prepare();
    const writers = startWriters(site, 4);
    try {
      await new Promise((r) => setTimeout(r, 300));
      await driver.freeze();
      let cut;
      try {
        cut = await driver.cut();
      } finally {
        await driver.thaw();
      }
      expect(cut.kind).toBe('postgres');
      if (cut.kind !== 'postgres') throw new Error('unreachable');
      expect(cut.snapshotName).toMatch(/^[0-9A-F]+-[0-9A-F]+-\d+$/);
      expect(cut.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      atCut = await tableSums(site.db.connectionString, cut.snapshotName);
      const progress: DriverProgress[] = [];
      const tags = { site: SITE, cutId: 'c-1', component: driver.ref };
      artifact = await driver.upload({ jobId: 'j-1', tags, repository: repository.repo, logger: silentLogger(), onProgress: (p) => progress.push(p) });
      const writesAfter = writers.commits();
      await new Promise((r) => setTimeout(r, 200));
      expect(writers.commits()).toBeGreaterThan(writesAfter); // writers were never left frozen
      expect(progress.some((p) => p.event?.kind === 'summary')).toBe(true);
    } finally {
      await writers.stop();
    }
    const now = await tableSums(site.db.connectionString);
    expect(now.ffsecurity_event?.rows).toBeGreaterThan(atCut.ffsecurity_event?.rows ?? 0); // writes went on after the cut
    expect(artifact.snapshotIds).toHaveLength(1);
    expect(artifact.checksums?.[`/${site.db.name}.sql`]).toMatch(/^[0-9a-f]{64}$/);
    const snaps = await repository.repo.listSnapshots({ tags: snapshotTags({ site: SITE, cutId: 'c-1', component: 'postgres:ffsecurity' }) });
    expect(snaps.map((s) => s.id)).toEqual(artifact.snapshotIds);
    expect(snaps[0]?.paths).toEqual([`/${site.db.name}.sql`]);
  });

  it('restores by the documented sequence to exactly the state at the cut', async () => {
    expect(artifact).toBeDefined();
    await changeRows(site.db.connectionString);
    const changed = await tableSums(site.db.connectionString);
    expect(changed).not.toEqual(atCut);
    const lingering = new pg.Client({ connectionString: site.db.connectionString }); // a backend DROP must end
    lingering.on('error', () => undefined);
    await lingering.connect();
    site.clearLogs();
    const started = Date.now();
    const report = await site.driver().restore({ jobId: 'j-2', artifact, repository: repository.repo, logger: silentLogger() });
    const ms = Date.now() - started;
    await lingering.end().catch(() => undefined);
    const db = site.db.name;
    expect(report.steps.map((s) => s.step)).toEqual([
      'check artifact',
      'check tools',
      'check database server',
      'check services',
      'stop findface-security',
      'stop pgbouncer',
      `drop database ${db}`,
      `create database ${db}`,
      'start pgbouncer',
      `load /${db}.sql into ${db}`,
      'findface-security migrate',
      'findface-security create_groups',
      'findface-security create_default_user',
      'start findface-security',
    ]);
    expect(report.steps.every((s) => s.ok)).toBe(true);
    expect(await tableSums(site.db.connectionString)).toEqual(atCut);
    expect(site.log('app-commands')).toEqual(['migrate', 'create_groups', 'create_default_user']);
    expect(site.log('systemctl').filter((l) => !l.startsWith('is-active'))).toEqual([
      'stop findface-security',
      'stop pgbouncer',
      'start pgbouncer',
      'start findface-security',
    ]);
    expect(site.appActive()).toBe(true);
    const app = await site.appClient(); // pgbouncer serves the restored database
    expect((await app.query('SELECT count(*)::int AS n FROM ffsecurity_dossier')).rows[0]).toEqual({ n: atCut.ffsecurity_dossier?.rows });
    await app.end();
    const props = await databaseProps(db);
    expect(props).toEqual({ owner: site.owner, encoding: 'UTF8', collate: 'C.UTF-8', ctype: 'C.UTF-8' });
    console.log(`restore of ${artifact.bytes} bytes took ${ms} ms; steps: ${report.steps.map((s) => `${s.step}=${s.durationMs}ms`).join(', ')}`);
  });

  it('runs again on the restored site with the same result (every step repeatable)', async () => {
    const report = await site.driver({ restoreVerify: 'full' }).restore({ jobId: 'j-3', artifact, repository: repository.repo, logger: silentLogger() });
    expect(report.steps[0]?.detail).toMatch(/sha256 matches/);
    expect(await tableSums(site.db.connectionString)).toEqual(atCut);
  });

  it('restores a snapshot whose rows violate their own foreign key: every row loaded, the key left NOT VALID and named', async () => {
    // A damaged site (rows written with triggers off, a half-done manual repair): a dossier whose watch list is gone.
    const c = new pg.Client({ connectionString: site.db.connectionString });
    await c.connect();
    try {
      await c.query("SET session_replication_role = replica; INSERT INTO ffsecurity_dossier (id, name, watchlist_id) VALUES (900001, 'orphan', 999)");
    } finally {
      await c.end();
    }
    const driver = site.driver();
    await driver.prepare();
    await driver.freeze();
    try {
      await driver.cut();
    } finally {
      await driver.thaw();
    }
    const damaged = await driver.upload({ jobId: 'j-4', tags: { site: SITE, cutId: 'c-4', component: driver.ref }, repository: repository.repo, logger: silentLogger() });
    const atDamagedCut = await tableSums(site.db.connectionString);
    await changeRows(site.db.connectionString);
    const report = await site.driver().restore({ jobId: 'j-5', artifact: damaged, repository: repository.repo, logger: silentLogger() });
    expect(report.steps.every((s) => s.ok)).toBe(true);
    const load = report.steps.find((s) => s.step.startsWith('load '));
    expect(load?.detail).toMatch(/; 2 foreign keys, 1 violated by the restored rows \(left NOT VALID\): constraint ffsecurity_dossier_watchlist_id_fkey on public\.ffsecurity_dossier is violated by the restored rows and stays NOT VALID \(.*ffsecurity_dossier_watchlist_id_fkey.*\)$/);
    expect(await tableSums(site.db.connectionString)).toEqual(atDamagedCut);
    const r = new pg.Client({ connectionString: site.db.connectionString });
    await r.connect();
    try {
      const keys = await r.query<{ conname: string; convalidated: boolean }>("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' ORDER BY conname");
      expect(keys.rows).toEqual([
        { conname: 'ffsecurity_dossier_watchlist_id_fkey', convalidated: false },
        { conname: 'ffsecurity_event_dossier_id_fkey', convalidated: true },
      ]);
      // NOT VALID still guards new rows.
      await expect(r.query("INSERT INTO ffsecurity_dossier (name, watchlist_id) VALUES ('new orphan', 998)")).rejects.toThrow(/violates foreign key constraint/);
    } finally {
      await r.end();
    }
  });
});

async function databaseProps(name: string): Promise<{ owner: string; encoding: string; collate: string; ctype: string }> {
  const r = await adminQuery<{ owner: string; encoding: string; collate: string; ctype: string }>(
    'SELECT pg_get_userbyid(datdba) AS owner, pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype FROM pg_database WHERE datname = $1',
    [name],
  );
  const row = r.rows[0];
  if (!row) throw new Error(`database ${name} not found`);
  return row;
}
