/**
 * The PostgreSQL throughput engine (issue 7, case 2 and case 4 for PostgreSQL). A dev site (real
 * PostgreSQL database, its pgbouncer, the systemctl/findface-security shims) with its database grown
 * in SQL, and the site's own `db` agent as a real process:
 *
 * - backup (case 2): the agent's snapshot of its postgres component (Prepare → Upload result: pgbouncer
 *   PAUSE, exported snapshot, `pg_dump --format=plain` streamed into a fresh restic repository) against
 *   `pg_dump > file` (FindFace's documented backup, same format) and `pg_dump | restic backup --stdin`;
 * - restore (case 4): the agent's Restore of the last snapshot (FindFace's documented sequence on the
 *   site: stop units, drop, create, load from the repository, migrate, start units) against
 *   `createdb` + `psql -f file` and `createdb` + `restic dump | psql` into a scratch database; every
 *   restored database is counted against the rows at the backup.
 *
 * Rounds are interleaved, each in a rotated order. Everything lives in one `ffk-bench-pg-*` directory;
 * the site is brought down, scratch databases dropped, the agent and NATS stopped before returning.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { downSite, stopWriter, upSite, type SiteState } from '../../deploy/dev-site/index.js';
import { createDatabase, dropDatabase, type PgTarget } from '../../deploy/dev-site/schema.js';
import { IllegalStateError } from '../../shared/errors.js';
import type { ComponentArtifact } from '../../shared/manifest.js';
import type { TimeSplit } from '../throughput/format.js';
import { uniqueSite } from '../../test/devsite/fixtures.js';
import { startNats, type TestNats } from '../../test/harness/nats.js';
import type { BenchEnv } from '../lib/case.js';
import { accessTo, BenchAgent } from '../throughput/agent.js';
import { BENCH_PASSWORD, localPlace, ResticCli, run, runToFile, type RepoPlace } from '../throughput/commands.js';
import { restPlace, s3Place, sftpPlace, type PlaceOnServer } from '../throughput/places.js';
import { newSeries, record, rotate, timeInto, type Series } from '../throughput/series.js';
import { countRows, databaseBytes, growDatabase, type RowCounts } from './rows.js';
import { ensureTestPki } from '../../test/harness/pki.js';

export interface PostgresPlan {
  /** Loaded by the dev site's own loader (rows with gallery records and files). */
  site: { dossiers: number; events: number };
  /** Added in SQL on top. */
  grow: { dossiers: number; events: number };
  runs: number;
  /** Where the repositories live: local directories (default), or a REST server (`rclone serve restic`, TLS). */
  backend?: 'local' | 'rest' | 'sftp' | 's3';
}

export interface PostgresBenchResult {
  plan: PostgresPlan;
  startedAt: Date;
  durationMs: number;
  aborted: boolean;
  workDir: string;
  site: string;
  database: string;
  scratchDatabases: string[];
  agentPid: number | undefined;
  rows: RowCounts;
  databaseBytes: number;
  dumpBytes: number;
  backup: { agent: Series; pgDump: Series; resticStdin: Series };
  restore: { agent: Series; psql: Series; resticDump: Series };
  /** Each agent snapshot's wall time and restic runs. */
  agentSplits: TimeSplit[];
  /** The steps of the agent's last restore, as it reported them. */
  agentRestoreSteps: Array<{ step: string; ms: number }>;
  /** `restic cat config` on a peer repository once per round: the fixed cost of a restic run. */
  resticOpen: Series;
  /** 1-minute load average before each round. */
  loadAverages: number[];
  problems: string[];
  /** Where the repositories were. */
  backend?: string;
}

const COMPONENT = 'postgres:ffsecurity';

interface Ctx {
  plan: PostgresPlan;
  env: BenchEnv;
  state: SiteState;
  dirs: { work: string; repos: string; dumps: string; cache: string };
  agent: BenchAgent;
  result: PostgresBenchResult;
  kept: { agentRepo?: ResticCli; artifacts?: ComponentArtifact[]; resticRepo?: ResticCli; dump?: string };
  /** Where the repositories live (local directories, or a storage server: `plan.backend`). */
  place: RepoPlace;
}

/** Runs the cases; resolves once the site, scratch databases, agent, NATS and work directory are gone. */
export async function runPostgresBench(plan: PostgresPlan, env: BenchEnv): Promise<PostgresBenchResult> {
  const startedAt = new Date();
  const work = await mkdtemp(path.join(os.tmpdir(), 'ffk-bench-pg-'));
  await chmod(work, 0o755); // pgbouncer runs as postgres and must reach the site directory
  const dirs = { work, repos: path.join(work, 'repos'), dumps: path.join(work, 'dumps'), cache: path.join(work, 'cache') };
  const siteRoot = path.join(work, 'sites');
  const site = uniqueSite('pgb');
  const result: PostgresBenchResult = {
    plan, startedAt, durationMs: 0, aborted: false, workDir: work, site, database: '', scratchDatabases: [], agentPid: undefined,
    rows: { dossiers: 0, faces: 0, events: 0 }, databaseBytes: 0, dumpBytes: 0,
    backup: { agent: newSeries('agent', 'ffkeeper agent'), pgDump: newSeries('pg_dump', 'pg_dump > file'), resticStdin: newSeries('restic-stdin', 'pg_dump | restic backup --stdin') },
    restore: { agent: newSeries('agent-restore', 'ffkeeper agent'), psql: newSeries('psql', 'createdb + psql -f file'), resticDump: newSeries('restic-dump', 'createdb + restic dump | psql') },
    agentSplits: [], agentRestoreSteps: [], resticOpen: newSeries('restic-open', 'restic cat config'), loadAverages: [], problems: [],
  };
  let nats: TestNats | undefined;
  let agent: BenchAgent | undefined;
  let state: SiteState | undefined;
  let remote: PlaceOnServer | undefined;
  try {
    for (const d of [dirs.repos, dirs.dumps, dirs.cache, siteRoot]) await mkdir(d, { recursive: true });
    if (plan.backend === 'rest') remote = await restPlace();
    if (plan.backend === 'sftp') remote = await sftpPlace(path.join(work, 'ssh'));
    if (plan.backend === 's3') remote = await s3Place();
    const place = remote?.place ?? localPlace(dirs.repos);
    result.backend = place.label;
    await chmod(siteRoot, 0o755);
    nats = await startNats();
    state = await bringUp({ plan, env, site, siteRoot, nats, result });
    agent = await BenchAgent.start(await dbAgentConfig(state, work), site);
    result.agentPid = agent.pid;
    const ctx: Ctx = { plan, env, state, dirs, agent, result, kept: {}, place };
    await warmUp(ctx);
    result.aborted = (await backupRounds(ctx)) || (await restoreRounds(ctx));
  } finally {
    if (state) await stopWriter(state).catch(() => undefined);
    await agent?.stop();
    await downSite(site, siteRoot).catch((err: unknown) => result.problems.push(`dev site down: ${String(err)}`));
    if (state) for (const db of result.scratchDatabases) await dropDatabase(scratchTarget(state, db)).catch(() => undefined);
    await nats?.stop();
    await remote?.server.stop();
    await rm(work, { recursive: true, force: true });
  }
  result.durationMs = Date.now() - startedAt.getTime();
  return result;
}

/**
 * The site's own `db` agent config, with a `systemctl` in front of the site's shim that holds the app's
 * start at the end of a restore (the dev site's app is its writer, which would change the rows before
 * they are counted, and the peers start no app either); every other unit command goes to the shim.
 */
async function dbAgentConfig(state: SiteState, work: string): Promise<string> {
  const file = state.agentConfigs.db;
  if (!file) throw new IllegalStateError(`dev site '${state.site}' wrote no agent config for host 'db'`);
  const bin = path.join(work, 'bin');
  await mkdir(bin, { recursive: true });
  const wrapper = path.join(bin, 'systemctl');
  await writeFile(wrapper, `#!/bin/sh\nif [ "$1" = start ] && [ "$2" = findface-security ]; then exit 0; fi\nexec ${path.join(state.binDir, 'systemctl')} "$@"\n`);
  await chmod(wrapper, 0o755);
  const config = parse(await readFile(file, 'utf8')) as { pathPrepend?: string[] };
  const out = path.join(work, 'db-agent.yaml');
  await writeFile(out, stringify({ ...config, pathPrepend: [bin, ...(config.pathPrepend ?? [])] }));
  return out;
}

async function bringUp(o: { plan: PostgresPlan; env: BenchEnv; site: string; siteRoot: string; nats: TestNats; result: PostgresBenchResult }): Promise<SiteState> {
  const { plan, env, result } = o;
  const t0 = Date.now();
  const { state } = await upSite({ site: o.site, root: o.siteRoot, shards: 1, vectorDim: 64, ...plan.site, nats: [o.nats.url], pkiDir: await ensureTestPki(), natsRegistry: o.nats.registry });
  result.database = state.postgres.database;
  await growDatabase(state, plan.grow);
  result.rows = await countRows(state);
  result.databaseBytes = await databaseBytes(state);
  const r = result.rows;
  env.log(`dev site ${o.site} up with ${r.dossiers} dossiers, ${r.faces} faces, ${r.events} events (${(result.databaseBytes / 1e6).toFixed(0)} MB on disk) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return state;
}

function pgArgs(state: SiteState, database: string): string[] {
  return ['-h', state.postgres.host, '-p', String(state.postgres.port), '-U', state.postgres.superuser, '--no-password', '-d', database];
}

function scratchTarget(state: SiteState, database: string): PgTarget {
  return { ...state.postgres, database };
}

function freshRepo(ctx: Ctx, name: string): Promise<ResticCli> {
  return ResticCli.fresh(ctx.place, ctx.dirs.cache, name);
}

/** How the agent opens `repo`. */
function accessOf(ctx: Ctx, repo: ResticCli): ReturnType<typeof accessTo> {
  return accessTo(repo.url, BENCH_PASSWORD, ctx.place.access);
}

/** The driver opens, and one untimed `pg_dump > file` gives the dump size and warms the page cache for everyone. */
async function warmUp(ctx: Ctx): Promise<void> {
  const repo = await freshRepo(ctx, 'warm-up');
  await ctx.agent.warm([COMPONENT], accessOf(ctx, repo));
  await rm(repo.dir, { recursive: true, force: true });
  const file = path.join(ctx.dirs.dumps, 'warm-up.sql');
  await runToFile('pg_dump', ['--format=plain', ...pgArgs(ctx.state, ctx.state.postgres.database)], file);
  ctx.result.dumpBytes = (await stat(file)).size;
  await rm(file, { force: true });
  ctx.env.log(`plain dump: ${(ctx.result.dumpBytes / 1e6).toFixed(1)} MB`);
}

type BackupVariant = 'agent' | 'pg_dump' | 'restic';

const seconds = (ms: number | undefined): string => `${((ms ?? Number.NaN) / 1000).toFixed(2)} s`;

async function backupRounds(ctx: Ctx): Promise<boolean> {
  const { result, state, dirs } = ctx;
  const db = state.postgres.database;
  for (let i = 0; i < ctx.plan.runs; i += 1) {
    const last = i === ctx.plan.runs - 1;
    result.loadAverages.push(os.loadavg()[0] ?? Number.NaN);
    for (const v of rotate<BackupVariant>(['agent', 'pg_dump', 'restic'], i)) {
      if (ctx.env.signal?.aborted) return true;
      if (v === 'agent') {
        const repo = await freshRepo(ctx, `agent-${i}`);
        const snap = await ctx.agent.snapshot([COMPONENT], accessOf(ctx, repo), {}); // a fresh repository: the controller sends no parent
        record(result.backup.agent, snap.totalMs, snap.artifacts[0]?.bytes ?? 0);
        result.agentSplits.push({ totalMs: snap.totalMs, restic: snap.restic });
        if (last) ctx.kept = { ...ctx.kept, agentRepo: repo, artifacts: snap.artifacts };
        else await rm(repo.dir, { recursive: true, force: true });
      } else if (v === 'pg_dump') {
        const file = path.join(dirs.dumps, `dump-${i}.sql`);
        await timeInto(result.backup.pgDump, result.dumpBytes, () => runToFile('pg_dump', ['--format=plain', ...pgArgs(state, db)], file));
        if (last) ctx.kept.dump = file;
        else await rm(file, { force: true });
      } else {
        const repo = await freshRepo(ctx, `restic-${i}`);
        await timeInto(result.backup.resticStdin, result.dumpBytes, () => repo.backupFrom('pg_dump', ['--format=plain', ...pgArgs(state, db)], `${db}.sql`));
        await timeInto(result.resticOpen, 1, () => repo.catConfig());
        if (last) ctx.kept.resticRepo = repo;
        else await rm(repo.dir, { recursive: true, force: true });
      }
    }
    const b = result.backup;
    ctx.env.log(`round ${i + 1}: agent ${seconds(b.agent.ms.at(-1))}, pg_dump > file ${seconds(b.pgDump.ms.at(-1))}, pg_dump | restic ${seconds(b.resticStdin.ms.at(-1))}`);
  }
  return false;
}

type RestoreVariant = 'agent' | 'psql' | 'restic';

async function restoreRounds(ctx: Ctx): Promise<boolean> {
  const { result } = ctx;
  for (let i = 0; i < ctx.plan.runs; i += 1) {
    result.loadAverages.push(os.loadavg()[0] ?? Number.NaN);
    for (const v of rotate<RestoreVariant>(['agent', 'psql', 'restic'], i)) {
      if (ctx.env.signal?.aborted) return true;
      if (v === 'agent') await agentRestore(ctx, i);
      else await scratchRestore(ctx, v, i);
    }
    const r = result.restore;
    ctx.env.log(`restore round ${i + 1}: agent ${seconds(r.agent.ms.at(-1))}, psql -f ${seconds(r.psql.ms.at(-1))}, restic dump | psql ${seconds(r.resticDump.ms.at(-1))}`);
  }
  return false;
}

async function checkRows(ctx: Ctx, what: string, database: string): Promise<void> {
  const got = await countRows(ctx.state, database);
  const want = ctx.result.rows;
  if (got.dossiers !== want.dossiers || got.faces !== want.faces || got.events !== want.events) {
    ctx.result.problems.push(`${what}: ${got.dossiers}/${got.faces}/${got.events} dossiers/faces/events, expected ${want.dossiers}/${want.faces}/${want.events}`);
  }
}

/** The site's own restore, in place (the app's start at the end held: see dbAgentConfig). */
async function agentRestore(ctx: Ctx, i: number): Promise<void> {
  const { kept, state } = ctx;
  if (!kept.agentRepo || !kept.artifacts) throw new IllegalStateError('restore: no agent snapshot kept');
  try {
    const { ms, steps } = await ctx.agent.restore(kept.artifacts, accessOf(ctx, kept.agentRepo));
    record(ctx.result.restore.agent, ms, ctx.result.dumpBytes);
    ctx.result.agentRestoreSteps = steps.map((s) => ({ step: s.step, ms: s.durationMs }));
  } finally {
    await stopWriter(state).catch(() => undefined);
  }
  await checkRows(ctx, `agent restore ${i + 1}`, state.postgres.database);
}

/** createdb + load into a scratch database (timed), counted, dropped. */
async function scratchRestore(ctx: Ctx, v: 'psql' | 'restic', i: number): Promise<void> {
  const { kept, state, result } = ctx;
  const db = `${state.postgres.database}_r${i}_${v}`;
  result.scratchDatabases.push(db);
  const target = scratchTarget(state, db);
  const psql = ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', ...pgArgs(state, db)];
  try {
    if (v === 'psql') {
      const dump = kept.dump;
      if (!dump) throw new IllegalStateError('restore: no dump file kept');
      await timeInto(result.restore.psql, result.dumpBytes, async () => {
        await createDatabase(target);
        await run('psql', [...psql, '-f', dump]);
      });
    } else {
      if (!kept.resticRepo) throw new IllegalStateError('restore: no restic repository kept');
      const repo = kept.resticRepo;
      await timeInto(result.restore.resticDump, result.dumpBytes, async () => {
        await createDatabase(target);
        await repo.dumpInto(`/${state.postgres.database}.sql`, 'psql', psql);
      });
    }
    await checkRows(ctx, `${v} restore ${i + 1}`, db);
  } finally {
    await dropDatabase(target).catch(() => undefined);
  }
}
