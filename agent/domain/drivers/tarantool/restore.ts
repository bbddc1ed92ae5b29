/**
 * Physical restore of one shard (DESIGN.md §6), in two phases. Stage (`stageShard`, the shard running):
 * fetch the checkpoint files from the repository into a staging directory on the shard's filesystem and
 * check the `.snap` is the cut's. Switch: stop the unit and check it is down, move the current
 * memtx/wal/vinyl files aside, place the checkpoint files, start the unit and confirm it recovered exactly
 * the cut's checkpoint (signature and vclock). Finish deletes the moved-aside files; rollback (after a
 * switch) puts them back. `restoreShard` runs the phases in one call. Any failure from the stop on puts the old files back and the unit in its previous
 * state, and the error names the failed step. With `targetDir` the files are only placed there
 * (`<targetDir>/memtx`, `<targetDir>/vinyl`) for a sandbox instance; the live shard is not touched.
 */
import path from 'node:path';
import { CancelledError, IllegalStateError, ValidationError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/logger.js';
import type { ServiceManager } from '../../ports.js';
import type { PhaseContext, RestoreContext, RestoreReport, RestoreStepReport, StagedComponent, StagedJournal } from '../types.js';
import { formatVclock, relocate, sameVclock, snapSignature, type DataDirs } from './checkpoint-files.js';
import { switchAndFinish } from '../phases.js';
import { checkStagingSpace } from '../space.js';
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
  if (ctx.targetDir === undefined) return restoreLive(deps, ctx);
  const log = ctx.logger.child({ component: deps.ref, jobId: ctx.jobId });
  const steps = new Steps(deps.ref, log, ctx);
  try {
    const plan = await steps.run('check-artifact', async () => checkArtifact(deps.ref, ctx), (p) => `checkpoint ${p.cut.signature}`);
    const to = { memtx: path.join(ctx.targetDir, 'memtx'), vinyl: path.join(ctx.targetDir, 'vinyl') };
    await fetchAndPlace(steps, deps, ctx, plan, to, labelOf(ctx.jobId));
    return steps.report;
  } catch (err) {
    throw new ShardRestoreError({ component: deps.ref, step: steps.failedStep ?? 'restore', cause: err, report: steps.report, rollback: 'the live shard was not touched' });
  }
}

/** In one call: stage, switch, finish (the one-call form of the two phases). */
async function restoreLive(deps: ShardRestoreDeps, ctx: RestoreContext): Promise<RestoreReport> {
  const staged = await stageShard(deps, ctx);
  return switchAndFinish(staged, ctx, (err) => (err instanceof ShardRestoreError ? err.after(staged.report) : err));
}

const labelOf = (jobId: string): string => jobId.replace(/[^A-Za-z0-9_-]/g, '_');

/**
 * The stage of a two-phase restore: the artifact checked and its checkpoint files fetched into a staging
 * directory beside the live memtx directory (same filesystem: the switch moves them by rename). The
 * running shard is not touched. Throws `ShardRestoreError`.
 */
export async function stageShard(deps: ShardRestoreDeps, ctx: RestoreContext): Promise<StagedComponent> {
  if (ctx.targetDir !== undefined) throw new ValidationError(`${deps.ref}: a staged restore goes into place, not into a target directory`, { field: 'targetDir' });
  const log = ctx.logger.child({ component: deps.ref, jobId: ctx.jobId });
  const steps = new Steps(deps.ref, log, ctx);
  try {
    const plan = await steps.run('check-artifact', async () => checkArtifact(deps.ref, ctx), (p) => `checkpoint ${p.cut.signature}`);
    // The unit's state and signature, for a rollback after the switch: read now, while the writers run,
    // so that the switch (writers stopped) does not wait for it.
    const seen: LiveState = { wasActive: false, before: undefined, aside: undefined };
    await steps.run('inspect', () => inspect(deps, seen), (st) => `${deps.unit} ${st.wasActive ? 'active' : 'inactive'}, ` +
      (st.before ? `signature ${st.before.signature}` : 'shard not answering'));
    const live = { memtx: deps.dirs.memtx, vinyl: deps.dirs.vinyl ?? seen.before?.dirs.vinyl ?? plan.backedUp.vinyl };
    await steps.run('check-space', async () =>
      checkStagingSpace({ ref: deps.ref, dir: live.memtx, need: ctx.artifact.bytes, free: await deps.files.freeBytes(live.memtx) }), (v) => v);
    const fetched = await fetch(steps, deps, ctx, plan, live, labelOf(ctx.jobId));
    return new StagedShard(deps, plan, live, fetched, steps.report, seen);
  } catch (err) {
    throw new ShardRestoreError({ component: deps.ref, step: steps.failedStep ?? 'stage', cause: err, report: steps.report, rollback: 'nothing on the shard was changed' });
  }
}

/** What a staged shard keeps in the agent's restore journal. */
interface ShardJournal {
  plan: Plan;
  live: DataDirs;
  fetched: { staging: string; files: StagedFile[] };
  wasActive: boolean;
  before?: ShardInfo;
}

/**
 * Rebuilds a staged shard from its journal after an agent restart. Its rollback reads how far an
 * interrupted switch got from the disk: no aside directories → nothing was moved (the unit is only started
 * again if it ran); aside directories and every staged file still in the staging → the move aside was
 * under way, so only the moved files go back; a staged file gone from the staging → the placing had begun
 * (so the move aside had ended): the placed files are removed and the moved ones put back.
 */
export function recoverStagedShard(deps: ShardRestoreDeps, journal: StagedJournal): StagedComponent {
  const j = journal as Partial<ShardJournal>;
  const files = j.fetched?.files;
  if (!j.plan?.cut || !j.live?.memtx || typeof j.fetched?.staging !== 'string' || !Array.isArray(files) || typeof j.wasActive !== 'boolean') {
    throw new ValidationError(`${deps.ref}: its restore journal lacks the plan, the live directories, the staged files or the unit's state`, { field: 'journal' });
  }
  const seen: LiveState = { wasActive: j.wasActive, before: j.before, aside: undefined };
  return new StagedShard(deps, j.plan, j.live, { staging: j.fetched.staging, files }, { component: deps.ref, steps: [] }, seen, true);
}

/** A shard's checkpoint files staged beside it, waiting for the switch. */
class StagedShard implements StagedComponent {
  readonly ref: string;
  private state: LiveState | undefined;

  constructor(
    private readonly deps: ShardRestoreDeps,
    private readonly plan: Plan,
    private readonly live: DataDirs,
    private readonly fetched: { staging: string; files: StagedFile[] },
    readonly report: RestoreReport,
    /** What the stage saw of the unit (active, signature): what a rollback brings back. */
    private readonly seen: LiveState,
    /** Rebuilt from the journal after an agent restart: a rollback reads from the disk what the switch did. */
    private readonly recovered = false,
  ) {
    this.ref = deps.ref;
  }

  journal(): StagedJournal {
    const j: ShardJournal = { plan: this.plan, live: this.live, fetched: this.fetched, wasActive: this.seen.wasActive, ...(this.seen.before ? { before: this.seen.before } : {}) };
    return { ...j };
  }

  private get dataDirs(): string[] {
    return [this.deps.dirs.memtx, this.deps.dirs.wal, this.live.vinyl];
  }

  /** After an agent restart: what the interrupted switch moved aside, and whether it had begun placing. */
  private async stateFromDisk(steps: Steps, ctx: PhaseContext): Promise<LiveState & { placeBegan: boolean }> {
    const { files } = this.deps;
    return steps.run('rollback:find-aside', async () => {
      const aside = await files.findAside(this.dataDirs, labelOf(ctx.jobId));
      const staged = this.fetched.files.map((f) => f.staged);
      const placeBegan = aside !== undefined && (await files.countExisting(staged)) < staged.length;
      return { ...this.seen, aside, placeBegan };
    }, (s) => (s.aside ? `${asideSummary(s.aside)}${s.placeBegan ? '; placing had begun' : '; nothing placed yet'}` : 'nothing was moved aside'));
  }

  private steps(ctx: PhaseContext): Steps {
    return new Steps(this.ref, ctx.logger.child({ component: this.ref, jobId: ctx.jobId }), ctx);
  }

  /** Stop, move the live files aside, place the staged ones, start, confirm the cut's checkpoint; a failure puts the shard back. */
  async switchIn(ctx: PhaseContext): Promise<RestoreReport> {
    const { deps } = this;
    const steps = this.steps(ctx);
    const state: LiveState = { ...this.seen, aside: undefined };
    try {
      await runLive(steps, deps, this.plan, this.fetched.files, { live: this.live, label: labelOf(ctx.jobId), state });
    } catch (err) {
      const step = steps.failedStep ?? 'switch';
      throw new ShardRestoreError({ component: this.ref, step, cause: err, report: steps.report, rollback: await rollBack(steps, deps, state, step) });
    }
    this.state = state;
    return steps.report;
  }

  /** The previous files back, the unit as it was before the switch; the staging removed. */
  async rollBack(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = this.steps(ctx);
    let state = this.state;
    let removeLive = true;
    if (state === undefined && this.recovered) {
      const found = await this.stateFromDisk(steps, ctx).catch((err: unknown) => {
        throw new ShardRestoreError({ component: this.ref, step: 'rollback:find-aside', cause: err, report: steps.report, rollback: 'nothing was put back: check by hand' });
      });
      state = found;
      removeLive = found.placeBegan;
    } else if (state?.aside === undefined) throw new IllegalStateError(`${this.ref} was not switched in: there is nothing to roll back`);
    const outcome = await rollBack(steps, this.deps, state, 'switch', removeLive);
    if (outcome.startsWith('ROLLBACK FAILED')) {
      throw new ShardRestoreError({ component: this.ref, step: 'rollback', cause: new IllegalStateError(outcome), report: steps.report, rollback: outcome });
    }
    this.state = undefined;
    await this.removeStaging(steps);
    return steps.report;
  }

  /** Deletes the moved-aside files and the staging; a failure is reported, never thrown (the restore is confirmed). */
  async finish(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = this.steps(ctx);
    const aside = this.state?.aside ?? (this.recovered ? await this.deps.files.findAside(this.dataDirs, labelOf(ctx.jobId)) : undefined);
    this.state = undefined;
    if (aside) await steps.run('discard-aside', () => this.deps.files.discard(aside), () => asideSummary(aside)).catch(() => undefined);
    await this.removeStaging(steps).catch(() => undefined);
    return steps.report;
  }

  async discard(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = this.steps(ctx);
    await this.removeStaging(steps);
    return steps.report;
  }

  private async removeStaging(steps: Steps): Promise<void> {
    await steps.run('remove-staging', () => this.deps.files.removeDir(this.fetched.staging), () => this.fetched.staging);
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
        // The manifest's counts are the progress totals: one repository run, nothing listed first.
        await ctx.repository.restore(
          { snapshotId: plan.snapshotId, targetDir: staging, expected: { files: ctx.artifact.files, bytes: ctx.artifact.bytes } },
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

/**
 * Stops the unit and checks it is really down: nothing answers on the shard's port any more (`systemctl
 * stop` returns once the unit is stopped; asking systemd again would only cost the switch time).
 */
async function stopUnit(deps: ShardRestoreDeps): Promise<void> {
  await deps.services.stop(deps.unit);
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
async function rollBack(steps: Steps, deps: ShardRestoreDeps, state: LiveState, failed: string, removeLive = true): Promise<string> {
  if (['check-artifact', 'inspect', 'fetch', 'restore'].includes(failed)) return 'nothing on the shard was changed';
  try {
    if (state.aside) {
      const aside = state.aside;
      await steps.run('rollback:stop-unit', () => deps.services.stop(deps.unit));
      await steps.run('rollback:put-back', () => deps.files.putBack(aside, { removeLive }));
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
