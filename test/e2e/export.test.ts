/**
 * Issue 19, export in FindFace's own layout: `ffkeeper snapshot export` writes a sealed snapshot as
 * reference 000's backup (galleries as findface-storage-api-dump writes them, the plain database dump,
 * upload roots as tar.gz, the manifest); the site is then wiped and rebuilt by following reference 000's
 * commands only — findface-storage-api-restore, the documented psql sequence, `cd / && tar -xvf` — and
 * checks with 0 integrity errors, holding what it held at the cut.
 */
import { execFile } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSiteState } from '../../deploy/dev-site/checker.js';
import { stopWriter } from '../../deploy/dev-site/index.js';
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

describe('snapshot export in FindFace layout (issue 19)', () => {
  let fleet: TestFleet;
  let state: SiteState;

  beforeAll(async () => {
    fleet = await startFleet([{ site: SITE, dossiers: 15, events: 40 }]);
    state = fleet.sites.get(SITE)!;
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it("exports a snapshot, and the wiped site comes back by reference 000's commands alone", { timeout: 420_000 }, async () => {
    await stopWriter(state);
    const atCut = await contents(state);
    const snap = await fleet.json<{ snapshot: { id: string } | null }>('snapshot', 'create', '--site', SITE, '--wait', '--json');
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

    // Lose everything: every process of ffkeeper stops, the data goes.
    await fleet.controller.kill();
    for (const agent of fleet.agents.values()) await agent.kill();
    const env = { ...process.env, PATH: `${state.binDir}:${process.env.PATH ?? ''}`, PGHOST: state.postgres.host, PGPORT: String(state.postgres.port) };
    const sh = async (cmd: string, ...args: string[]): Promise<string> => (await run(cmd, args, { env, maxBuffer: 64 * 1024 * 1024 })).stdout;
    await sh('systemctl', 'stop', 'findface-security');
    for (const root of [state.uploads.uploadsDir, state.uploads.ffuploadDir]) {
      for (const e of readdirSync(root)) rmSync(path.join(root, e), { recursive: true, force: true });
    }
    for (const s of state.shards) {
      const t = await TarantoolClient.connect({ port: s.port });
      await t.eval('for _, g in box.space.ffk_galleries:pairs() do box.space[g[1]]:truncate() end').finally(() => void t.close());
    }
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
