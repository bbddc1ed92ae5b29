/**
 * Issue 6 acceptance for verify, through the CLI as an operator types it, on real processes: an intact
 * snapshot verifies (repository check, restore drill into sandboxes — scratch database, scratch Tarantool
 * instances, temp directories — and the integrity check on them at 0 errors) and `snapshot list` shows it
 * verified; a pack file corrupted in the site's repository makes `verify --read-data` fail naming the
 * snapshot, and the stored result says FAILED; no sandbox is left behind either way.
 * Issue 20, the S3 backend: the site's repository is on an S3 server (s3rver over TLS,
 * test/harness/s3-server.ts): the intact snapshot verifies with --read-data there, the damaged site is
 * restored from it (safety snapshot stored there first) with 0 integrity errors, and retention prunes it.
 * Issue 17: `migrate plan` on the verified site (it wants a recent verified snapshot): the runbook, a
 * measured extraction sample, nothing changed; a taken port and a missing model exit 8, naming both.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { damageSite } from '../../deploy/demo/damage.js';
import { checkSiteState } from '../../deploy/dev-site/checker.js';
import { GrpcAgentClient } from '../../controller/transport/grpc-agent-client.js';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import { decodeManifest } from '../../shared/manifest-codec.js';
import { drillDatabaseName } from '../../agent/domain/drivers/postgres/sandbox.js';
import { processAlive } from '../devsite/fixtures.js';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { BIN, waitFor, type CliResult } from '../harness/processes.js';
import { controllerSecurity } from '../harness/pki.js';
import { startS3Server, type S3Server } from '../harness/s3-server.js';
import { parseSnapshotTags, siteTag } from '../../shared/tags.js';
import { modelFileOf, parseGalleryModel } from '../../shared/findface/models.js';
import { shiftedShardName } from '../../shared/findface/instance-file.js';
import type { MigrationPlan } from '../../controller/domain/migration/plan.js';

const SITE = 'vrf-1';

interface Snap {
  id: string;
  verification?: { ok: boolean; readData: boolean; steps: { name: string; ok: boolean; durationMs: number; detail: string }[]; integrity?: { errors: number } };
}

/** `ffkeeper ARGS` with a deadline longer than the harness's 30 s (a verify drill restores a site). */
function cli(fleet: TestFleet, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN.cli, ...args, '--controller', fleet.controllerAddress], { timeout: 300_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The scratch databases of these sandboxes (named from the sandbox id) that exist; other tests' are not ours. */
async function drillDatabases(sandboxIds: string[]): Promise<string[]> {
  const names = sandboxIds.map((id) => drillDatabaseName(id, 'postgres:ffsecurity'));
  const c = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await c.connect();
  try {
    return (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [names])).rows.map((r) => r.datname);
  } finally {
    await c.end();
  }
}

/** The verify job named in the CLI's report. */
function verifyJob(stdout: string): string {
  const id = /\bjob (j-[\w-]+)/.exec(stdout)?.[1];
  if (!id) throw new Error(`no job id in the verify output:\n${stdout}`);
  return id;
}

/** Scratch tarantool processes: their working directory is a sandbox directory under `root`. */
function scratchProcesses(root: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd.startsWith(root) && cwd.includes('/sandbox/')) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids.filter(processAlive);
}

/** Sandbox directories of the site's agents (`<siteDir>/agents/cache-<host>/sandbox/<id>`). */
function sandboxDirs(siteDir: string): string[] {
  const agents = path.join(siteDir, 'agents');
  return readdirSync(agents)
    .filter((d) => d.startsWith('cache-'))
    .flatMap((d) => {
      const dir = path.join(agents, d, 'sandbox');
      return existsSync(dir) ? readdirSync(dir).map((s) => path.join(dir, s)) : [];
    });
}

async function leftovers(fleet: TestFleet, sandboxIds: string[]): Promise<string[]> {
  const siteDir = fleet.sites.get(SITE)?.siteDir ?? '';
  const mine = await drillDatabases(sandboxIds);
  return [...mine.map((d) => `database ${d}`), ...scratchProcesses(realpathSync(fleet.root)).map((p) => `process ${p}`), ...sandboxDirs(siteDir).map((d) => `directory ${d}`)];
}

/** Flips 64 bytes in the middle of the largest pack file of the site's repository. */
function corruptLargestPack(repoDir: string): string {
  const packs = readdirSync(path.join(repoDir, 'data'), { recursive: true, encoding: 'utf8' })
    .map((p) => path.join(repoDir, 'data', p))
    .filter((p) => statSync(p).isFile())
    .sort((a, b) => statSync(b).size - statSync(a).size);
  const pack = packs[0];
  if (!pack) throw new Error(`no pack file under ${repoDir}/data`);
  const bytes = readFileSync(pack);
  const at = Math.floor(bytes.length / 2);
  for (let i = at; i < Math.min(bytes.length, at + 64); i += 1) bytes[i] = (bytes[i] as number) ^ 0xff;
  writeFileSync(pack, bytes);
  return pack;
}

describe('ffkeeper verify', () => {
  let fleet: TestFleet;
  let snapshotId = '';
  const started = Date.now();

  let s3: S3Server;

  beforeAll(async () => {
    // Issue 20: the site's repository is on an S3 server.
    s3 = await startS3Server();
    fleet = await startFleet([{ site: SITE, dossiers: 20, events: 60 }], { remote: { server: s3, sites: [SITE] } });
    const r = await cli(fleet, 'snapshot', 'create', '--site', SITE, '--wait');
    expect(r.code, r.stderr).toBe(0);
    const list = await fleet.json<Snap[]>('snapshot', 'list', '--site', SITE);
    snapshotId = list[0]?.id ?? '';
    console.log(`fleet up and snapshot ${snapshotId} taken in ${Date.now() - started} ms`);
  }, 300_000);

  afterAll(async () => {
    await fleet?.stop();
    await s3?.stop();
    console.log(`verify e2e: ${Date.now() - started} ms in all`);
  });

  it('verifies an intact snapshot: drill into sandboxes, integrity check at 0 errors, shown by snapshot list/show', async () => {
    // The live site is damaged after the snapshot: a check that looked at it instead of the sandbox would fail.
    const state = fleet.sites.get(SITE);
    if (!state) throw new Error('no site state');
    await damageSite(state);
    const live = await checkSiteState(state);
    expect(live.errors).toBeGreaterThan(0);
    const t0 = Date.now();
    const r = await cli(fleet, 'verify', '--site', SITE, '--read-data');
    console.log(`verify --read-data (S3 repository): ${Date.now() - t0} ms\n${r.stdout}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`verification of snapshot ${snapshotId}`);
    expect(r.stdout).toMatch(/OK at/);
    expect(r.stdout).toMatch(/integrity \(db\): 0 errors/);
    for (const ref of ['postgres:ffsecurity', 'tarantool:shard-001', 'tarantool:shard-002', 'uploads:uploads']) expect(r.stdout).toMatch(new RegExp(`drill ${ref}\\s+\\S+\\s+ok`));

    const [snap] = await fleet.json<Snap[]>('snapshot', 'list', '--site', SITE);
    expect(snap?.verification?.ok).toBe(true);
    expect(snap?.verification?.integrity?.errors).toBe(0);
    for (const s of snap?.verification?.steps ?? []) console.log(`  ${s.name}: ${s.durationMs} ms (${s.detail})`);
    const table = await fleet.cli('snapshot', 'list', '--site', SITE);
    expect(table.stdout).toMatch(/VERIFIED/);
    expect(table.stdout).toMatch(new RegExp(`${snapshotId}.*ok \\d\\d-\\d\\d \\d\\d:\\d\\d`));
    const shown = await fleet.cli('snapshot', 'show', snapshotId, '--site', SITE);
    expect(shown.stdout).toMatch(/verified: ok/);
    expect(await leftovers(fleet, [verifyJob(r.stdout)])).toEqual([]);
  }, 300_000);

  // Issue 17: `migrate plan` wants a recently verified snapshot, which this site now has.
  it('migrate plan: the runbook of a verified site (new shards, diffs, migration.ini, faces, a measured sample), nothing changed; failed preconditions exit 8', async () => {
    const state = fleet.sites.get(SITE);
    if (!state?.extractionApi) throw new Error('no site state with an extraction-api');
    const current = parseGalleryModel(state.vectors.models.ffsec_face_objects);
    const target = `face/${['ifruit', 'elderberry'].find((n) => n !== current.name) ?? '?'}_${current.dim}.cpu.fnk`;
    const configs = [state.sfApi.configPath, state.extractionApi.configPath, ...state.shards.map((s) => s.instanceFile)];
    const before = configs.map((f) => readFileSync(f, 'utf8'));
    const stats = async (): Promise<{ faces: number }> => (await (await fetch(`http://127.0.0.1:${state.extractionApi?.port}/stats`)).json()) as { faces: number };
    const extractedBefore = (await stats()).faces;
    // Independently of the agents: what sf-api serves over its shards.
    const served = (await (await fetch(`http://127.0.0.1:${state.sfApi.port}/v2/galleries`)).json()) as { galleries: { name: string; models: string[]; count: number }[] };
    const faces = served.galleries.filter((g) => g.models.length > 0 && g.models.every((m) => m.startsWith('face-'))).reduce((n, g) => n + g.count, 0);

    const t0 = Date.now();
    const r = await cli(fleet, 'migrate', 'plan', '--site', SITE, '--to-model', target, '--json');
    console.log(`migrate plan: ${Date.now() - t0} ms`);
    expect(r.code, r.stderr + r.stdout).toBe(0);
    const plan = JSON.parse(r.stdout) as MigrationPlan;
    expect(plan.checks.filter((c) => !c.ok)).toEqual([]);
    expect(plan).toMatchObject({ ready: true, fromModel: modelFileOf(state.vectors.models.ffsec_face_objects), toModel: target, snapshot: { id: snapshotId } });
    expect(plan.shards.map((s) => [s.from.name, s.to.name, s.to.listen, s.to.http])).toEqual(state.shards.map((s) => [s.name, shiftedShardName(s.name, 10), s.port + 10, s.httpPort + 10]));
    expect(plan.faces.total).toBe(faces);
    expect(faces).toBeGreaterThan(0);
    expect(plan.sample?.extracted).toBeGreaterThan(0);
    expect(plan.sample?.model).toBe(plan.fromModel);
    expect((await stats()).faces - extractedBefore).toBe(plan.sample?.extracted);
    console.log(`  ${faces} faces, sample ${plan.sample?.extracted} in ${plan.sample?.ms.toFixed(0)} ms (${plan.sample?.facesPerSecond?.toFixed(0)} faces/s), estimate ${plan.estimateSeconds?.toFixed(1)} s`);
    const files = plan.steps.flatMap((s) => s.files ?? []);
    const first = state.shards[0];
    if (!first) throw new Error('no shard');
    expect(files.find((f) => f.path.endsWith(`${shiftedShardName(first.name, 10)}.lua`))?.diff).toContain(`+  listen = '127.0.0.1:${first.port + 10}',`);
    expect(files.find((f) => f.path === state.extractionApi?.configPath)?.diff).toContain(`+    face: ${target}`);
    expect(files.find((f) => f.path === 'migration.ini')?.content).toContain(`master: http://127.0.0.1:${first.httpPort + 10}/v2/`);
    expect(plan.steps.flatMap((s) => s.commands)).toContain(`findface-security make_tnt_schema | tee ${path.join(state.siteDir, 'etc', 'findface-security', 'tnt_schema.lua')}`);
    // A plan changes nothing.
    expect(configs.map((f) => readFileSync(f, 'utf8'))).toEqual(before);
    expect(existsSync(path.join(path.dirname(first.instanceFile), `${shiftedShardName(first.name, 10)}.lua`))).toBe(false);

    // A new shard's port taken and a model the extraction-api does not have: exit 8, both named.
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(first.port + 10, '127.0.0.1', resolve));
    try {
      const bad = await cli(fleet, 'migrate', 'plan', '--site', SITE, '--to-model', `face/nosuch_${current.dim}.cpu.fnk`, '--json');
      expect(bad.code, bad.stderr).toBe(EXIT_CODES.ILLEGAL_STATE);
      const failed = Object.fromEntries((JSON.parse(bad.stdout) as MigrationPlan).checks.filter((c) => !c.ok).map((c) => [c.name, c.detail]));
      expect(Object.keys(failed).sort()).toEqual(['ports', 'target model']);
      expect(failed.ports).toContain(`127.0.0.1:${first.port + 10} is in use`);
      expect(bad.stderr).toContain(`face/nosuch_${current.dim}.cpu.fnk is not under`);
    } finally {
      squatter.close();
    }
    const malformed = await cli(fleet, 'migrate', 'plan', '--site', SITE, '--to-model', 'ifruit');
    expect(malformed.code).toBe(EXIT_CODES.VALIDATION);
    expect(malformed.stderr).toContain('--to-model');
  }, 120_000);

  it('an agent killed while it holds a sandbox drops it when it starts again (scratch instances, directory)', async () => {
    const shown = await cli(fleet, 'snapshot', 'show', snapshotId, '--site', SITE, '--json');
    const manifest = decodeManifest(shown.stdout, 'snapshot show');
    const agents = await fleet.json<{ host: string; grpcAddress: string }[]>('agents', 'list', '--site', SITE);
    const address = agents.find((a) => a.host === 'tnt')?.grpcAddress ?? '';
    const client = new GrpcAgentClient({ security: controllerSecurity() });
    try {
      const artifacts = manifest.components.filter((c) => c.host === 'tnt').map(({ host: _h, ...a }) => a);
      const r = await client.restoreSandbox(address, { jobId: 'j-stale', sandboxId: 'j-stale', artifacts, repository: fleet.repositoryAccess(SITE) }, { timeoutMs: 60_000 });
      expect(r.components.map((c) => c.component).sort()).toEqual(['tarantool:shard-001', 'tarantool:shard-002']);
    } finally {
      client.close();
    }
    const root = realpathSync(fleet.root);
    expect(scratchProcesses(root)).toHaveLength(2);
    await fleet.agents.get(`${SITE}/tnt`)?.kill();
    expect(scratchProcesses(root)).toHaveLength(2); // detached: they outlive the agent
    const t0 = Date.now();
    fleet.startAgent(SITE, 'tnt');
    await waitFor(async () => scratchProcesses(root).length === 0 && sandboxDirs(fleet.sites.get(SITE)?.siteDir ?? '').length === 0, 30_000);
    console.log(`stale sandbox dropped ${Date.now() - t0} ms after the agent was started again`);
    await waitFor(async () => (await fleet.json<{ status: string }[]>('agents', 'list', '--site', SITE)).every((a) => a.status === 'online'), 30_000, 1000);
  }, 300_000);

  it('the damaged site restored from its S3 repository (safety snapshot first): 0 integrity errors; retention then prunes there', async () => {
    const state = fleet.sites.get(SITE);
    if (!state) throw new Error('no site state');
    expect((await checkSiteState(state)).errors, 'damaged by the first test').toBeGreaterThan(0);
    const r = await cli(fleet, 'restore', '--site', SITE, '--snapshot', snapshotId, '--yes');
    console.log(`restore from the S3 repository:\n${r.stdout.split('\n').slice(-6).join('\n')}`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/integrity.*OK, 0 errors/);
    expect((await checkSiteState(state)).errors).toBe(0);
    const cuts = await fleet.json<Snap[]>('snapshot', 'list', '--site', SITE);
    expect(cuts).toHaveLength(2); // the snapshot and the restore's safety snapshot
    const repo = fleet.openRepository(SITE);
    const stored = async (): Promise<number> => (await repo.stats({ measure: 'stored' })).totalBytes;
    const before = await stored();
    expect((await fleet.cli('retention', 'set', '--site', SITE, '--keep-last', '1')).code).toBe(0);
    const applied = await fleet.cli('retention', 'apply', '--site', SITE, '--yes');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('removed 1 snapshot(s)');
    const left = new Set((await repo.listSnapshots({ tags: [siteTag(SITE)] })).map((s) => parseSnapshotTags(s.tags)?.cutId));
    expect([...left]).toEqual([cuts[0]?.id]);
    const after = await stored();
    console.log(`S3 repository: ${before} bytes stored before retention, ${after} after forget + prune`);
    expect(after).toBeLessThan(before);
    snapshotId = cuts[0]?.id ?? '';
  }, 300_000);

  it('fails verify --read-data on a corrupted pack, naming the snapshot; the stored result says FAILED', async () => {
    const pack = corruptLargestPack(fleet.repositoryDir(SITE));
    console.log(`corrupted ${pack}`);
    const t0 = Date.now();
    const r = await cli(fleet, 'verify', '--site', SITE, '--snapshot', snapshotId, '--read-data');
    console.log(`verify --read-data: ${Date.now() - t0} ms, exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    expect(r.code).toBe(EXIT_CODES.ILLEGAL_STATE);
    expect(r.stderr).toContain(`snapshot '${snapshotId}' of site '${SITE}': repository check failed`);
    expect(r.stdout + r.stderr).toContain(`hold data of snapshot(s) ${snapshotId}: this snapshot is damaged`);
    const [snap] = await fleet.json<Snap[]>('snapshot', 'list', '--site', SITE);
    expect(snap?.verification?.ok).toBe(false);
    expect(snap?.verification?.readData).toBe(true);
    const table = await fleet.cli('snapshot', 'list', '--site', SITE);
    expect(table.stdout).toMatch(new RegExp(`${snapshotId}.*FAILED`));
    expect(await leftovers(fleet, [verifyJob(r.stdout + r.stderr)])).toEqual([]);
  }, 300_000);
});

