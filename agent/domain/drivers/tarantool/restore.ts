/**
 * Physical restore of one shard (DESIGN.md §6): fetch the checkpoint files from the repository into a
 * staging directory on the shard's filesystem (before anything is stopped), stop the unit and check it
 * is down, move the current memtx/wal/vinyl files aside, place the checkpoint files, start the unit and
 * confirm it recovered exactly the cut's checkpoint (signature and vclock); only then are the moved-aside
 * files deleted. Any failure from the stop on puts the old files back and the unit in its previous
 * state, and the error names the failed step. With `targetDir` the files are only placed there
 * (`<targetDir>/memtx`, `<targetDir>/vinyl`) for a sandbox instance; the live shard is not touched.
 */
import path from 'node:path';
import { CancelledError, IllegalStateError, ValidationError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/logger.js';
import type { ServiceManager } from '../../ports.js';
import type { RestoreContext, RestoreReport, RestoreStepReport } from '../types.js';
import { formatVclock, relocate, sameVclock, snapSignature, type DataDirs } from './checkpoint-files.js';
import { ShardRestoreError } from './errors.js';
import type { AsideSet, ShardAdmin, ShardFiles, ShardInfo, StagedFile } from './ports.js';
import type { TarantoolCut } from './upload.js';

export interface ShardRestoreDeps {
  ref: string;
  unit: string;
  /** The live data directories (the agent's config). `vinyl` undefined: as the running instance says. */
  dirs: { memtx: string; wal: string; vinyl: string | undefined };
  admin: ShardAdmin;
  files: ShardFiles;
  services: ServiceManager;
  startTimeoutMs: number;
}

interface Plan {
  cut: TarantoolCut;
  snapshotId: string;
  backedUp: DataDirs;
}

/** Records every step as it runs and reports it. */
class Steps {
  readonly report: RestoreReport;
  failedStep: string | undefined;

  constructor(
    component: string,
    private readonly log: Logger,
    private readonly ctx: Pick<RestoreContext, 'onProgress' | 'signal'>,
  ) {
    this.report = { component, steps: [] };
  }

  /** Runs `fn` as `step`; a cancelled restore fails at the next step (rollback steps still run). */
  async run<T>(step: string, fn: () => Promise<T>, describe?: (value: T) => string): Promise<T> {
    const started = Date.now();
    this.ctx.onProgress?.({ component: this.report.component, step, message: 'started' });
    try {
      if (this.ctx.signal?.aborted && !step.startsWith('rollback:')) {
        throw new CancelledError(`restore of ${this.report.component} was cancelled before step '${step}'`);
      }
      const value = await fn();
      this.record({ step, ok: true, durationMs: Date.now() - started, ...(describe ? { detail: describe(value) } : {}) });
      return value;
    } catch (err) {
      this.failedStep ??= step;
      this.record({ step, ok: false, durationMs: Date.now() - started, detail: err instanceof Error ? err.message : String(err) });
      throw err;
    }
  }

  private record(r: RestoreStepReport): void {
    this.report.steps.push(r);
    if (r.ok) this.log.info({ step: r.step, ms: r.durationMs, detail: r.detail }, `restore step ${r.step} done`);
    else this.log.error({ step: r.step, ms: r.durationMs, detail: r.detail }, `restore step ${r.step} failed`);
    this.ctx.onProgress?.({ component: this.report.component, step: r.step, message: r.ok ? `done${r.detail ? `: ${r.detail}` : ''}` : `failed: ${r.detail ?? ''}` });
  }
}

/** Restores the artifact onto the live shard (or into `ctx.targetDir`). Throws `ShardRestoreError`. */
export async function restoreShard(deps: ShardRestoreDeps, ctx: RestoreContext): Promise<RestoreReport> {
  const log = ctx.logger.child({ component: deps.ref, jobId: ctx.jobId });
  const steps = new Steps(deps.ref, log, ctx);
  const label = ctx.jobId.replace(/[^A-Za-z0-9_-]/g, '_');
  let staging: string | undefined;
  const state: LiveState = { wasActive: false, before: undefined, aside: undefined };
  try {
    const plan = await steps.run('check-artifact', async () => checkArtifact(deps.ref, ctx), (p) => `checkpoint ${p.cut.signature}`);
    if (ctx.targetDir !== undefined) {
      const to = { memtx: path.join(ctx.targetDir, 'memtx'), vinyl: path.join(ctx.targetDir, 'vinyl') };
      await fetchAndPlace(steps, deps, ctx, plan, to, label);
      return steps.report;
    }
    await steps.run('inspect', () => inspect(deps, state), (st) => `${deps.unit} ${st.wasActive ? 'active' : 'inactive'}, ` +
      (st.before ? `signature ${st.before.signature}` : 'shard not answering'));
    const live = { memtx: deps.dirs.memtx, vinyl: deps.dirs.vinyl ?? state.before?.dirs.vinyl ?? plan.backedUp.vinyl };
    const fetched = await fetch(steps, deps, ctx, plan, live, label);
    staging = fetched.staging;
    await runLive(steps, deps, plan, fetched.files, { live, label, state });
    return steps.report;
  } catch (err) {
    const step = steps.failedStep ?? 'restore';
    const rollback = ctx.targetDir !== undefined ? 'the live shard was not touched' : await rollBack(steps, deps, state, step);
    throw new ShardRestoreError({ component: deps.ref, step, cause: err, report: steps.report, rollback });
  } finally {
    if (staging !== undefined) await deps.files.removeDir(staging).catch((err: unknown) => log.warn({ err, staging }, 'staging directory not removed'));
  }
}

interface LiveState {
  wasActive: boolean;
  before: ShardInfo | undefined;
  aside: AsideSet | undefined;
}

async function runLive(steps: Steps, deps: ShardRestoreDeps, plan: Plan, files: StagedFile[], o: { live: DataDirs; label: string; state: LiveState }): Promise<void> {
  await steps.run('stop-unit', () => stopUnit(deps), () => `${deps.unit} stopped`);
  const dirs = [deps.dirs.memtx, deps.dirs.wal, o.live.vinyl];
  o.state.aside = await steps.run('move-aside', () => deps.files.moveAside(dirs, o.label), (a) => asideSummary(a));
  await steps.run('place', () => deps.files.place(files), () => `${files.length} file(s)`);
  await steps.run('start-unit', () => deps.services.start(deps.unit), () => `${deps.unit} started`);
  await steps.run('confirm-vclock', () => confirmCheckpoint(deps, plan.cut), (info) => `signature ${info.signature}, vclock ${formatVclock(info.vclock)}`);
  const aside = o.state.aside;
  o.state.aside = undefined;
  // The restore is confirmed: a failure to delete the old files is reported, not rolled back.
  await steps.run('discard-aside', () => deps.files.discard(aside)).catch(() => undefined);
}

async function inspect(deps: ShardRestoreDeps, state: LiveState): Promise<LiveState> {
  state.before = await deps.admin.info().catch(() => undefined);
  state.wasActive = await deps.services.isActive(deps.unit);
  return state;
}

function checkArtifact(ref: string, ctx: RestoreContext): Plan {
  const a = ctx.artifact;
  const where = `artifact of ${a.component}`;
  if (a.kind !== 'tarantool' || a.cut.kind !== 'tarantool') throw new ValidationError(`${where} is a ${a.kind} artifact, not a tarantool one`, { field: 'artifact.kind' });
  const snapshotId = a.snapshotIds[0];
  if (snapshotId === undefined || a.snapshotIds.length !== 1) throw new ValidationError(`${where} must name exactly one repository snapshot`, { field: 'artifact.snapshotIds' });
  const memtx = a.details?.memtxDir;
  const vinyl = a.details?.vinylDir;
  if (typeof memtx !== 'string' || typeof vinyl !== 'string') {
    throw new ValidationError(`${where} lacks details.memtxDir/vinylDir (where the files were backed up from)`, { field: 'artifact.details' });
  }
  if (a.component !== ref) ctx.logger.warn({ from: a.component, to: ref }, 'restoring another shard\'s checkpoint');
  return { cut: a.cut, snapshotId, backedUp: { memtx, vinyl } };
}

/** Restores the snapshot into a staging dir next to the memtx dir and maps every file to its place. */
async function fetch(steps: Steps, deps: ShardRestoreDeps, ctx: RestoreContext, plan: Plan, to: DataDirs, label: string): Promise<{ staging: string; files: StagedFile[] }> {
  return steps.run(
    'fetch',
    async () => {
      const staging = await deps.files.makeStaging(to.memtx, label);
      try {
        await ctx.repository.restore(
          { snapshotId: plan.snapshotId, targetDir: staging },
          { ...(ctx.signal ? { signal: ctx.signal } : {}), onProgress: (event) => ctx.onProgress?.({ component: deps.ref, step: 'fetch', event }) },
        );
        return { staging, files: mapStaged(staging, await deps.files.listFiles(staging), plan, to) };
      } catch (err) {
        await deps.files.removeDir(staging).catch(() => undefined);
        throw err;
      }
    },
    (r) => `${r.files.length} file(s) from snapshot ${plan.snapshotId.slice(0, 8)}`,
  );
}

async function fetchAndPlace(steps: Steps, deps: ShardRestoreDeps, ctx: RestoreContext, plan: Plan, to: DataDirs, label: string): Promise<void> {
  const { staging, files } = await fetch(steps, deps, ctx, plan, to, label);
  try {
    await steps.run('place', () => deps.files.place(files), () => `${files.length} file(s) into ${ctx.targetDir ?? ''}`);
  } finally {
    await deps.files.removeDir(staging);
  }
}

function mapStaged(staging: string, staged: string[], plan: Plan, to: DataDirs): StagedFile[] {
  const out: StagedFile[] = [];
  for (const file of staged) {
    const original = `/${path.relative(staging, file)}`;
    const destination = relocate(original, plan.backedUp, to);
    if (destination === undefined) throw new IllegalStateError(`snapshot ${plan.snapshotId} holds ${original}, outside the backed-up memtx/vinyl directories`);
    out.push({ staged: file, destination });
  }
  const snaps = out.filter((f) => snapSignature(f.destination) !== undefined);
  if (snaps.length !== 1 || snapSignature(snaps[0]?.destination ?? '') !== plan.cut.signature) {
    throw new IllegalStateError(`snapshot ${plan.snapshotId} does not hold exactly the .snap of checkpoint ${plan.cut.signature}`);
  }
  return out;
}

/** Stops the unit and checks it is really down (nothing answers on the shard's port any more). */
async function stopUnit(deps: ShardRestoreDeps): Promise<void> {
  await deps.services.stop(deps.unit);
  if (await deps.services.isActive(deps.unit)) throw new IllegalStateError(`unit ${deps.unit} is still active after stop`);
  if (await deps.admin.answers()) throw new IllegalStateError(`tarantool ${deps.admin.address} still answers after ${deps.unit} stopped`);
  await deps.admin.close();
}

/** The instance runs and recovered the cut's checkpoint: its newest checkpoint is the cut's. */
export async function confirmCheckpoint(deps: Pick<ShardRestoreDeps, 'ref' | 'admin' | 'startTimeoutMs'>, cut: TarantoolCut): Promise<ShardInfo> {
  const info = await deps.admin.waitRunning(deps.startTimeoutMs);
  const { checkpoints } = await deps.admin.checkpoints();
  const recovered = checkpoints[checkpoints.length - 1];
  if (recovered === undefined || recovered.signature !== cut.signature || !sameVclock(recovered.vclock, cut.vclock)) {
    const got = recovered ? `${recovered.signature} (vclock ${formatVclock(recovered.vclock)})` : 'none';
    throw new IllegalStateError(`${deps.ref} recovered checkpoint ${got}, not the cut's ${cut.signature} (vclock ${formatVclock(cut.vclock)})`);
  }
  if (info.signature < cut.signature) throw new IllegalStateError(`${deps.ref} runs at signature ${info.signature}, behind the cut's ${cut.signature}`);
  return info;
}

/** Puts the shard back as it was after a failure at `failed`; returns a summary for the error message. */
async function rollBack(steps: Steps, deps: ShardRestoreDeps, state: LiveState, failed: string): Promise<string> {
  if (['check-artifact', 'inspect', 'fetch', 'restore'].includes(failed)) return 'nothing on the shard was changed';
  try {
    if (state.aside) {
      const aside = state.aside;
      await steps.run('rollback:stop-unit', () => deps.services.stop(deps.unit));
      await steps.run('rollback:put-back', () => deps.files.putBack(aside));
    }
    if (state.wasActive && !(await deps.services.isActive(deps.unit))) {
      await steps.run('rollback:start-unit', () => deps.services.start(deps.unit));
    }
    if (state.wasActive && state.before) {
      const before = state.before;
      await steps.run('rollback:confirm', () => confirmBack(deps, before), (i) => `signature ${i.signature}`);
    }
    return state.aside ? 'previous files put back, shard left as it was' : 'shard left as it was';
  } catch (err) {
    return `ROLLBACK FAILED at '${steps.report.steps.at(-1)?.step ?? 'rollback'}' (${err instanceof Error ? err.message : String(err)}): check ${deps.unit} by hand`;
  }
}

async function confirmBack(deps: ShardRestoreDeps, before: ShardInfo): Promise<ShardInfo> {
  const info = await deps.admin.waitRunning(deps.startTimeoutMs);
  if (info.signature < before.signature) {
    throw new IllegalStateError(`${deps.ref} came back at signature ${info.signature}, behind its ${before.signature} before the restore`);
  }
  return info;
}

function asideSummary(a: AsideSet): string {
  return a.moves.map((m) => `${m.entries.length} entr${m.entries.length === 1 ? 'y' : 'ies'} → ${m.asideDir}`).join('; ');
}
