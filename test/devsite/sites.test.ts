/**
 * Dev sites side by side: distinct ports, directories and databases; agent configs the agent accepts;
 * the systemctl and findface-security shims driving the right site from any cwd; pgbouncer's admin
 * console; `down` leaving no process, port, directory or database behind, even with a process already
 * dead; and the refusals (existing site, unreachable root).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSite, downSite, unitStatuses, upSite, type SiteState } from '../../deploy/dev-site/index.js';
import { loadAgentConfig } from '../../shared/config/agent.js';
import { ConflictError, ValidationError } from '../../shared/errors.js';
import { cleanRoot, databaseExists, leftovers, portsOf, superuserClient, testRoot, uniqueSite } from './fixtures.js';

const root = testRoot();
const siteA = uniqueSite('a');
const siteB = uniqueSite('b');

/** Runs a shim of a site from `/`, as an agent would (with its own PATH). */
function shim(state: SiteState, tool: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(state.binDir, tool), args, { cwd: '/', timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('dev sites side by side', () => {
  let a: SiteState;
  let b: SiteState;

  beforeAll(async () => {
    const [ra, rb] = await Promise.all([
      upSite({ site: siteA, root, dossiers: 30, events: 60 }),
      upSite({ site: siteB, root, dossiers: 20, events: 40, shards: 3, nats: ['nats://10.1.2.3:4222'] }),
    ]);
    a = ra.state;
    b = rb.state;
  }, 120_000);

  afterAll(() => cleanRoot(root), 60_000);

  it('run with distinct ports, directories and databases, and both check clean', async () => {
    expect(new Set([...portsOf(a), ...portsOf(b)]).size).toBe(portsOf(a).length + portsOf(b).length);
    expect(a.siteDir).not.toBe(b.siteDir);
    expect([a.postgres.database, b.postgres.database]).toEqual([`ffsecurity_${siteA.replace(/-/g, '_')}`, `ffsecurity_${siteB.replace(/-/g, '_')}`]);
    expect(b.shards.map((s) => s.name)).toEqual(['shard-001', 'shard-002', 'shard-003']);
    for (const site of [siteA, siteB]) expect(await checkSite(site, root)).toMatchObject({ ok: true, errors: 0, warnings: 0 });
  });

  it('write agent configs that the agent loader accepts, one per host', () => {
    expect(Object.keys(b.agentConfigs).sort()).toEqual(['db', 'files', 'tnt']);
    const db = loadAgentConfig(b.agentConfigs.db, {});
    expect(db).toMatchObject({ site: siteB, host: 'db', pathPrepend: [b.binDir], nats: { servers: ['nats://10.1.2.3:4222'] }, grpc: { listen: '127.0.0.1:0' } });
    expect(db.components).toEqual([
      expect.objectContaining({ kind: 'postgres', database: b.postgres.database, owner: 'ntech', pgbouncer: expect.objectContaining({ port: b.pgbouncer.port, adminUser: 'postgres', database: b.postgres.database }) }),
    ]);
    const tnt = loadAgentConfig(b.agentConfigs.tnt, {});
    expect(tnt.components.map((c) => `${c.kind}:${c.name}`)).toEqual(['tarantool:shard-001', 'tarantool:shard-002', 'tarantool:shard-003', 'sf-api:sf-api']);
    expect(tnt.components[0]).toMatchObject({ port: b.shards[0]?.port, memtxDir: b.shards[0]?.memtxDir, walDir: b.shards[0]?.walDir, unit: 'tarantool@shard-001' });
    const files = loadAgentConfig(b.agentConfigs.files, {});
    expect(files.components).toEqual([{ kind: 'uploads', name: 'uploads', paths: [b.uploads.uploadsDir, b.uploads.ffuploadDir] }]);
  });

  it("control the site's own units through the systemctl shim, from any cwd", async () => {
    expect(await shim(a, 'systemctl', ['is-active', 'tarantool@shard-002'])).toMatchObject({ code: 0, stdout: 'active\n' });
    expect(await shim(a, 'systemctl', ['stop', 'tarantool@shard-002.service'])).toMatchObject({ code: 0 });
    expect(await shim(a, 'systemctl', ['is-active', 'tarantool@shard-002'])).toMatchObject({ code: 3, stdout: 'inactive\n' });
    expect(await shim(b, 'systemctl', ['is-active', 'tarantool@shard-002'])).toMatchObject({ code: 0, stdout: 'active\n' });
    expect(await shim(a, 'systemctl', ['start', 'tarantool@shard-002'])).toMatchObject({ code: 0 });
    expect(await shim(a, 'systemctl', ['restart', 'pgbouncer', 'findface-sf-api'])).toMatchObject({ code: 0 });
    expect(await shim(a, 'systemctl', ['is-active', 'findface-security'])).toMatchObject({ code: 3, stdout: 'inactive\n' });
    expect(await shim(a, 'systemctl', ['start', 'no-such-unit'])).toMatchObject({ code: 5, stderr: expect.stringContaining('Unit no-such-unit not found') });
    expect(await checkSite(siteA, root)).toMatchObject({ ok: true, errors: 0 });
  }, 120_000);

  it('run findface-security migrate, create_groups and create_default_user idempotently', async () => {
    for (let round = 0; round < 2; round++) {
      for (const cmd of ['migrate', 'create_groups', 'create_default_user', 'make_tnt_schema']) {
        expect(await shim(a, 'findface-security', [cmd])).toMatchObject({ code: 0 });
      }
    }
    expect(await shim(a, 'findface-security', ['runserver'])).toMatchObject({ code: 1, stderr: expect.stringContaining("unsupported command 'runserver'") });
    const db = await superuserClient(a);
    try {
      expect((await db.query("SELECT count(*)::int AS n FROM users_user WHERE username = 'admin' AND is_superuser")).rows[0]).toEqual({ n: 1 });
      expect((await db.query('SELECT name FROM auth_group ORDER BY name')).rows.map((r: { name: string }) => r.name)).toEqual(['Administrator', 'Operator', 'User']);
    } finally {
      await db.end();
    }
  }, 120_000);

  it("pause and resume the database on pgbouncer's admin console", async () => {
    const admin = new pg.Client({ host: '127.0.0.1', port: a.pgbouncer.port, user: a.pgbouncer.adminUser, database: 'pgbouncer' });
    const app = new pg.Client({ host: '127.0.0.1', port: a.pgbouncer.port, user: a.postgres.owner, database: a.postgres.database });
    await Promise.all([admin.connect(), app.connect()]);
    try {
      await admin.query(`PAUSE ${a.postgres.database}`);
      let done = false;
      const query = app.query('SELECT count(*) FROM ffsecurity_event').then(() => (done = true));
      await new Promise((r) => setTimeout(r, 300));
      expect(done).toBe(false);
      await admin.query(`RESUME ${a.postgres.database}`);
      await query;
      expect(done).toBe(true);
    } finally {
      await Promise.all([admin.end(), app.end()]);
    }
  });

  it('refuses to bring up a site that already exists', async () => {
    await expect(upSite({ site: siteA, root, dossiers: 0, events: 0 })).rejects.toThrow(ConflictError);
    await expect(upSite({ site: siteA, root, dossiers: 0, events: 0 })).rejects.toThrow(`dev site '${siteA}' already exists`);
  });

  it('go down leaving no process, port, directory or database behind, even with a process already dead', async () => {
    for (const state of [a, b]) {
      const units = unitStatuses(state);
      const pids = units.flatMap((u) => (u.pid === undefined ? [] : [u.pid]));
      expect(pids.length).toBe(state.shards.length + 4); // shards, pgbouncer, extraction-api, findface-upload, sf-api (the writer is not running)
      const shard1 = units.find((u) => u.unit === 'tarantool@shard-001')?.pid;
      if (state === a && shard1 !== undefined) process.kill(shard1, 'SIGKILL'); // died on its own before down
      await downSite(state.site, root);
      expect(await leftovers(state, pids)).toEqual([]);
    }
    await downSite(siteA, root); // idempotent
  }, 60_000);

  it('fails with a ValidationError naming the directory postgres cannot reach, leaving nothing behind', async () => {
    const closed = mkdtempSync(path.join(os.tmpdir(), 'ffk-devsite-closed-')); // mode 0700
    const site = uniqueSite('c');
    try {
      const err = await upSite({ site, root: closed, dossiers: 0, events: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as Error).message).toContain(`pgbouncer runs as 'postgres', which cannot reach ${closed} (mode 700)`);
      expect(existsSync(path.join(closed, site))).toBe(false);
      expect(await databaseExists(`ffsecurity_${site.replace(/-/g, '_')}`)).toBe(false);
    } finally {
      rmSync(closed, { recursive: true, force: true });
    }
  });
});
