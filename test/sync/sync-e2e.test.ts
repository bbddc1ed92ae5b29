/**
 * Issue 15 acceptance (first slice), on real processes: two dev sites, their agents, a controller and a
 * nats-server. `sync link` of the master's list 1 to the slave's list 2 takes a safety snapshot of the
 * slave and replaces the slave list's content; while the master's writer adds, edits and deletes
 * dossiers and faces, the change stream carries them; after the writer stops, every dossier, face row,
 * gallery record and file of list 1 is on the slave (compared here row by row, record by record and
 * byte by byte) and the slave's integrity check reports 0 errors. An insert into the replica list on the
 * slave is rejected naming the link; sites with different face models cannot be linked.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSite, setSecurityClock, startWriter, stopWriter, ShardSet, type SiteState } from '../../deploy/dev-site/index.js';
import { readSecuritySyncSettings } from '../../shared/findface/config-py.js';
import { replicaId, replicaPath } from '../../shared/sync/link.js';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { syncDiagnostics, waitSyncConverged } from '../harness/sync.js';
import { waitFor } from '../harness/processes.js';
import { TEST_OPERATOR } from '../harness/pki.js';
import { freePort } from '../../shared/net.js';

const MASTER = 'snc-m';
const SLAVE = 'snc-s';
const OTHER_MODEL = 'snc-o';

interface ListContent {
  dossiers: Map<number, string>;
  faces: Map<number, { dossier: number; record: number; files: string[] }>;
}

async function query<T extends pg.QueryResultRow>(state: SiteState, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ host: state.postgres.host, port: state.postgres.port, user: 'postgres', database: state.postgres.database });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

/** A list's dossiers (name|comment|active) and faces (record id, file paths), by id. */
async function listContent(state: SiteState, list: number): Promise<ListContent> {
  const dossiers = await query<{ id: string; v: string }>(
    state,
    `SELECT d.id, d.name || '|' || d.comment || '|' || d.active AS v FROM ffsecurity_dossier d
     JOIN ffsecurity_dossier_watch_lists m ON m.dossier_id = d.id AND m.watchlist_id = $1`,
    [list],
  );
  const faces = await query<{ id: string; dossier_id: string; record_id: string; source_photo: string; thumbnail: string; normalized: string }>(
    state,
    `SELECT f.id, f.dossier_id, f.record_id, f.source_photo, f.thumbnail, f.normalized FROM ffsecurity_dossierface f
     JOIN ffsecurity_dossier_watch_lists m ON m.dossier_id = f.dossier_id AND m.watchlist_id = $1`,
    [list],
  );
  return {
    dossiers: new Map(dossiers.map((d) => [Number(d.id), d.v])),
    faces: new Map(faces.map((f) => [Number(f.id), { dossier: Number(f.dossier_id), record: Number(f.record_id), files: [`uploads:${f.source_photo}`, `uploads:${f.thumbnail}`, `ffupload:${f.normalized}`] }])),
  };
}

/** A list's dossiers as name|comment|active, sorted (native replicas get new ids on the slave). */
async function namesOf(state: SiteState, list: number): Promise<string[]> {
  const rows = await query<{ v: string }>(
    state,
    `SELECT d.name || '|' || d.comment || '|' || d.active AS v FROM ffsecurity_dossier d JOIN ffsecurity_dossier_watch_lists m ON m.dossier_id = d.id AND m.watchlist_id = $1`,
    [list],
  );
  return rows.map((r) => r.v).sort();
}

function fileHash(state: SiteState, key: string): string | undefined {
  const [root, rel] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
  const file = path.join(root === 'uploads' ? state.uploads.uploadsDir : state.uploads.ffuploadDir, rel);
  return existsSync(file) ? createHash('sha256').update(readFileSync(file)).digest('hex') : undefined;
}

/** Every file under the slave's replica directories of the master's files, as `root:path` keys. */
function replicaFiles(slave: SiteState): string[] {
  const out: string[] = [];
  for (const [root, dir] of [['uploads', slave.uploads.uploadsDir], ['ffupload', slave.uploads.ffuploadDir]] as const) {
    const base = path.join(dir, replicaPath(MASTER, ''));
    if (!existsSync(base)) continue;
    for (const e of readdirSync(base, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) out.push(`${root}:${path.relative(dir, path.join(e.parentPath, e.name))}`);
    }
  }
  return out.sort();
}

/** Every difference between the master's list and the slave's replica of it (link number `n`). */
async function differences(master: SiteState, slave: SiteState, n: number, lists = { from: 1, to: 2 }): Promise<string[]> {
  const [m, s] = [await listContent(master, lists.from), await listContent(slave, lists.to)];
  const out: string[] = [];
  for (const [id, v] of m.dossiers) if (s.dossiers.get(replicaId(n, id)) !== v) out.push(`dossier ${id}: ${v} vs ${s.dossiers.get(replicaId(n, id)) ?? 'missing'}`);
  for (const id of s.dossiers.keys()) if (!m.dossiers.has(id - n * 2 ** 40)) out.push(`extra dossier ${id} on the slave`);
  for (const [id, f] of m.faces) {
    const r = s.faces.get(replicaId(n, id));
    if (!r) {
      out.push(`face ${id} missing`);
      continue;
    }
    if (r.record !== replicaId(n, f.record)) out.push(`face ${id}: record ${r.record}`);
    for (const [i, key] of f.files.entries()) {
      const slaveKey = r.files[i] as string;
      if (slaveKey !== `${key.slice(0, key.indexOf(':'))}:${replicaPath(MASTER, key.slice(key.indexOf(':') + 1))}`) out.push(`face ${id}: file ${slaveKey}`);
      else if (fileHash(master, key) !== fileHash(slave, slaveKey)) out.push(`face ${id}: content of ${slaveKey} differs`);
    }
  }
  if (s.faces.size !== m.faces.size) out.push(`faces: ${m.faces.size} on the master, ${s.faces.size} on the slave`);
  const shards = await ShardSet.connect(slave.shards, 5000);
  try {
    const ids = [...m.faces.values()].map((f) => replicaId(n, f.record));
    let found = 0;
    for (const [i] of slave.shards.entries()) found += (await shards.get('ffsec_face_objects', i, ids.filter((id) => shards.shardOf(id) === i))).ids.length;
    if (found !== ids.length) out.push(`gallery records: ${found} of ${ids.length} on the slave`);
  } finally {
    shards.close();
  }
  return out;
}

/**
 * Issue 18's sync pages, in Debian's chromium (headless, playwright-core): the link on the sync page,
 * its page with the differences of the last comparison, pause and resume by button; a viewer's buttons
 * are disabled with the reason. Screenshots go to test-artifacts/console/.
 */
async function consoleSyncPages(consoleUrl: string, tokens: { operator: string; viewer: string }, linkId: string, dossier: number): Promise<void> {
  const artifacts = path.resolve('test-artifacts/console');
  mkdirSync(artifacts, { recursive: true });
  const browser: Browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
  try {
    const open = async (token: string): Promise<Page> => {
      const ctx = await browser.newContext({ baseURL: consoleUrl, ignoreHTTPSErrors: true, viewport: { width: 1100, height: 700 } });
      expect((await ctx.request.post('/api/login', { data: { token } })).status()).toBe(200);
      return ctx.newPage();
    };
    const page = await open(tokens.operator);
    await page.goto('/#/');
    await page.waitForSelector('#sites tr[data-site]', { timeout: 30_000 }).catch(() => undefined);
    await page.screenshot({ path: path.join(artifacts, 'sync-fleet.png'), fullPage: true });
    // The fleet page sums up each site's links: the master's one link, running.
    await expect.poll(() => page.getAttribute(`#sites tr[data-site="${linkId.split('.')[0]}"] td.sync`, 'data-sync'), { timeout: 30_000 }).toBe('running');
    await page.click('#sync-open');
    const row = `#links tr[data-link="${linkId}"]`;
    await page.waitForSelector(row);
    expect(await page.textContent(`${row} td.check`)).toMatch(/: [1-9]\d* differences?$/);
    await page.screenshot({ path: path.join(artifacts, 'sync-links.png'), fullPage: true });
    await page.click(`${row} a`);
    await page.waitForSelector('#differences tr[data-kind]');
    const differences = await page.locator('#differences tr[data-kind]').allTextContents();
    console.log(`console sync link page: ${await page.textContent('#link-check')}; first differences: ${differences.slice(0, 3).join(' | ')}`);
    expect(Number(await page.getAttribute('#link-check', 'data-differences'))).toBe(differences.length);
    expect(differences.join('\n')).toContain(`dossier:${dossier}`);
    expect(await page.locator('#parts tr[data-part]').count()).toBeGreaterThanOrEqual(3);
    await page.screenshot({ path: path.join(artifacts, 'sync-link.png'), fullPage: true });
    // Pause and resume by button: the page follows the link's state without a reload.
    await page.click(`#link-actions button.pause`);
    await expect.poll(() => page.getAttribute('#link-state [data-state]', 'data-state'), { timeout: 30_000 }).toBe('paused');
    expect(await page.textContent('#link-actions button.pause')).toBe('Resume');
    await page.click(`#link-actions button.pause`);
    await expect.poll(() => page.getAttribute('#link-state [data-state]', 'data-state'), { timeout: 60_000 }).toBe('running');
    // A viewer sees the link, its buttons disabled with the reason.
    const viewer = await open(tokens.viewer);
    await viewer.goto(`/#/sync/${linkId}`);
    await viewer.waitForSelector('#pause-reason');
    expect(await viewer.textContent('#pause-reason')).toBe('operator vera (viewer) may not call setSyncLinkPaused: it needs operator');
    expect(await viewer.isDisabled('#link-actions button.pause')).toBe(true);
  } finally {
    await browser.close();
  }
}

describe('watch-list sync between two dev sites', () => {
  let fleet: TestFleet;
  let master: SiteState;
  let slave: SiteState;
  let consoleUrl = '';

  beforeAll(async () => {
    const consoleListen = `127.0.0.1:${await freePort()}`;
    consoleUrl = `https://${consoleListen}/`;
    fleet = await startFleet(
      [
        { site: MASTER, dossiers: 300, events: 100 },
        { site: SLAVE, dossiers: 150, events: 100 },
        { site: OTHER_MODEL, dossiers: 20, events: 20, vectorDim: 64 },
      ],
      { controller: { console: { listen: consoleListen }, access: { operators: { [TEST_OPERATOR]: { role: 'admin' }, otto: { role: 'operator' }, vera: { role: 'viewer' } }, scratchSites: [] } } },
    );
    master = fleet.sites.get(MASTER) as SiteState;
    slave = fleet.sites.get(SLAVE) as SiteState;
  }, 240_000);

  afterAll(async () => {
    await stopWriter(master).catch(() => undefined);
    await fleet?.stop();
  }, 60_000);

  it('refuses to link sites whose face models differ, naming both', async () => {
    const r = await fleet.cli('sync', 'link', '--from', `${MASTER}:1`, '--to', `${OTHER_MODEL}:1`, '--no-safety-snapshot');
    expect(r.code).toBe(EXIT_CODES.VALIDATION);
    expect(r.stderr).toMatch(/face-mango-\d+/);
    expect(r.stderr).toMatch(/face-mango-64/);
  }, 300_000);

  it('replicates list 1 of the master into list 2 of the slave while the writer edits it', async () => {
    const before = await listContent(slave, 2);
    expect(before.dossiers.size).toBeGreaterThan(0);
    const masterBefore = await listContent(master, 1);
    await startWriter(master, { rate: 20 });
    const missing = await fleet.cli('sync', 'link', '--from', `${MASTER}:1`, '--to', `${SLAVE}:99`, '--no-safety-snapshot');
    expect(missing.code).toBe(EXIT_CODES.VALIDATION);
    expect(missing.stderr).toContain(`watch list 99 does not exist on site '${SLAVE}'`);
    const link = await fleet.json<{ id: string; number: number; safetySnapshot?: string; replacedDossiers?: number }>('sync', 'link', '--from', `${MASTER}:1`, '--to', `${SLAVE}:2`);
    expect(link.safetySnapshot).toBeTruthy();
    expect(link.replacedDossiers).toBe(before.dossiers.size);
    // The writer has run since before the link (whose safety snapshot alone takes seconds): a few more
    // seconds of edits, adds and deletes flowing through the change stream while the link runs.
    await new Promise((r) => setTimeout(r, 6_000));
    const stats = await stopWriter(master);
    expect(stats?.writes ?? 0).toBeGreaterThan(50);
    // FindFace's writes go through the capture triggers (as FindFace's own role): none may fail, and list 1 changed.
    expect(stats?.errors, stats?.lastError).toBe(0);
    const masterAfter = await listContent(master, 1);
    expect([...masterAfter.faces.keys()].some((id) => !masterBefore.faces.has(id)) || masterAfter.dossiers.size !== masterBefore.dossiers.size).toBe(true);
    const { value: diffs, elapsedMs } = await waitFor(async () => {
      const d = await differences(master, slave, link.number);
      return d.length === 0 ? d : undefined;
    }, 90_000, 1000).catch(async () => ({ value: await differences(master, slave, link.number), elapsedMs: -1 }));
    if (diffs.length > 0) console.log(`link ${link.id} did not converge within 90 s:\n${diffs.join('\n')}\n${await syncDiagnostics(fleet, link.id)}`);
    expect(diffs).toEqual([]);
    // Files of faces the writer deleted or moved are gone from the slave too: its replica directories
    // hold exactly the files the master's list names (this link is the slave's only one so far).
    const named = [...(await listContent(master, 1)).faces.values()].flatMap((f) => f.files.map((k) => `${k.slice(0, k.indexOf(':'))}:${replicaPath(MASTER, k.slice(k.indexOf(':') + 1))}`));
    expect(replicaFiles(slave)).toEqual([...new Set(named)].sort());
    // The photos came over the direct TLS channel between the files agents (NATS is only the fallback).
    expect(fleet.agents.get(`${SLAVE}/files`)?.logs()).toContain(`sync files: fetching from ${MASTER} over the direct TLS channel`);
    expect(fleet.agents.get(`${SLAVE}/files`)?.logs()).not.toContain('direct channel to');
    expect(fleet.agents.get(`${MASTER}/files`)?.logs()).toContain('a slave connected over the direct channel');
    console.log(`sync: converged ${elapsedMs} ms after the writer stopped; master list 1 holds ${(await listContent(master, 1)).dossiers.size} dossiers`);
    const report = await checkSite(slave);
    expect(report.errors).toBe(0);
    // The slave's own dossiers left the list (the first sync replaces it); none of them is in it now.
    const after = await listContent(slave, 2);
    for (const id of before.dossiers.keys()) expect(after.dossiers.has(id)).toBe(false);

    // The replica list is read-only on the slave: an insert into it names the link.
    const own = [...before.dossiers.keys()][0] as number;
    await expect(query(slave, 'INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) VALUES ($1, 2)', [own])).rejects.toThrow(new RegExp(`read-only replica.*${link.id.replace(/\./g, '\\.')}`));

    // sync check compares rows, records and files: 0 differences now.
    const check = await fleet.json<{ dossiers: number; records: number; files: number; differences: unknown[] }>('sync', 'check', link.id);
    expect(check.differences).toEqual([]);
    expect(check.dossiers).toBe((await listContent(master, 1)).dossiers.size);
    expect(check.files).toBe(check.records * 3);
    // Each comparison is a job of the slave site: its steps are in the events stream (the audit trail).
    const jobs = await fleet.json<{ kind: string; phase: string }[]>('jobs', 'list', '--site', SLAVE);
    expect(jobs.some((j) => j.kind === 'sync-check' && j.phase === 'Completed')).toBe(true);

    // Drift made behind ffkeeper's back on the slave (a renamed dossier, a lost file) is found and repaired.
    const [victim] = [...(await listContent(master, 1)).faces.entries()];
    if (!victim) throw new Error('the master list has no face');
    await query(slave, `BEGIN; SET LOCAL ffkeeper.sync_apply = 'on'; UPDATE ffsecurity_dossier SET name = 'tampered' WHERE id = ${replicaId(link.number, victim[1].dossier)}; COMMIT`);
    const lostFile = path.join(slave.uploads.ffuploadDir, replicaPath(MASTER, (victim[1].files[2] as string).slice('ffupload:'.length)));
    rmSync(lostFile);
    const drift = await fleet.cli('sync', 'check', link.id);
    expect(drift.code).toBe(EXIT_CODES.ILLEGAL_STATE);
    expect(drift.stdout).toContain(`dossier:${victim[1].dossier}`);
    expect(drift.stdout).toMatch(/missing-on-slave\s+file:ffupload:/);
    const [otto, vera] = await Promise.all([fleet.json<{ token: string }>('operators', 'token', 'otto'), fleet.json<{ token: string }>('operators', 'token', 'vera')]);
    await consoleSyncPages(consoleUrl, { operator: otto.token, viewer: vera.token }, link.id, victim[1].dossier);
    expect((await fleet.cli('sync', 'check', link.id, '--repair')).code).toBe(0);
    await waitSyncConverged(fleet, link.id, 60_000);
    expect(existsSync(lostFile)).toBe(true);

    const list = await fleet.json<{ id: string; state: string; appliedTotal: number }[]>('sync', 'list');
    expect(list.find((l) => l.id === link.id)?.state).toBe('running');

    // Unlink: the content stays, and the list is writable again.
    expect((await fleet.cli('sync', 'unlink', link.id)).code).toBe(0);
    await waitFor(async () => {
      try {
        await query(slave, 'INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) VALUES ($1, 2)', [own]);
        return true;
      } catch {
        return undefined;
      }
    }, 30_000, 500);
    expect((await listContent(slave, 2)).dossiers.size).toBe(after.dossiers.size + 1);
    // Every agent ran under its own NATS permissions (issue 16) and none was refused anything on the way.
    for (const [name, agent] of fleet.agents) expect(agent.logs(), name).not.toContain('Permissions Violation');
  }, 400_000);

  it("native mode: sets up FindFace's own sync on both findface-security services; the nightly run and unlink show in sync show", async () => {
    // findface-security serving its API, writing nothing (the lists must hold still for the comparison).
    await startWriter(master, { rate: 0 });
    await startWriter(slave, { rate: 0 });
    try {
      const masterNames = await namesOf(master, 3);
      expect(masterNames.length).toBeGreaterThan(0);
      expect((await namesOf(slave, 4)).length).toBeGreaterThan(0);
      const link = await fleet.json<{ id: string; native: { remoteUrl: string; replicaId: number; syncTime: { hour: number; minute: number } } }>(
        'sync', 'link', '--from', `${MASTER}:3`, '--to', `${SLAVE}:4`, '--mode', 'native', '--at', '02:00', '--timezone', 'Europe/Moscow', '--no-safety-snapshot',
      );
      // 02:00 in Moscow is 23:00 UTC, the slave's TIME_ZONE.
      expect(link.native.syncTime).toEqual({ hour: 23, minute: 0 });
      const [m, sl] = [readSecuritySyncSettings(readFileSync(master.security?.configPath as string, 'utf8')), readSecuritySyncSettings(readFileSync(slave.security?.configPath as string, 'utf8'))];
      expect(m.syncToken).toBeTruthy();
      expect(sl.syncToken).toBe(m.syncToken);
      expect(sl.externalAddress).toBe(m.externalAddress);
      expect(link.native.remoteUrl).toBe(m.externalAddress);
      expect(sl.syncTime).toEqual({ hour: 23, minute: 0 });
      // The token is a secret: it lives in the config files only, never in what ffkeeper shows.
      expect((await fleet.cli('sync', 'show', link.id)).stdout).not.toContain(m.syncToken);

      const waiting = await fleet.json<{ state: string; nativeReplica?: { id: number } }>('sync', 'show', link.id);
      expect(waiting.state).toBe('waiting');
      expect(waiting.nativeReplica?.id).toBe(link.native.replicaId);
      const paused = await fleet.cli('sync', 'pause', link.id);
      expect(paused.code).toBe(EXIT_CODES.VALIDATION);
      expect(paused.stderr).toContain('native sync, which has no pause');

      // The nightly run: the slave's clock is moved to just before its SYNC_TIME, on tomorrow's date: a run
      // at today's 23:00 UTC by the machine's clock (the test running just then) has taken today's minute.
      setSecurityClock(slave, new Date(`${new Date(Date.now() + 86_400_000).toISOString().slice(0, 10)}T22:59:57Z`));
      const { value: ran } = await waitFor(async () => {
        const v = await fleet.json<{ state: string; appliedTotal: number; nativeReplica?: { lastRun?: { status: string; dossiers?: number } } }>('sync', 'show', link.id);
        return v.nativeReplica?.lastRun ? v : undefined;
      }, 90_000, 1000);
      expect(ran.nativeReplica?.lastRun?.status).toBe('ok');
      expect(ran.state).toBe('running');
      expect(ran.appliedTotal).toBe(masterNames.length);
      expect(await namesOf(slave, 4)).toEqual(masterNames);
      expect((await checkSite(slave)).errors).toBe(0);
      const human = await fleet.cli('sync', 'show', link.id);
      expect(human.stdout).toMatch(/last run:\s+\S+ \S+ ok: \d+ dossiers/);
      const listed = await fleet.json<{ id: string; mode: string; state: string }[]>('sync', 'list');
      expect(listed.find((l) => l.id === link.id)).toMatchObject({ mode: 'native', state: 'running' });

      // Unlink: DELETE on the slave; the replica is gone from its findface-security, the content stays.
      expect((await fleet.cli('sync', 'unlink', link.id)).code).toBe(0);
      expect((await fleet.cli('sync', 'show', link.id)).code).toBe(EXIT_CODES.NOT_FOUND);
      const replicas = await fetch(`http://127.0.0.1:${slave.security?.port}/sync/dossier-lists/`, { headers: { authorization: `Token ${sl.syncToken}` } });
      expect(((await replicas.json()) as { results: unknown[] }).results).toEqual([]);
      expect(await namesOf(slave, 4)).toEqual(masterNames);
      // Creating and removing the link are jobs of the slave site: in the events stream, the audit trail.
      const jobs = await fleet.json<{ kind: string; phase: string }[]>('jobs', 'list', '--site', SLAVE);
      expect(jobs.filter((j) => j.kind === 'sync-link' && j.phase === 'Completed').length).toBeGreaterThanOrEqual(2);
    } finally {
      await stopWriter(master).catch(() => undefined);
      await stopWriter(slave).catch(() => undefined);
    }
  }, 300_000);

  it("nightly mode: the master's changes wait until the apply window (sync run), which applies and compares them, then the slave holds still again", async () => {
    const before = await listContent(slave, 5);
    const masterList = await listContent(master, 5);
    expect(masterList.dossiers.size).toBeGreaterThan(0);
    const link = await fleet.json<{ id: string; number: number; mode: string }>('sync', 'link', '--from', `${MASTER}:5`, '--to', `${SLAVE}:5`, '--mode', 'nightly', '--no-safety-snapshot');
    expect(link.mode).toBe('nightly');
    const show = () => fleet.json<{ state: string; pending: number; lastWindow?: { error?: string }; window?: unknown; parts: { role: string; state: string }[] }>('sync', 'show', link.id);
    // Between windows the slave's parts wait, and the replica list is guarded already.
    await waitFor(async () => {
      const v = await show();
      return v.state === 'waiting' && v.parts.some((p) => p.role === 'apply-rows' && p.state === 'waiting') ? v : undefined;
    }, 60_000, 1000);
    const [outside] = await query<{ id: string }>(slave, 'SELECT id FROM ffsecurity_dossier WHERE id NOT IN (SELECT dossier_id FROM ffsecurity_dossier_watch_lists WHERE watchlist_id = 5) LIMIT 1');
    const own = Number(outside?.id);
    await waitFor(async () => query(slave, 'INSERT INTO ffsecurity_dossier_watch_lists (dossier_id, watchlist_id) VALUES ($1, 5)', [own]).then(() => undefined, (err: Error) => (/read-only replica/.test(err.message) ? true : undefined)), 30_000, 500);
    // A change on the master is captured and published, and waits: the slave list is as it was.
    const [changed] = [...masterList.dossiers.keys()];
    await query(master, `UPDATE ffsecurity_dossier SET comment = 'nightly-1', modified_date = now() WHERE id = $1`, [changed]);
    const { value: waiting } = await waitFor(async () => {
      const v = await show();
      return v.pending > 0 ? v : undefined;
    }, 60_000, 1000);
    expect(waiting.state).toBe('waiting');
    expect(await listContent(slave, 5)).toEqual(before);

    // The window: everything applied and compared, the window closed, a sync-apply job of the slave site.
    const run = await fleet.cli('sync', 'run', link.id);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('0 differences');
    expect(await differences(master, slave, link.number, { from: 5, to: 5 })).toEqual([]);
    expect((await checkSite(slave)).errors).toBe(0);
    const after = await show();
    expect(after.window).toBeUndefined();
    expect(after.lastWindow).toBeDefined();
    expect(after.lastWindow?.error).toBeUndefined();
    const jobs = await fleet.json<{ kind: string; phase: string }[]>('jobs', 'list', '--site', SLAVE);
    expect(jobs.some((j) => j.kind === 'sync-apply' && j.phase === 'Completed')).toBe(true);

    // Closed again: the next change waits for the next window.
    await query(master, `UPDATE ffsecurity_dossier SET comment = 'nightly-2', modified_date = now() WHERE id = $1`, [changed]);
    await waitFor(async () => ((await show()).pending > 0 ? true : undefined), 60_000, 1000);
    const [replica] = await query<{ comment: string }>(slave, 'SELECT comment FROM ffsecurity_dossier WHERE id = $1', [replicaId(link.number, changed as number)]);
    expect(replica?.comment).toBe('nightly-1');
    // Only a nightly link has a window to run.
    const refused = await fleet.cli('sync', 'run', `${MASTER}.9.${SLAVE}.9`);
    expect(refused.code).toBe(EXIT_CODES.NOT_FOUND);
    expect((await fleet.cli('sync', 'unlink', link.id)).code).toBe(0);
    for (const [name, agent] of fleet.agents) expect(agent.logs(), name).not.toContain('Permissions Violation');
  }, 300_000);
});
