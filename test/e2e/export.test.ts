/**
 * Issue 19, export in FindFace's own layout: `ffkeeper snapshot export` writes a sealed snapshot as
 * reference 000's backup (galleries as findface-storage-api-dump writes them, the plain database dump,
 * upload roots as tar.gz, the manifest); the site is then wiped and rebuilt by following reference 000's
 * commands only — findface-storage-api-restore, the documented psql sequence, `cd / && tar -xvf` — and
 * checks with 0 integrity errors, holding what it held at the cut. Before that, `snapshot import` of the
 * export makes a sealed snapshot, and `ffkeeper restore` of it brings the wiped site back with 0 errors.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSiteState } from '../../deploy/dev-site/checker.js';
import { startWriter, stopWriter } from '../../deploy/dev-site/index.js';
import type { SiteState } from '../../deploy/dev-site/state.js';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import { TarantoolClient } from '../../shared/tarantool/iproto.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';

const SITE = 'exp-1';
const run = promisify(execFile);

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.ffk-'))
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)).map((f) => path.join(e.name, f)) : [e.name]))
    .sort();
}

/** What the export must bring back: row counts, records per gallery, the upload trees' file lists. */
async function contents(state: SiteState): Promise<{ rows: Record<string, number>; galleries: Record<string, number>; uploads: string[]; ffupload: string[] }> {
  const c = new pg.Client({ host: state.postgres.host, port: state.postgres.port, user: state.postgres.superuser, database: state.postgres.database });
  await c.connect();
  const rows: Record<string, number> = {};
  try {
    for (const t of ['ffsecurity_dossier', 'ffsecurity_dossierface', 'ffsecurity_event']) {
      rows[t] = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`)).rows[0]?.n ?? -1);
    }
  } finally {
    await c.end();
  }
  const galleries: Record<string, number> = {};
  for (const s of state.shards) {
    const t = await TarantoolClient.connect({ port: s.port });
    try {
      const [counts] = await t.eval('local out = {} for _, g in box.space.ffk_galleries:pairs() do out[g[1]] = box.space[g[1]]:len() end return out');
      for (const [g, n] of Object.entries(counts as Record<string, number>)) galleries[g] = (galleries[g] ?? 0) + Number(n);
    } finally {
      t.close();
    }
  }
  return { rows, galleries, uploads: files(state.uploads.uploadsDir), ffupload: files(state.uploads.ffuploadDir) };
}

/**
 * Empties every gallery and upload root of the site, as an operator would (`rm -rf <root>/*`: the agent's
 * deletion shield goes too; it notices, and the next snapshot — the restore's safety snapshot — scans first).
 */
async function wipeGalleriesAndUploads(state: SiteState): Promise<void> {
  for (const root of [state.uploads.uploadsDir, state.uploads.ffuploadDir]) {
    for (const e of readdirSync(root)) rmSync(path.join(root, e), { recursive: true, force: true });
  }
  for (const s of state.shards) {
    const t = await TarantoolClient.connect({ port: s.port });
    await t.eval('for _, g in box.space.ffk_galleries:pairs() do box.space[g[1]]:truncate() end').finally(() => void t.close());
  }
}

describe('snapshot export in FindFace layout, and import of it (issue 19)', () => {
  let fleet: TestFleet;
  let state: SiteState;

  beforeAll(async () => {
    fleet = await startFleet([{ site: SITE, dossiers: 15, events: 40 }]);
    state = fleet.sites.get(SITE)!;
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it("exports a snapshot; its import restores the wiped site; and the site comes back by reference 000's commands alone", { timeout: 600_000 }, async () => {
    await stopWriter(state);
    // findface-security (the writer) restarts idle when a restore starts it again, so that what the
    // restore brought back can be compared exactly.
    await startWriter(state, { rate: 0 });
    await stopWriter(state);
    const atCut = await contents(state);
    const snap = await fleet.json<{ snapshot: { id: string; components: string[] } | null }>('snapshot', 'create', '--site', SITE, '--wait', '--json');
    const id = snap.snapshot?.id ?? '';
    expect(id).not.toBe('');

    const dir = path.join(fleet.root, 'export');
    const started = Date.now();
    const exported = await fleet.cli('snapshot', 'export', id, '--site', SITE, '--to', dir);
    expect(exported.code, exported.stderr).toBe(0);
    console.log(`export took ${Date.now() - started} ms:\n${exported.stdout}`);
    const names = readdirSync(dir).sort();
    expect(names.filter((n) => n.endsWith('.partial'))).toEqual([]);
    const galleryFiles = names.filter((n) => /^ffsec_.*\.json$/.test(n));
    expect(galleryFiles.length).toBeGreaterThanOrEqual(Object.keys(atCut.galleries).filter((g) => (atCut.galleries[g] ?? 0) > 0).length);
    expect(names).toContain(`${state.postgres.database}_postgres_backup.sql`);
    expect(names).toContain('ffkeeper-manifest.json');
    const archives = names.filter((n) => n.endsWith('.tar.gz'));
    expect(archives).toHaveLength(2);

    // A second export into the same directory is refused: nothing there is overwritten.
    const again = await fleet.cli('snapshot', 'export', id, '--site', SITE, '--to', dir);
    expect(again.code).toBe(EXIT_CODES.CONFLICT);
    expect(again.stderr).toContain('already exists: export into an empty directory');
    expect(readdirSync(dir).sort()).toEqual(names);

    // Import of that export: a new sealed snapshot, which a restore puts live over a wiped site.
    const importStarted = Date.now();
    const imported = await fleet.json<{ snapshotId: string; components: { component: string; files: number; bytes: number }[] }>('snapshot', 'import', '--site', SITE, '--from', dir, '--json');
    console.log(`import took ${Date.now() - importStarted} ms: ${imported.components.map((c) => `${c.component} ${c.bytes} bytes`).join(', ')}`);
    expect(imported.snapshotId).toMatch(/^c-/);
    expect(imported.components.map((c) => c.component).sort()).toEqual([...(snap.snapshot?.components ?? [])].sort());
    const shown = await fleet.json<{ reason: string; createdAt: string }>('snapshot', 'show', imported.snapshotId, '--site', SITE, '--json');
    const original = await fleet.json<{ createdAt: string }>('snapshot', 'show', id, '--site', SITE, '--json');
    expect(shown.reason).toContain(`snapshot ${id} of site ${SITE}`);
    expect(shown.createdAt).toBe(original.createdAt);
    // The imported snapshot is like any other: a verify drill restores it into sandboxes and checks it.
    const verified = await fleet.cli('verify', '--site', SITE, '--snapshot', imported.snapshotId);
    expect(verified.code, verified.stderr).toBe(0);
    await wipeGalleriesAndUploads(state);
    const restoredImport = await fleet.cli('restore', '--site', SITE, '--snapshot', imported.snapshotId, '--yes');
    expect(restoredImport.code, restoredImport.stderr).toBe(0);
    expect(await contents(state)).toEqual(atCut);
    const importCheck = await checkSiteState(state);
    console.log(`imported as ${imported.snapshotId} and restored: ${importCheck.errors} integrity errors, ${importCheck.warnings} warnings`);
    expect(importCheck.errors).toBe(0);
    // A second import of a directory that is not an export fails naming what is missing; no snapshot appears.
    const before = await fleet.json<unknown[]>('snapshot', 'list', '--site', SITE, '--json');
    const empty = path.join(fleet.root, 'not-an-export');
    mkdirSync(empty);
    const refused = await fleet.cli('snapshot', 'import', '--site', SITE, '--from', empty);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/has no (ffsecurity_postgres_backup\.sql|<gallery>\.json|var_lib_)/);
    expect(await fleet.json<unknown[]>('snapshot', 'list', '--site', SITE, '--json')).toHaveLength(before.length);

    // Lose everything: every process of ffkeeper stops, the data goes.
    await fleet.controller.kill();
    for (const agent of fleet.agents.values()) await agent.kill();
    const env = { ...process.env, PATH: `${state.binDir}:${process.env.PATH ?? ''}`, PGHOST: state.postgres.host, PGPORT: String(state.postgres.port) };
    const sh = async (cmd: string, ...args: string[]): Promise<string> => (await run(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 })).stdout;
    await sh('systemctl', 'stop', 'findface-security');
    await wipeGalleriesAndUploads(state);
    const wiped = await contents(state);
    expect(Object.values(wiped.galleries).every((n) => n === 0)).toBe(true);
    expect(wiped.uploads).toEqual([]);

    // Reference 000, step by step. The feature vector database:
    const restored = await sh('findface-storage-api-restore', '-config', state.sfApi.configPath, ...galleryFiles.map((f) => path.join(dir, f)));
    console.log(restored.trim());
    // The main database: pgbouncer stopped, DROP and CREATE, pgbouncer started, the dump loaded, migrate.
    const db = state.postgres.database;
    const psql = (...args: string[]): Promise<string> => sh('psql', '-v', 'ON_ERROR_STOP=1', '-U', state.postgres.superuser, ...args);
    await sh('systemctl', 'stop', 'pgbouncer');
    await psql('-d', 'postgres', '-c', `DROP DATABASE ${db}`);
    await psql('-d', 'postgres', '-c', `CREATE DATABASE ${db} WITH OWNER ${state.postgres.owner} ENCODING 'UTF-8' LC_COLLATE='C.UTF-8' LC_CTYPE='C.UTF-8' TEMPLATE template0`);
    await sh('systemctl', 'start', 'pgbouncer');
    await psql('-q', '-d', db, '-f', path.join(dir, `${db}_postgres_backup.sql`));
    for (const step of ['migrate', 'create_groups', 'create_default_user']) await sh('findface-security', step);
    // The artifacts, from the root directory.
    for (const a of archives) await run('tar', ['-xzf', path.join(dir, a)], { cwd: '/' });

    const after = await contents(state);
    expect(after).toEqual(atCut);
    const check = await checkSiteState(state);
    console.log(`rebuilt from the export by reference 000's commands: ${JSON.stringify(after.galleries)}; ${check.errors} integrity errors, ${check.warnings} warnings`);
    expect(check.errors).toBe(0);
  });
});
