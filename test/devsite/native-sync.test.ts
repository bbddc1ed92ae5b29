/**
 * FindFace's native master/slave watch-list sync on two dev sites: config.py read once at start (a
 * restart through the systemctl shim keeps the unit's rate), the /sync/ API's refusals, and a nightly run
 * triggered by moving the slave's site clock — after which the slave list holds exactly the master list's
 * dossiers, faces, gallery records and files, the slave checks clean, and a replica whose master is gone
 * failed on its own.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkSite, readWriterStats, setSecurityClock, ShardSet, startWriter, upSite, type Replica, type SiteState,
} from '../../deploy/dev-site/index.js';
import { updateSecuritySyncSettings } from '../../shared/findface/config-py.js';
import { cleanRoot, superuserClient, testRoot, uniqueSite } from './fixtures.js';

const root = testRoot();
const TOKEN = 'ABC_123456789';
const MASTER_LIST = 1;
const SLAVE_LIST = 2;
const BROKEN_LIST = 3;

interface Reply {
  status: number;
  body: unknown;
}

async function api(state: SiteState, method: string, p: string, options: { body?: unknown; token?: string | null } = {}): Promise<Reply> {
  const token = options.token === undefined ? TOKEN : options.token;
  const res = await fetch(`http://127.0.0.1:${state.security?.port}${p}`, {
    method,
    headers: { ...(token === null ? {} : { authorization: `Token ${token}` }), ...(options.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

function systemctl(state: SiteState, args: string[]): Promise<number> {
  return new Promise((resolve) => execFile(path.join(state.binDir, 'systemctl'), args, { timeout: 60_000 }, (err) => resolve(err ? 1 : 0)));
}

function setToken(state: SiteState): void {
  const file = state.security?.configPath as string;
  writeFileSync(file, updateSecuritySyncSettings(readFileSync(file, 'utf8'), { syncToken: TOKEN }));
}

interface FaceContent {
  dossier: string;
  comment: string;
  dossierId: number;
  recordId: number;
  files: string[];
}

/** A list's dossiers with their faces and file paths (relative to the roots), by dossier name and face id. */
async function listContent(state: SiteState, list: number): Promise<{ dossiers: string[]; faces: FaceContent[] }> {
  const db = await superuserClient(state);
  try {
    const d = await db.query<{ name: string; comment: string }>(
      'SELECT name, comment FROM ffsecurity_dossier WHERE id IN (SELECT dossier_id FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = $1) ORDER BY name',
      [list],
    );
    const f = await db.query<{ name: string; comment: string; dossier_id: string; record_id: string; source_photo: string; thumbnail: string; normalized: string }>(
      `SELECT d.name, d.comment, f.dossier_id, f.record_id, f.source_photo, f.thumbnail, f.normalized FROM ffsecurity_dossierface f JOIN ffsecurity_dossier d ON d.id = f.dossier_id
       WHERE d.id IN (SELECT dossier_id FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = $1) ORDER BY d.name, f.id`,
      [list],
    );
    return {
      dossiers: d.rows.map((r) => `${r.name}|${r.comment}`),
      faces: f.rows.map((r) => ({
        dossier: r.name, comment: r.comment, dossierId: Number(r.dossier_id), recordId: Number(r.record_id),
        files: [path.join(state.uploads.uploadsDir, r.source_photo), path.join(state.uploads.uploadsDir, r.thumbnail), path.join(state.uploads.ffuploadDir, r.normalized)],
      })),
    };
  } finally {
    await db.end();
  }
}

async function recordsOf(state: SiteState, ids: number[]): Promise<Map<number, { feat: string; meta: Record<string, unknown> }>> {
  const shards = await ShardSet.connect(state.shards);
  try {
    return new Map((await shards.records('ffsec_face_objects', ids)).map((r) => [r.id, { feat: Buffer.from(r.feat).toString('hex'), meta: r.meta }]));
  } finally {
    shards.close();
  }
}

/** Puts the first dossiers of the site onto `list` too, so the list is never empty. */
async function ensureMembers(state: SiteState, list: number, n: number): Promise<void> {
  const db = await superuserClient(state);
  try {
    await db.query('INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) SELECT id, $1 FROM ffsecurity_dossier ORDER BY id LIMIT $2 ON CONFLICT DO NOTHING', [list, n]);
  } finally {
    await db.end();
  }
}

describe('native master/slave watch-list sync', () => {
  let master: SiteState;
  let slave: SiteState;

  beforeAll(async () => {
    const sizes = { root, dossiers: 12, events: 2, shards: 1, vectorDim: 16, imageScale: 0.01 };
    [master, slave] = (await Promise.all([upSite({ site: uniqueSite('nm'), ...sizes }), upSite({ site: uniqueSite('ns'), ...sizes })])).map((r) => r.state) as [SiteState, SiteState];
    await Promise.all([ensureMembers(master, MASTER_LIST, 3), ensureMembers(slave, SLAVE_LIST, 2)]);
  }, 120_000);

  afterAll(() => cleanRoot(root), 60_000);

  it('reads config.py once at start: no SYNC_TOKEN → 403 until a restart (which keeps rate 0)', async () => {
    await startWriter(master, { rate: 0 });
    expect(await api(master, 'GET', '/sync/dossier-lists/')).toEqual({ status: 403, body: { detail: `sync is not configured: no SYNC_TOKEN in ${master.security?.configPath}` } });
    setToken(master);
    setToken(slave);
    expect((await api(master, 'GET', '/sync/dossier-lists/')).status).toBe(403);
    const before = readWriterStats(master)?.pid;
    expect(await systemctl(master, ['restart', 'findface-security'])).toBe(0);
    expect(readWriterStats(master)).toMatchObject({ targetRate: 0, running: true });
    expect(readWriterStats(master)?.pid).not.toBe(before);
    expect(await api(master, 'GET', '/sync/dossier-lists/')).toEqual({ status: 200, body: { results: [] } });
    await startWriter(slave, { rate: 0 });
  });

  it('refuses a bad token, an unknown slave list and a master list the master does not have', async () => {
    const link = { remote_dossier_list: MASTER_LIST, remote_url: `http://127.0.0.1:${master.security?.port}`, slave_dossier_list: SLAVE_LIST };
    expect(await api(slave, 'POST', '/sync/dossier-lists/', { body: link, token: 'wrong' })).toEqual({ status: 401, body: { detail: 'invalid token' } });
    expect(await api(slave, 'GET', '/sync/dossier-lists/', { token: null })).toEqual({ status: 401, body: { detail: 'invalid token' } });
    expect(await api(slave, 'POST', '/sync/dossier-lists/', { body: { ...link, slave_dossier_list: 999 } })).toEqual({
      status: 400, body: { detail: 'slave_dossier_list: watch list 999 does not exist on this site' },
    });
    expect(await api(slave, 'POST', '/sync/dossier-lists/', { body: { ...link, remote_dossier_list: 'one' } })).toMatchObject({ status: 400, body: { detail: expect.stringContaining('remote_dossier_list') } });
    const missing = await api(slave, 'POST', '/sync/dossier-lists/', { body: { ...link, remote_dossier_list: 999 } });
    expect(missing).toMatchObject({ status: 400, body: { detail: expect.stringContaining('answered HTTP 404 to the export of watch list 999') } });
    expect((await api(slave, 'GET', '/sync/dossier-lists/')).body).toEqual({ results: [] });
  });

  it("replaces the slave list's content with the master's at SYNC_TIME on the site clock", async () => {
    // A replica whose master is gone, stored first (POST would refuse it): its failure must not stop the other.
    const db = await superuserClient(slave);
    await db.query(`INSERT INTO ffsecurity_sync_dossierlistreplica (remote_dossier_list, remote_url, slave_dossier_list_id) VALUES (1, 'http://127.0.0.1:9', $1)`, [BROKEN_LIST]);
    await db.end();
    const link = { remote_dossier_list: MASTER_LIST, remote_url: `http://127.0.0.1:${master.security?.port}`, slave_dossier_list: SLAVE_LIST };
    const created = await api(slave, 'POST', '/sync/dossier-lists/', { body: link });
    expect(created).toMatchObject({ status: 201, body: { ...link, id: expect.any(Number), last_sync: null } });
    expect(await api(slave, 'POST', '/sync/dossier-lists/', { body: link })).toMatchObject({ status: 400, body: { detail: expect.stringContaining('already a replica') } });
    const oldSlave = await listContent(slave, SLAVE_LIST);
    expect(oldSlave.dossiers.length).toBeGreaterThan(0);

    setSecurityClock(slave, new Date('2026-01-15T02:59:55Z')); // SYNC_TIME unset: 03:00 UTC
    let replicas: Replica[] = [];
    for (const deadline = Date.now() + 20_000; Date.now() < deadline && (replicas.length < 2 || !replicas.every((r) => r.last_sync)); await new Promise((r) => setTimeout(r, 250))) {
      replicas = ((await api(slave, 'GET', '/sync/dossier-lists/')).body as { results: Replica[] }).results;
    }
    const broken = replicas.find((r) => r.slave_dossier_list === BROKEN_LIST);
    const replica = replicas.find((r) => r.slave_dossier_list === SLAVE_LIST);
    expect(broken?.last_sync).toMatchObject({ status: 'failed', error: expect.stringContaining('master http://127.0.0.1:9 did not answer the export of watch list 1') });
    expect(replica?.last_sync).toMatchObject({ status: 'ok' });

    const want = await listContent(master, MASTER_LIST);
    const got = await listContent(slave, SLAVE_LIST);
    expect(want.faces.length).toBeGreaterThan(0);
    expect(replica?.last_sync).toMatchObject({ dossiers: want.dossiers.length, faces: want.faces.length });
    expect(got.dossiers).toEqual(want.dossiers);
    expect(got.faces.map((f) => f.dossier)).toEqual(want.faces.map((f) => f.dossier));
    const [wantRecords, gotRecords] = await Promise.all([recordsOf(master, want.faces.map((f) => f.recordId)), recordsOf(slave, got.faces.map((f) => f.recordId))]);
    got.faces.forEach((face, i) => {
      const source = want.faces[i] as FaceContent;
      expect(gotRecords.get(face.recordId)?.feat).toBe(wantRecords.get(source.recordId)?.feat);
      expect(gotRecords.get(face.recordId)?.meta).toMatchObject({ dossier_id: face.dossierId, face_id: face.recordId });
      face.files.forEach((file, k) => expect(readFileSync(file).equals(readFileSync(source.files[k] as string))).toBe(true));
    });
    expect(await checkSite(slave)).toMatchObject({ ok: true, errors: 0, warnings: 0 });
  });

  it('cancels the replication with DELETE, leaving the content in place', async () => {
    const before = await listContent(slave, SLAVE_LIST);
    expect(await api(slave, 'DELETE', `/sync/dossier-lists/${SLAVE_LIST}/`)).toEqual({ status: 204, body: undefined });
    expect(await api(slave, 'DELETE', `/sync/dossier-lists/${SLAVE_LIST}/`)).toMatchObject({ status: 404 });
    expect((await api(slave, 'GET', '/sync/dossier-lists/')).body).toEqual({ results: [expect.objectContaining({ slave_dossier_list: BROKEN_LIST })] });
    expect(await listContent(slave, SLAVE_LIST)).toEqual(before);
  });
});
