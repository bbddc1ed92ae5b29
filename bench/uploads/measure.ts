/**
 * The upload-directory throughput engine (issue 7, cases 1, 3 and 4 for uploads). One data set of
 * incompressible files is generated once and used by every case:
 *
 * - backup (case 1): a real agent process snapshots its uploads component into a fresh repository
 *   (Prepare → Upload result), against `restic backup` of the same tree into its own fresh repository
 *   and `tar czf` of it — interleaved, each round in a rotated order;
 * - incremental (case 3): right after each full snapshot, 1% new files are added and a second snapshot
 *   taken (the agent's, and restic's for comparison); the new files are removed again afterwards;
 * - restore (case 4): the last round's agent snapshot restored by the agent's Restore call into an empty
 *   target, against `restic restore` of restic's full snapshot and `tar xzf` of the last tarball; every
 *   restored tree is counted (files, bytes) against the data set.
 *
 * Everything lives in one `ffk-bench-uploads-*` directory, removed (with the agent and NATS stopped)
 * before the engine returns.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { startNats, type TestNats } from '../../test/harness/nats.js';
import { ensureTestPki } from '../../test/harness/pki.js';
import type { TlsFiles } from '../../shared/security/tls-files.js';
import type { NatsConfig } from '../../shared/config/common.js';
import type { BenchEnv } from '../lib/case.js';
import { accessTo, BenchAgent } from '../throughput/agent.js';
import { BENCH_PASSWORD, localPlace, ResticCli, tarCreate, tarExtract, type RepoPlace } from '../throughput/commands.js';
import { restPlace, s3Place, sftpPlace, type PlaceOnServer } from '../throughput/places.js';
import { newSeries, record, rotate, timeInto, type Series } from '../throughput/series.js';
import { addFiles, generateTree, measureTree, removeDir, type TreeSize } from '../throughput/tree.js';
import type { ComponentArtifact } from '../../shared/manifest.js';
import type { TimeSplit } from '../throughput/format.js';

export interface UploadsPlan {
  files: number;
  fileBytes: number;
  /** Files added before each incremental snapshot (1% of `files`). */
  addFiles: number;
  runs: number;
  /** Where the repositories live: local directories (default), or a REST server (`rclone serve restic`, TLS). */
  backend?: 'local' | 'rest' | 'sftp' | 's3';
}

export interface UploadsBenchResult {
  plan: UploadsPlan;
  startedAt: Date;
  durationMs: number;
  aborted: boolean;
  /** The bench's work directory (removed before returning). */
  workDir: string;
  agentPid: number | undefined;
  data: TreeSize;
  generateMs: number;
  backup: { agent: Series; restic: Series; tar: Series };
  /** The agent's Upload call alone (the cut protocol around it left out). */
  agentUploadOnly: Series;
  /** Second snapshots after 1% new files; `bytes` = what the repository reported as added (agent) or the new files' size (restic). */
  incremental: { agent: Series; restic: Series };
  restore: { agent: Series; restic: Series; tar: Series };
  /** Per agent full snapshot: files and bytes the artifact reports. */
  agentArtifacts: Array<{ files: number; bytes: number; dataAddedBytes: number }>;
  /** Each agent snapshot's wall time and restic runs: full snapshots, and the +1% ones. */
  agentSplits: { full: TimeSplit[]; incremental: TimeSplit[] };
  /** The steps of the agent's last restore, as it reported them. */
  agentRestoreSteps: Array<{ step: string; ms: number }>;
  /** `restic cat config` on a peer repository once per round: the fixed cost of a restic run. */
  resticOpen: Series;
  /** 1-minute load average before each round (backup rounds, then restore rounds). */
  loadAverages: number[];
  /** Anything that did not add up (a restored tree with the wrong size, an artifact with the wrong count). */
  problems: string[];
  /** Where the repositories were. */
  backend?: string;
}

const COMPONENT = 'uploads:uploads';
const FULL_TAG = 'bench-full';

interface Ctx {
  plan: UploadsPlan;
  env: BenchEnv;
  dirs: { work: string; data: string; root: string; repos: string; tars: string; restores: string; resticCache: string };
  agent: BenchAgent;
  result: UploadsBenchResult;
  /** What the restore phase restores: the last round's agent artifact, restic repository and tarball. */
  kept: { agentRepo?: ResticCli; agentArtifacts?: ComponentArtifact[]; resticRepo?: ResticCli; tar?: string };
  /** Where the repositories live (local directories, or a storage server: `plan.backend`). */
  place: RepoPlace;
}

/** A bench agent's config: one uploads component over `paths` (the upload benches' agent). */
/** The site and host of the throughput cases' agent (its certificate, NATS user and config). */
export const BENCH_AGENT = { site: 'bench', host: 'files' } as const;

export function agentConfig(o: { nats: NatsConfig; work: string; paths: string[]; tls: TlsFiles }): Record<string, unknown> {
  return {
    site: BENCH_AGENT.site,
    host: BENCH_AGENT.host,
    grpc: { listen: '127.0.0.1:0' },
    tls: o.tls,
    nats: o.nats,
    cacheDir: path.join(o.work, 'cache', 'agent'),
    presence: { heartbeatSeconds: 1, ttlSeconds: 3 },
    log: { level: 'info' },
    metrics: { listen: '127.0.0.1:0' }, // never the default port: other agents may run beside the bench
    components: [{ kind: 'uploads', name: 'uploads', paths: o.paths }],
  };
}

/** Runs the cases; resolves once the agent, NATS and the work directory are gone. */
export async function runUploadsBench(plan: UploadsPlan, env: BenchEnv): Promise<UploadsBenchResult> {
  const startedAt = new Date();
  const work = await mkdtemp(path.join(os.tmpdir(), 'ffk-bench-uploads-'));
  const data = path.join(work, 'data');
  const dirs = { work, data, root: path.join(data, 'uploads'), repos: path.join(work, 'repos'), tars: path.join(work, 'tar'), restores: path.join(work, 'restore'), resticCache: path.join(work, 'cache', 'restic') };
  const result: UploadsBenchResult = {
    plan, startedAt, durationMs: 0, aborted: false, workDir: work, agentPid: undefined, data: { files: 0, bytes: 0 }, generateMs: 0,
    backup: { agent: newSeries('agent', 'ffkeeper agent'), restic: newSeries('restic', 'restic backup'), tar: newSeries('tar', 'tar czf') },
    agentUploadOnly: newSeries('agent-upload', 'ffkeeper agent, Upload call only'),
    incremental: { agent: newSeries('agent-incr', 'ffkeeper agent'), restic: newSeries('restic-incr', 'restic backup') },
    restore: { agent: newSeries('agent-restore', 'ffkeeper agent'), restic: newSeries('restic-restore', 'restic restore'), tar: newSeries('tar-restore', 'tar xzf') },
    agentArtifacts: [], agentSplits: { full: [], incremental: [] }, agentRestoreSteps: [], resticOpen: newSeries('restic-open', 'restic cat config'), loadAverages: [], problems: [],
  };
  let nats: TestNats | undefined;
  let agent: BenchAgent | undefined;
  let remote: PlaceOnServer | undefined;
  try {
    for (const d of [dirs.repos, dirs.tars, dirs.restores, dirs.resticCache]) await mkdir(d, { recursive: true });
    if (plan.backend === 'rest') remote = await restPlace();
    if (plan.backend === 'sftp') remote = await sftpPlace(path.join(work, 'ssh'));
    if (plan.backend === 's3') remote = await s3Place();
    const place = remote?.place ?? localPlace(dirs.repos);
    result.backend = place.label;
    const t0 = Date.now();
    result.data = await generateTree(dirs.root, { files: plan.files, fileBytes: plan.fileBytes });
    result.generateMs = Date.now() - t0;
    env.log(`generated ${result.data.files} files, ${(result.data.bytes / 1e6).toFixed(0)} MB in ${(result.generateMs / 1000).toFixed(1)} s`);
    nats = await startNats();
    const configFile = path.join(work, 'agent.yaml');
    await ensureTestPki();
    const identity = await nats.agent(BENCH_AGENT.site, BENCH_AGENT.host);
    await writeFile(configFile, stringify(agentConfig({ nats: identity.nats, work, paths: [dirs.root], tls: identity.tls })));
    agent = await BenchAgent.start(configFile, BENCH_AGENT.site);
    result.agentPid = agent.pid;
    const ctx: Ctx = { plan, env, dirs, agent, result, kept: {}, place };
    await warmUp(ctx);
    result.aborted = (await backupRounds(ctx)) || (await restoreRounds(ctx));
  } finally {
    await agent?.stop();
    await nats?.stop();
    await remote?.server.stop();
    await rm(work, { recursive: true, force: true });
  }
  result.durationMs = Date.now() - startedAt.getTime();
  return result;
}

function freshRepo(ctx: Ctx, name: string): Promise<ResticCli> {
  return ResticCli.fresh(ctx.place, ctx.dirs.resticCache, name);
}

/** How the agent opens `repo`. */
function accessOf(ctx: Ctx, repo: ResticCli): ReturnType<typeof accessTo> {
  return accessTo(repo.url, BENCH_PASSWORD, ctx.place.access);
}

/** The agent's shield seeds over the whole tree before anything is timed. */
async function warmUp(ctx: Ctx): Promise<void> {
  const repo = await freshRepo(ctx, 'warm-up');
  await ctx.agent.warm([COMPONENT], accessOf(ctx, repo));
  await rm(repo.dir, { recursive: true, force: true });
}

type Variant = 'agent' | 'restic' | 'tar';
const VARIANTS: readonly Variant[] = ['agent', 'restic', 'tar'];

async function backupRounds(ctx: Ctx): Promise<boolean> {
  for (let i = 0; i < ctx.plan.runs; i += 1) {
    const last = i === ctx.plan.runs - 1;
    ctx.result.loadAverages.push(os.loadavg()[0] ?? Number.NaN);
    for (const v of rotate(VARIANTS, i)) {
      if (ctx.env.signal?.aborted) return true;
      if (v === 'agent') await agentBackup(ctx, i, last);
      else if (v === 'restic') await resticBackup(ctx, i, last);
      else await tarBackup(ctx, i, last);
    }
  }
  return false;
}

const seconds = (ms: number | undefined): string => `${((ms ?? Number.NaN) / 1000).toFixed(2)} s`;

async function agentBackup(ctx: Ctx, i: number, last: boolean): Promise<void> {
  const { result, dirs, plan } = ctx;
  const repo = await freshRepo(ctx, `agent-${i}`);
  const access = accessOf(ctx, repo);
  // As the controller drives it: no parent for the first snapshot of a (fresh) repository, then the last one.
  const full = await ctx.agent.snapshot([COMPONENT], access, {});
  record(result.backup.agent, full.totalMs, result.data.bytes);
  record(result.agentUploadOnly, full.uploadMs, result.data.bytes);
  result.agentSplits.full.push({ totalMs: full.totalMs, restic: full.restic });
  const a = full.artifacts[0];
  result.agentArtifacts.push({ files: a?.files ?? 0, bytes: a?.bytes ?? 0, dataAddedBytes: a?.dataAddedBytes ?? 0 });
  if (a?.files !== result.data.files || a.bytes !== result.data.bytes) result.problems.push(`agent full snapshot ${i + 1}: ${a?.files ?? 0} files / ${a?.bytes ?? 0} bytes, expected ${result.data.files} / ${result.data.bytes}`);
  const added = await addFiles(dirs.root, `added-agent-${i}`, { files: plan.addFiles, fileBytes: plan.fileBytes });
  try {
    const parent = full.artifacts[0]?.snapshotIds[0];
    const incr = await ctx.agent.snapshot([COMPONENT], access, parent ? { [COMPONENT]: parent } : {});
    record(result.incremental.agent, incr.totalMs, incr.artifacts[0]?.dataAddedBytes ?? 0);
    result.agentSplits.incremental.push({ totalMs: incr.totalMs, restic: incr.restic });
  } finally {
    await removeDir(added);
  }
  ctx.env.log(`round ${i + 1}: agent full ${seconds(full.totalMs)} (upload ${seconds(full.uploadMs)}, freeze ${full.freezeWindowMs} ms), +1% ${seconds(result.incremental.agent.ms.at(-1))}`);
  if (last) ctx.kept = { ...ctx.kept, agentRepo: repo, agentArtifacts: full.artifacts };
  else await rm(repo.dir, { recursive: true, force: true });
}

async function resticBackup(ctx: Ctx, i: number, last: boolean): Promise<void> {
  const { result, dirs, plan } = ctx;
  const repo = await freshRepo(ctx, `restic-${i}`);
  const excludes = [path.join(dirs.root, '.ffk-*')];
  await timeInto(result.backup.restic, result.data.bytes, () => repo.backup([dirs.root], excludes, [FULL_TAG]));
  await timeInto(result.resticOpen, 1, () => repo.catConfig());
  const added = await addFiles(dirs.root, `added-restic-${i}`, { files: plan.addFiles, fileBytes: plan.fileBytes });
  try {
    await timeInto(result.incremental.restic, plan.addFiles * plan.fileBytes, () => repo.backup([dirs.root], excludes));
  } finally {
    await removeDir(added);
  }
  ctx.env.log(`round ${i + 1}: restic backup ${seconds(result.backup.restic.ms.at(-1))}, +1% ${seconds(result.incremental.restic.ms.at(-1))}`);
  if (last) ctx.kept.resticRepo = repo;
  else await rm(repo.dir, { recursive: true, force: true });
}

async function tarBackup(ctx: Ctx, i: number, last: boolean): Promise<void> {
  const { result, dirs } = ctx;
  const file = path.join(dirs.tars, `uploads-${i}.tar.gz`);
  await timeInto(result.backup.tar, result.data.bytes, () => tarCreate(file, dirs.data, 'uploads', ['uploads/.ffk-*']));
  ctx.env.log(`round ${i + 1}: tar czf ${seconds(result.backup.tar.ms.at(-1))}`);
  if (last) ctx.kept.tar = file;
  else await rm(file, { force: true });
}

async function restoreRounds(ctx: Ctx): Promise<boolean> {
  for (let i = 0; i < ctx.plan.runs; i += 1) {
    ctx.result.loadAverages.push(os.loadavg()[0] ?? Number.NaN);
    for (const v of rotate(VARIANTS, i)) {
      if (ctx.env.signal?.aborted) return true;
      const target = path.join(ctx.dirs.restores, `${v}-${i}`);
      try {
        const restoredRoot = await restoreOne(ctx, v, target);
        await checkRestored(ctx, `${v} restore ${i + 1}`, restoredRoot);
      } finally {
        await rm(target, { recursive: true, force: true });
      }
    }
    const r = ctx.result.restore;
    ctx.env.log(`restore round ${i + 1}: agent ${seconds(r.agent.ms.at(-1))}, restic restore ${seconds(r.restic.ms.at(-1))}, tar xzf ${seconds(r.tar.ms.at(-1))}`);
  }
  return false;
}

/** Where an agent's restore into `target` puts `root`: the path its artifact records for it in the snapshot (`details.roots`). */
function agentRootIn(target: string, artifacts: ComponentArtifact[], root: string): string | undefined {
  for (const a of artifacts) {
    const raw = a.details?.roots;
    if (typeof raw !== 'string') continue;
    const at = (JSON.parse(raw) as Record<string, unknown>)[root];
    if (typeof at === 'string') return path.join(target, at);
  }
  return undefined;
}

/** Restores with variant `v` into `target` (timed); returns where the data root landed. */
async function restoreOne(ctx: Ctx, v: Variant, target: string): Promise<string> {
  const { result, kept, dirs } = ctx;
  const bytes = result.data.bytes;
  const inTarget = path.join(target, path.relative('/', dirs.root));
  if (v === 'agent') {
    if (!kept.agentRepo || !kept.agentArtifacts) throw new Error('restore: no agent snapshot kept');
    const { ms, steps } = await ctx.agent.restore(kept.agentArtifacts, accessOf(ctx, kept.agentRepo), target);
    record(result.restore.agent, ms, bytes);
    result.agentRestoreSteps = steps.map((s) => ({ step: s.step, ms: s.durationMs }));
    return agentRootIn(target, kept.agentArtifacts, dirs.root) ?? inTarget;
  }
  if (v === 'restic') {
    if (!kept.resticRepo) throw new Error('restore: no restic repository kept');
    const repo = kept.resticRepo;
    await timeInto(result.restore.restic, bytes, () => repo.restore(target, FULL_TAG));
    return inTarget;
  }
  if (!kept.tar) throw new Error('restore: no tarball kept');
  const tar = kept.tar;
  await mkdir(target, { recursive: true });
  await timeInto(result.restore.tar, bytes, () => tarExtract(tar, target));
  return path.join(target, 'uploads');
}

async function checkRestored(ctx: Ctx, what: string, root: string): Promise<void> {
  const got = await measureTree(root).catch(() => ({ files: 0, bytes: 0 }));
  const want = ctx.result.data;
  if (got.files !== want.files || got.bytes !== want.bytes) ctx.result.problems.push(`${what}: ${got.files} files / ${got.bytes} bytes restored, expected ${want.files} / ${want.bytes}`);
}
