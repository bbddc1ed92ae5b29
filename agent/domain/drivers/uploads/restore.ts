/**
 * Restore of upload directories, as checked steps. Nothing is ever written by the repository straight
 * into a live or target directory: each root is first restored into a fresh staging directory, the
 * snapshot's deletion shield is folded back into the live layout (`.ffk-shield/<rel>` → `<rel>` where the
 * snapshot has no `<rel>` of its own, see shield.ts; part of the `stage` step), every staged entry is
 * checked (plain files, directories and symlinks only, with plain names; a symlink whose target leaves
 * its root — see entry-check.ts — is kept as the symlink it is and reported as a warning: placing is
 * renames, so nothing is ever written through it), and only then moved into place by renames.
 *
 * Into place (no `targetDir`): `stage` (every root in one repository run, see `stageRoots`), per root
 * `check`, then per root `swap`: the root's current entries move into `<root>/.ffk-aside-<jobId>` and
 * the staged ones into the root, so the root ends up
 * holding exactly the snapshot — files added after the snapshot are gone from it. The previous entries
 * are deleted in `cleanup` once every root is swapped (a restore is preceded by a safety snapshot, which
 * keeps them), or kept aside with `keepAside`. If any step fails, the swaps done so far are undone and
 * the staging directories removed: the roots are left as they were. (A failure of `cleanup` itself comes
 * after every swap: the roots then hold the snapshot, and only leftovers need removing.) When the
 * driver's shield is open, `cleanup` ends with a rescan of it, so that it links the restored files and
 * drops the links of files the restore removed (best effort: a failure is reported, not thrown).
 *
 * Into a target directory: the target must be empty (or absent); each root lands at
 * `<targetDir>/<root's path>`, as the snapshot names it.
 */
import path from 'node:path';
import { ConflictError, ValidationError } from '../../../../shared/errors.js';
import type { RestoreSummary } from '../../../../shared/repository/repository.js';
import type { PhaseContext, RestoreContext, RestoreReport, RestoreStepReport, StagedComponent, StagedJournal } from '../types.js';
import { switchAndFinish } from '../phases.js';
import { checkStagingSpace } from '../space.js';
import { SymlinkChecker, entryProblem } from './entry-check.js';
import { RestoreStepFailedError, UnsafeEntryError } from './errors.js';
import { SHIELD_NAME, asideName, isReservedName, stagingName } from './layout.js';
import type { DeletionShield, RestoreArea, SwapHandle, UploadTree } from './ports.js';
import { isUnder } from './selection.js';

/** What `restoreUploads` needs from the driver. */
export interface UploadsRestoreInput {
  ctx: RestoreContext;
  ref: string;
  /** Configured roots. */
  roots: readonly string[];
  tree: UploadTree;
  area: RestoreArea;
  keepAside: boolean;
  /** The driver's deletion shield, rescanned after a restore into place when it is open. */
  shield?: DeletionShield;
}

/** What a staged restore's switch, rollback and cleanup need from the driver (no repository, no artifact). */
export type UploadsSwitchInput = Pick<UploadsRestoreInput, 'ref' | 'area' | 'keepAside' | 'shield'> & { ctx: Pick<RestoreContext, 'logger'> };

/** Where a run of steps reports to. */
type StepSink = Pick<RestoreContext, 'logger' | 'onProgress'>;

/** Runs steps in order, reports each, and turns the first failure into a `RestoreStepFailedError`. */
class Steps {
  readonly done: RestoreStepReport[] = [];

  constructor(
    private readonly ref: string,
    private readonly sink: StepSink,
  ) {}

  async run<T>(step: string, fn: () => Promise<T>, describe?: (result: T) => string): Promise<T> {
    const { sink, ref } = this;
    const started = Date.now();
    sink.onProgress?.({ component: ref, step, message: 'started' });
    try {
      const result = await fn();
      const detail = describe?.(result);
      this.done.push({ step, ok: true, durationMs: Date.now() - started, ...(detail ? { detail } : {}) });
      sink.onProgress?.({ component: ref, step, message: detail ?? 'done' });
      return result;
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      this.done.push({ step, ok: false, durationMs: Date.now() - started, detail });
      sink.logger.error({ component: ref, step, err }, 'restore step failed');
      throw new RestoreStepFailedError({ component: ref, step, report: this.report(), cause: err });
    }
  }

  report(): RestoreReport {
    return { component: this.ref, steps: [...this.done] };
  }
}

/** Where each configured root was read from at backup time (artifact details), by configured root. */
function snapshotPaths(input: UploadsRestoreInput): Map<string, string> {
  const { artifact } = input.ctx;
  if (artifact.kind !== 'uploads' || artifact.component !== input.ref) {
    throw new ValidationError(`artifact of ${artifact.component} cannot be restored by ${input.ref}`, { field: 'artifact' });
  }
  const raw = artifact.details?.roots;
  let recorded: Record<string, unknown> = {};
  if (typeof raw === 'string') {
    try {
      recorded = JSON.parse(raw) as Record<string, unknown>;
    } catch (err) {
      throw new ValidationError(`artifact of ${input.ref}: details.roots is not JSON`, { field: 'artifact.details.roots', cause: err });
    }
  }
  // Restoring into another site: its roots differ from the snapshot's, so they map by position
  // (the agent config lists uploads/ffupload in the same order on every host).
  const recordedInOrder = Object.values(recorded).filter((v): v is string => typeof v === 'string');
  const byPosition = recordedInOrder.length === input.roots.length;
  return new Map(
    input.roots.map((r, i) => {
      const own = recorded[r];
      if (typeof own === 'string') return [r, own];
      return [r, byPosition ? (recordedInOrder[i] as string) : r];
    }),
  );
}

function snapshotIdOf(input: UploadsRestoreInput): string {
  const id = input.ctx.artifact.snapshotIds[0];
  if (id === undefined) throw new ValidationError(`artifact of ${input.ref} names no snapshot`, { field: 'artifact.snapshotIds' });
  return id;
}

/** What staging produced: the repository's summary and how many shield entries were folded back. */
interface Staged {
  summary: RestoreSummary;
  folded: number;
}

/**
 * Restores `includePaths` into a fresh `staging` in one repository run (the manifest's counts are its
 * progress totals, so nothing is listed first).
 */
function restoreInto(input: UploadsRestoreInput, step: string, staging: string, includePaths: string[]): Promise<RestoreSummary> {
  const { ctx, ref } = input;
  const { files, bytes } = ctx.artifact;
  return ctx.repository.restore(
    { snapshotId: snapshotIdOf(input), targetDir: staging, includePaths, expected: { files, bytes } },
    {
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onProgress: (event) => ctx.onProgress?.({ component: ref, step, event }),
    },
  );
}

/** Folds the shield of each staged root back into it; the number of entries moved. */
async function foldShields(input: UploadsRestoreInput, stagedRoots: string[]): Promise<number> {
  let folded = 0;
  for (const root of stagedRoots) folded += (await input.area.fold(path.posix.join(root, SHIELD_NAME), root)).moved;
  return folded;
}

/** Restores `includePaths` into `staging`, then folds the shield of each staged root (`stagedRoots`) back into it. */
async function stageInto(
  input: UploadsRestoreInput,
  step: string,
  where: { staging: string; includePaths: string[]; stagedRoots: string[] },
): Promise<Staged> {
  await input.area.remove(where.staging); // a previous attempt of the same job
  const summary = await restoreInto(input, step, where.staging, where.includePaths);
  return { summary, folded: await foldShields(input, where.stagedRoots) };
}

/**
 * Stages every root with one repository run: all of them restored into the staging beside the first root,
 * then each other root's tree moved by a rename into the staging beside it. A root on another filesystem
 * (the rename cannot cross) is restored into its own staging by a run of its own.
 */
async function stageRoots(input: UploadsRestoreInput, roots: LiveRoot[], paths: Map<string, string>): Promise<Staged> {
  const { area } = input;
  const [first, ...others] = roots;
  if (first === undefined) throw new ValidationError(`uploads component '${input.ref}' has no paths`, { field: 'paths' });
  const snapPath = (r: LiveRoot): string => paths.get(r.root) ?? r.root;
  for (const r of roots) {
    await area.ensureDir(r.live);
    await area.remove(r.staging); // a previous attempt of the same job
  }
  const summary = await restoreInto(input, 'stage', first.staging, roots.map(snapPath)); // counts every root
  for (const r of others) {
    const restored = path.posix.join(first.staging, snapPath(r));
    if ((await area.moveEntry(restored, r.stagedRoot)) === 'moved') continue;
    await area.remove(restored);
    await area.remove(r.staging);
    await restoreInto(input, 'stage', r.staging, [snapPath(r)]);
  }
  return { summary, folded: await foldShields(input, roots.map((r) => r.stagedRoot)) };
}

/**
 * Walks a staged root and refuses the first entry that may not be placed at `finalRoot` (not a file,
 * directory or symlink; a bad name). A symlink whose target leaves the root is placed as the symlink it
 * is (nothing is ever written through one: placing is renames) and reported as a warning. Returns the
 * number of entries checked and those warnings.
 */
async function checkStaged(input: UploadsRestoreInput, stagedRoot: string, finalRoot: string): Promise<Checked> {
  const snapshotId = snapshotIdOf(input);
  const links = new SymlinkChecker(finalRoot);
  const finalOf = (p: string): string => path.posix.join(finalRoot, path.posix.relative(stagedRoot, p));
  let count = 0;
  const walk = input.tree.walk([stagedRoot], { readLinks: true, ...(input.ctx.signal ? { signal: input.ctx.signal } : {}) });
  for await (const entry of walk) {
    count += 1;
    const problem = entryProblem(entry);
    if (problem) throw new UnsafeEntryError({ snapshotId, entry: finalOf(entry.path), reason: problem });
    if (entry.type === 'symlink') links.add(finalOf(entry.path), entry.target ?? '');
  }
  return { count, leaving: links.problems() };
}

interface Checked {
  count: number;
  /** Symlinks whose target leaves the root: restored as symlinks, reported. */
  leaving: { entry: string; target: string; reason: string }[];
}

/** The check step's detail: the count, and each symlink leaving its root (the first few) as a warning. */
function checkedDetail(c: Checked): string {
  if (c.leaving.length === 0) return `${c.count} entries checked`;
  const [first] = c.leaving;
  const more = c.leaving.length > 1 ? ` (and ${c.leaving.length - 1} more)` : '';
  return `${c.count} entries checked; WARNING: ${c.leaving.length} symlink(s) leave the root, restored as symlinks: '${first?.entry}' ${first?.reason}${more}`;
}

const restored = (s: Staged): string =>
  `${s.summary.filesRestored} files, ${s.summary.bytesRestored} bytes${s.folded > 0 ? `; ${s.folded} entries folded back from the shield` : ''}`;

/** Where each configured root lands in a restore into `targetDir` (a verify drill's sandbox). */
export function targetRoots(input: UploadsRestoreInput, targetDir: string): { original: string; restored: string }[] {
  const target = path.posix.resolve(targetDir);
  return [...snapshotPaths(input)].map(([root, snapPath]) => ({ original: root, restored: path.posix.join(target, snapPath) }));
}

/** Restores the artifact of `input.ctx` into place or into `ctx.targetDir`. */
export async function restoreUploads(input: UploadsRestoreInput): Promise<RestoreReport> {
  const paths = snapshotPaths(input);
  snapshotIdOf(input); // an artifact without a snapshot fails here, before any step
  return input.ctx.targetDir === undefined ? restoreInPlace(input, paths) : restoreToTarget(input, paths, input.ctx.targetDir);
}

interface LiveRoot {
  root: string;
  live: string;
  staging: string;
  stagedRoot: string;
}

async function liveRoots(input: UploadsRestoreInput, paths: Map<string, string>): Promise<LiveRoot[]> {
  const out: LiveRoot[] = [];
  for (const [root, snapPath] of paths) {
    const status = await input.tree.rootStatus(root);
    if (status.kind === 'not-dir') throw new ValidationError(`upload path '${root}' of ${input.ref} is not a directory`, { field: 'paths' });
    const live = status.kind === 'dir' ? status.realPath : root;
    const staging = path.posix.join(live, stagingName(input.ctx.jobId));
    out.push({ root, live, staging, stagedRoot: path.posix.join(staging, snapPath) });
  }
  return out;
}

/** Into place in one call: stage, switch, finish; a failed switch leaves the roots as they were. */
async function restoreInPlace(input: UploadsRestoreInput, paths: Map<string, string>): Promise<RestoreReport> {
  return switchAndFinish(await stageInPlace(input, paths), input.ctx);
}

/**
 * The stage of a restore into place: each root restored into a staging directory beside it (same
 * filesystem, so the switch is renames), the shield folded back, every entry checked. The live roots
 * are not touched; a failure removes the stagings.
 */
export async function stageUploads(input: UploadsRestoreInput): Promise<StagedComponent> {
  const paths = snapshotPaths(input);
  snapshotIdOf(input);
  if (input.ctx.targetDir !== undefined) throw new ValidationError(`${input.ref}: a staged restore goes into place, not into a target directory`, { field: 'targetDir' });
  return stageInPlace(input, paths);
}

async function stageInPlace(input: UploadsRestoreInput, paths: Map<string, string>): Promise<StagedComponent> {
  const steps = new Steps(input.ref, input.ctx);
  const roots = await steps.run('resolve roots', () => liveRoots(input, paths), (r) => r.map((x) => x.live).join(', '));
  await steps.run('check space', () => checkSpace(input, roots), (v) => v);
  try {
    await steps.run('stage', () => stageRoots(input, roots, paths), restored);
    for (const r of roots) {
      await steps.run(`check ${r.root}`, () => checkStaged(input, r.stagedRoot, r.live), checkedDetail);
    }
  } catch (err) {
    await rollBack(input, [], roots.map((r) => r.staging));
    throw err;
  }
  return new StagedUploads(input, roots, steps.report());
}

/**
 * The staging of every root goes on the root's own filesystem: each must have room for the snapshot's
 * copy (its total size: the artifact does not split it by root, so roots on separate filesystems are
 * each asked for all of it).
 */
async function checkSpace(input: UploadsRestoreInput, roots: LiveRoot[]): Promise<string> {
  const lines: string[] = [];
  for (const r of roots) lines.push(checkStagingSpace({ ref: input.ref, dir: r.live, need: input.ctx.artifact.bytes, free: await input.area.freeBytes(r.live) }));
  return lines.join('; ');
}

/** What staged roots keep in the agent's restore journal. */
interface UploadsJournal {
  roots: LiveRoot[];
  /** Per live root, what its staged root held when the switch began. */
  stagedNames?: Record<string, string[]>;
}

/**
 * Rebuilds staged roots from their journal after an agent restart. Its rollback puts every root back
 * from whatever point its interrupted swap reached (`RestoreArea.recoverSwap`); finish and discard work
 * as usual.
 */
export function recoverStagedUploads(input: UploadsSwitchInput, journal: StagedJournal): StagedComponent {
  const j = journal as Partial<UploadsJournal>;
  const roots = j.roots;
  if (!Array.isArray(roots) || roots.some((r) => typeof r?.live !== 'string' || typeof r.staging !== 'string' || typeof r.stagedRoot !== 'string')) {
    throw new ValidationError(`${input.ref}: its restore journal lacks the roots`, { field: 'journal' });
  }
  return new StagedUploads(input, roots, { component: input.ref, steps: [] }, j.stagedNames ?? {});
}

/** Staged roots, waiting for the switch: each swap is renames within the root's filesystem. */
class StagedUploads implements StagedComponent {
  readonly ref: string;
  private swaps: SwapHandle[] = [];

  constructor(
    private readonly input: UploadsSwitchInput,
    private readonly roots: LiveRoot[],
    readonly report: RestoreReport,
    /** Rebuilt from the journal after an agent restart: what each staged root held when its switch began. */
    private stagedNames?: Record<string, string[]>,
  ) {
    this.ref = input.ref;
  }

  journal(): StagedJournal {
    const j: UploadsJournal = { roots: this.roots, ...(this.stagedNames ? { stagedNames: this.stagedNames } : {}) };
    return { ...j };
  }

  private get stagings(): string[] {
    return this.roots.map((r) => r.staging);
  }

  /** Swaps every root; a failure undoes the swaps of this call (the stagings stay for a discard). */
  async switchIn(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = new Steps(this.ref, ctx);
    const swaps: SwapHandle[] = [];
    if (ctx.persist) {
      const persist = ctx.persist;
      await steps.run('journal', async () => {
        const names: Record<string, string[]> = {};
        for (const r of this.roots) names[r.live] = (await this.input.area.list(r.stagedRoot)) ?? [];
        this.stagedNames = names;
        await persist();
      });
    }
    try {
      for (const r of this.roots) {
        const aside = path.posix.join(r.live, asideName(ctx.jobId));
        swaps.push(await steps.run(`swap ${r.root}`, () => this.input.area.swap({ live: r.live, staged: r.stagedRoot, aside, keep: isReservedName })));
      }
    } catch (err) {
      await rollBack({ ...this.input, ctx: { ...this.input.ctx, logger: ctx.logger } }, swaps, []);
      throw err;
    }
    this.swaps = swaps;
    return steps.report();
  }

  async rollBack(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = new Steps(this.ref, ctx);
    if (this.swaps.length === 0 && this.stagedNames) {
      // Rebuilt after an agent restart (or a switch that never began): each root from the disk.
      for (const r of [...this.roots].reverse()) {
        const aside = path.posix.join(r.live, asideName(ctx.jobId));
        const stagedNames = this.stagedNames[r.live] ?? [];
        await steps.run(`put back ${r.live}`, () => this.input.area.recoverSwap({ live: r.live, staged: r.stagedRoot, aside, stagedNames }), (v) => (v === 'nothing' ? 'never swapped' : 'previous entries put back'));
      }
    }
    for (const s of [...this.swaps].reverse()) await steps.run(`put back ${path.posix.dirname(s.asideDir)}`, () => s.undo());
    this.swaps = [];
    await steps.run('remove staging', () => removeAll(this.input, this.stagings));
    return steps.report();
  }

  async finish(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = new Steps(this.ref, ctx);
    // Named by the job (also when rebuilt after an agent restart, without swap handles).
    const asides = this.roots.map((r) => path.posix.join(r.live, asideName(ctx.jobId)));
    await steps.run('cleanup', () => cleanUp(this.input, asides, this.stagings), (kept) => kept);
    return steps.report();
  }

  async discard(ctx: PhaseContext): Promise<RestoreReport> {
    const steps = new Steps(this.ref, ctx);
    await steps.run('remove staging', () => removeAll(this.input, this.stagings));
    return steps.report();
  }
}

async function removeAll(input: UploadsSwitchInput, dirs: string[]): Promise<void> {
  for (const dir of dirs) await input.area.remove(dir);
}

async function cleanUp(input: UploadsSwitchInput, asides: string[], stagings: string[]): Promise<string> {
  for (const s of stagings) await input.area.remove(s);
  let done = 'previous entries deleted';
  if (input.keepAside) done = `previous entries kept in ${asides.join(', ')}`;
  else for (const a of asides) await input.area.remove(a);
  return `${done}${await reshield(input)}`;
}

/** Rescans an open shield after the swaps; never fails the restore (the next open or release reconciles again). */
async function reshield(input: UploadsSwitchInput): Promise<string> {
  const shield = input.shield;
  if (!shield || shield.health().state === 'closed') return '';
  try {
    const scan = await shield.rescan();
    return `; shield rescanned (${scan.linked} linked, ${scan.relinked} relinked, ${scan.removed} removed)`;
  } catch (err) {
    input.ctx.logger.warn({ err, component: input.ref }, 'rescanning the deletion shield after the restore failed');
    return `; shield rescan failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** Best effort: every swap undone (newest first), every staging removed; failures are logged. */
async function rollBack(input: UploadsSwitchInput, swaps: SwapHandle[], stagings: string[]): Promise<void> {
  const log = input.ctx.logger;
  for (const s of [...swaps].reverse()) {
    await s.undo().catch((err: unknown) => log.error({ err, aside: s.asideDir }, 'undoing a swap failed; previous entries are in the aside directory'));
  }
  for (const dir of stagings) {
    await input.area.remove(dir).catch((err: unknown) => log.error({ err, dir }, 'removing a staging directory failed'));
  }
}

async function prepareTarget(input: UploadsRestoreInput, target: string): Promise<string> {
  for (const root of input.roots) {
    if (isUnder(target, root) || isUnder(root, target)) {
      throw new ValidationError(`restore target '${target}' overlaps upload directory '${root}' of ${input.ref}`, { field: 'targetDir' });
    }
  }
  const names = (await input.area.list(target)) ?? [];
  const foreign = names.filter((n) => !isReservedName(n));
  if (foreign.length > 0) throw new ConflictError(`restore target '${target}' is not empty (holds '${foreign[0]}')`);
  await input.area.ensureDir(target);
  return target;
}

async function restoreToTarget(input: UploadsRestoreInput, paths: Map<string, string>, targetDir: string): Promise<RestoreReport> {
  const steps = new Steps(input.ref, input.ctx);
  const target = path.posix.resolve(targetDir);
  const staging = path.posix.join(target, stagingName(input.ctx.jobId));
  await steps.run(`prepare ${target}`, () => prepareTarget(input, target));
  try {
    const stagedRoots = [...paths.values()].map((p) => path.posix.join(staging, p));
    await steps.run('stage', () => stageInto(input, 'stage', { staging, includePaths: [...paths.values()], stagedRoots }), restored);
    for (const [root, snapPath] of paths) {
      const final = path.posix.join(target, snapPath);
      await steps.run(`check ${root}`, () => checkStaged(input, path.posix.join(staging, snapPath), final), checkedDetail);
    }
    await steps.run('place', () => input.area.moveChildren(staging, target));
  } catch (err) {
    await rollBack(input, [], [staging]);
    throw err;
  }
  await steps.run('cleanup', () => input.area.remove(staging));
  return steps.report();
}
