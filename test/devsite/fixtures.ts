/**
 * Helpers for the dev-site tests: a private root per test file (so tests never touch a developer's
 * sites), unique site ids (so databases never collide between runs), and probes proving that a site
 * left nothing behind.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { downSite, listSites, type SiteState } from '../../deploy/dev-site/index.js';
import { isListening } from '../../shared/net.js';

/** A fresh root directory for this test file's sites (traversable: pgbouncer runs as postgres). */
export function testRoot(): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ffk-devsite-test-'));
  chmodSync(root, 0o755);
  return root;
}

/** `dv<random>-<tag>`: unique per run, a valid site id. */
export function uniqueSite(tag: string): string {
  return `dv${randomBytes(3).toString('hex')}-${tag}`;
}

/** Downs every site under the root and removes the root; for afterAll. */
export async function cleanRoot(root: string): Promise<void> {
  for (const site of listSites(root)) await downSite(site, root).catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
}

/** True when the process runs (zombies count as gone). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

export async function databaseExists(name: string): Promise<boolean> {
  const c = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await c.connect();
  try {
    return ((await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount ?? 0) > 0;
  } finally {
    await c.end();
  }
}

/** Every port a site listens on. */
export function portsOf(state: SiteState): number[] {
  return [state.pgbouncer.port, state.sfApi.port, ...(state.extractionApi ? [state.extractionApi.port] : []), ...state.shards.map((s) => s.port)];
}

/** What of a downed site is still around: live pids, listening ports, its directory, its database. */
export async function leftovers(state: SiteState, pids: readonly number[]): Promise<string[]> {
  const left: string[] = [];
  for (const pid of pids) if (processAlive(pid)) left.push(`process ${pid}`);
  for (const port of portsOf(state)) if (await isListening(port)) left.push(`port ${port}`);
  if (existsSync(state.siteDir)) left.push(`directory ${state.siteDir}`);
  if (await databaseExists(state.postgres.database)) left.push(`database ${state.postgres.database}`);
  return left;
}

/** A connection to the site database as the superuser (to damage it on purpose). */
export async function superuserClient(state: SiteState): Promise<pg.Client> {
  const c = new pg.Client({ host: state.postgres.host, port: state.postgres.port, user: state.postgres.superuser, database: state.postgres.database });
  await c.connect();
  return c;
}

/** A face row of the site's database: its gallery, gallery record, normalized image and source photo (a dossier photo, an event's full frame). */
export interface FaceRow {
  gallery: string;
  record_id: string;
  normalized: string;
  source: string;
}

/** Every dossier face and event of the site's database, as gallery, record, normalized image and source photo. */
export async function faceRows(state: SiteState): Promise<FaceRow[]> {
  const db = await superuserClient(state);
  try {
    return (await db.query<FaceRow>("SELECT 'ffsec_face_objects' AS gallery, record_id, normalized, source_photo AS source FROM ffsecurity_dossierface UNION ALL SELECT 'ffsec_face_events', record_id, normalized, fullframe FROM ffsecurity_event")).rows;
  } finally {
    await db.end();
  }
}

/** One of the site's shims (`systemctl`, `findface-security`) run as an operator runs it, from `/`. */
export function runShim(state: SiteState, tool: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(state.binDir, tool), args, { cwd: '/', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
