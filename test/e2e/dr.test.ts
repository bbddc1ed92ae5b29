/**
 * Issue 13: disaster recovery without ffkeeper. A snapshot ffkeeper took is restored by
 * `deploy/dr/restore.sh` alone — restic, jq, psql and the site's own units (the dev site's systemctl and
 * findface-security stand-ins) — after every ffkeeper process (controller, agents) is gone. The site comes
 * back to the snapshot's contents and checks with 0 integrity errors.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSiteState } from '../../deploy/dev-site/checker.js';
import { readWriterStats, startWriter, stopWriter } from '../../deploy/dev-site/index.js';
import type { SiteState } from '../../deploy/dev-site/state.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { waitFor } from '../harness/processes.js';

const SITE = 'dr-1';
const SCRIPT = path.resolve('deploy/dr/restore.sh');
const run = promisify(execFile);

/** Files below a directory, leaving out the `.ffk-*` entries at the top (ffkeeper's and the DR script's asides). */
function files(dir: string, top = true): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !(top && e.name.startsWith('.ffk-')))
    .flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name), false).map((f) => path.join(e.name, f)) : [e.name]))
    .sort();
}

/** What the snapshot must bring back: row counts and the upload trees' file lists. */
async function contents(state: SiteState): Promise<{ rows: Record<string, number>; uploads: string[]; ffupload: string[] }> {
  const c = new pg.Client({ host: state.postgres.host, port: state.postgres.port, user: state.postgres.superuser, database: state.postgres.database });
  await c.connect();
  try {
    const rows: Record<string, number> = {};
    for (const t of ['ffsecurity_dossier', 'ffsecurity_dossierface', 'ffsecurity_event']) {
      rows[t] = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`)).rows[0]?.n ?? -1);
    }
    return { rows, uploads: files(state.uploads.uploadsDir), ffupload: files(state.uploads.ffuploadDir) };
  } finally {
    await c.end();
  }
}

describe('disaster recovery without ffkeeper', () => {
  let fleet: TestFleet;
  let state: SiteState;

  beforeAll(async () => {
    fleet = await startFleet([{ site: SITE, dossiers: 20, events: 60 }]);
    state = fleet.sites.get(SITE)!;
  }, 180_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('restores every component of a snapshot with restic, jq, psql and the site units only', async () => {
    await stopWriter(state);
    const atCut = await contents(state);
    const snap = await fleet.cli('snapshot', 'create', '--site', SITE, '--wait');
    expect(snap.code, snap.stderr).toBe(0);
    // The site moves on after the snapshot (at 50 writes/s rather than the test sites' 2: only the change counts).
    await startWriter(state, { rate: 50 });
    await waitFor(async () => ((readWriterStats(state)?.writes ?? 0) >= 30 ? true : undefined), 60_000);
    await stopWriter(state);
    expect(await contents(state)).not.toEqual(atCut);

    // From here on no ffkeeper process runs.
    await fleet.controller.kill();
    for (const agent of fleet.agents.values()) await agent.kill();

    const secrets = JSON.parse(readFileSync(fleet.repositories.secretsFile, 'utf8')) as Record<string, string>;
    const env = {
      ...process.env,
      RESTIC_REPOSITORY: path.join(fleet.repositories.root, SITE),
      RESTIC_PASSWORD: secrets[SITE] ?? '',
      RESTIC_CACHE_DIR: fleet.repositories.cacheDir,
      PATH: `${state.binDir}:${process.env.PATH ?? ''}`,
      PGHOST: state.postgres.host,
      PGPORT: String(state.postgres.port),
      PGUSER: state.postgres.superuser,
    };
    const dr = async (...args: string[]): Promise<string> => {
      const r = await run('bash', [SCRIPT, ...args], { env, maxBuffer: 64 * 1024 * 1024 });
      console.log(r.stderr.trim());
      return r.stdout;
    };
    const manifestFile = path.join(fleet.root, 'dr-manifest.json');
    writeFileSync(manifestFile, await dr('manifest', SITE));
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as { components: { component: string; kind: string }[] };
    const sh = async (...args: string[]): Promise<void> => void (await run(args[0] as string, args.slice(1), { env }));

    await sh('systemctl', 'stop', 'findface-security');
    await sh('systemctl', 'stop', 'findface-sf-api');
    for (const c of manifest.components) {
      if (c.kind === 'postgres') await dr('postgres', manifestFile, c.component, state.postgres.database, state.postgres.owner);
      if (c.kind === 'uploads') await dr('uploads', manifestFile, c.component);
      if (c.kind === 'tarantool') {
        const shard = state.shards.find((s) => `tarantool:${s.name}` === c.component)!;
        await dr('tarantool', manifestFile, c.component, shard.unit, shard.memtxDir, shard.walDir, shard.vinylDir);
      }
    }
    await sh('systemctl', 'start', 'findface-sf-api');
    // findface-security (the dev site's writer) stays stopped: the site is compared at rest.

    expect(manifest.components.map((c) => c.kind).sort()).toEqual(['postgres', 'tarantool', 'tarantool', 'uploads']);
    expect(await contents(state)).toEqual(atCut);
    const check = await checkSiteState(state);
    console.log(`after the DR restore: ${check.errors} integrity errors, ${check.warnings} warnings`);
    expect(check.errors).toBe(0);
  }, 300_000);
});
