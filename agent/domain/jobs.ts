/**
 * The agent's job service: what the Agent gRPC service does, free of transports. It opens the site's
 * repository per job from the access the controller sends (never stored), runs the cut protocol through
 * the CutParticipant and restores components through their drivers.
 */
import { createHash } from 'node:crypto';
import type { FreezeAlso, FreezeOutcome } from '../../shared/cut.js';
import { CancelledError, IllegalStateError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { RestorePhase } from '../../shared/restore-phases.js';
import type { Logger } from '../../shared/logger.js';
import type { Repository } from '../../shared/repository/repository.js';
import { parseSandboxComponents, parseSandboxDescription, SANDBOX_ENV, type SandboxComponent } from '../../shared/sandbox.js';
import { CutParticipant } from './cut-participant.js';
import { exportSnapshot, type ExportedFile } from './export.js';
import { importSnapshot, type HostImport, type SnapshotImportDeps } from './import.js';
import { runIntegrityCheck, type CommandRunner, type IntegrityVerdict } from './integrity.js';
import { measureDrivers, type AgentMetrics } from './metrics.js';
import type { JournalSwitchState, RestoreJournal, ServiceManager } from './ports.js';
import type { DropResult, SandboxManager } from './sandbox/manager.js';
import type {
  ComponentArtifact,
  ComponentDriver,
  CutPoint,
  DriverProgress,
  PhaseContext,
  RestoreReport,
  RestoreStepReport,
  StagedComponent,
} from './drivers/types.js';

/** How to open the site's repository for one job. The password is a secret: never logged. */
export type { RepositoryAccess } from '../../shared/repository/access.js';
import type { RepositoryAccess } from '../../shared/repository/access.js';

const heldKey = (jobId: string, ref: string): string => `${jobId}\n${ref}`;
const accessKey = (access: RepositoryAccess): string => createHash('sha256').update(JSON.stringify([access.url, access.password, access.env])).digest('hex');

const SWITCH_WORDS: Record<JournalSwitchState, string> = { staged: 'staged', switching: 'being switched in', switched: 'switched in' };

export type OpenRepository = (access: RepositoryAccess) => Repository;

export interface AgentJobsOptions {
  drivers: readonly ComponentDriver[];
  openRepository: OpenRepository;
  services: ServiceManager;
  integrityCheck?: { command: readonly string[]; timeoutMs: number };
  runCommand: CommandRunner;
  logger: Logger;
  /** Reports each component upload and restore (durations, bytes moved); nothing is measured without it. */
  metrics?: AgentMetrics;
  /** Verify drills' sandboxes; without it sandbox restores are refused. */
  sandboxes?: SandboxManager;
  /** Where staged components are journalled for an agent restart; without it they live in memory only. */
  journal?: RestoreJournal;
  /** Snapshot imports: the work directory and each shard's place among the site's shards; without it imports are refused. */
  imports?: Pick<SnapshotImportDeps, 'workRoot' | 'placement'>;
}

/** A component staged by a two-phase restore, held until the controller switches, rolls back, finishes or discards it. */
interface Held {
  staged: StagedComponent;
  switch: JournalSwitchState;
}

export class AgentJobs {
  readonly participant: CutParticipant;
  private readonly drivers: readonly ComponentDriver[];
  /** Components staged by two-phase restores, by `heldKey` (job and component), and whether switched in. */
  private readonly staged = new Map<string, Held>();
  /** The phase calls of each `heldKey`, chained: one runs at a time. */
  private readonly phaseCalls = new Map<string, Promise<void>>();
  /** Repositories (by a hash of their access) that opened once in this process. */
  private readonly openedRepositories = new Set<string>();

  constructor(private readonly options: AgentJobsOptions) {
    this.drivers = options.metrics ? measureDrivers(options.drivers, options.metrics) : options.drivers;
    this.participant = new CutParticipant({ drivers: (refs) => this.select(refs), logger: options.logger });
  }

  /** The drivers of the named components (measured, or `from` the given list); all when none are named. */
  select(refs: readonly string[], from: readonly ComponentDriver[] = this.drivers): ComponentDriver[] {
    if (refs.length === 0) return [...from];
    return refs.map((ref) => {
      const d = from.find((x) => x.ref === ref);
      if (!d) {
        const known = from.map((x) => x.ref).join(', ') || 'none';
        throw new NotFoundError(`component '${ref}' is not served by this agent (it serves: ${known})`);
      }
      return d;
    });
  }

  /**
   * Checks the repository opens with this access, then prepares the cut. A component whose prepare opens
   * the repository itself (PostgreSQL starts its dump's backup then) is the check.
   */
  async prepare(req: {
    cutId: string;
    site: string;
    components: string[];
    leaseMs: number;
    freezeWithinMs?: number;
    repository: RepositoryAccess;
    /** What this cut's upload will name (see `upload`): a driver opening its backup now starts it with them. */
    parents?: Record<string, string>;
    parentsComplete?: boolean;
  }): Promise<string[]> {
    if (req.leaseMs <= 0) throw new ValidationError('leaseMs must be positive', { field: 'leaseMs' });
    const key = accessKey(req.repository);
    const repository = this.open(req.repository);
    const drivers = this.select(req.components);
    if (!this.openedRepositories.has(key) && !drivers.some((d) => d.opensRepository === true)) {
      // once per agent process: restic spends ~0.7 s deriving the key at every start; a later failure
      // still surfaces from the upload itself
      await repository.describe();
    }
    await this.participant.prepare({
      cutId: req.cutId,
      components: req.components,
      leaseMs: req.leaseMs,
      ...(req.freezeWithinMs ? { freezeWithinMs: req.freezeWithinMs } : {}),
      upload: { site: req.site, repository, ...(req.parents ? { parents: req.parents } : {}), ...(req.parentsComplete ? { parentsComplete: true } : {}) },
    });
    this.openedRepositories.add(key);
    return drivers.map((d) => d.ref);
  }

  freeze(cutId: string, options: FreezeAlso = {}): Promise<FreezeOutcome> {
    return this.participant.freeze(cutId, options);
  }

  cut(cutId: string): Promise<CutPoint[]> {
    return this.participant.cut(cutId);
  }

  thaw(cutId: string): Promise<{ freezeWindowMs: number }> {
    return this.participant.thaw(cutId);
  }

  abort(cutId: string, reason: string): Promise<void> {
    return this.participant.abort(cutId, reason);
  }

  upload(req: {
    cutId: string;
    jobId: string;
    site: string;
    repository: RepositoryAccess;
    /** Per component, the parent of its incremental backup as the controller's catalog knows it. */
    parents?: Record<string, string>;
    /** True: a component `parents` does not name has no parent (the catalog has no sealed snapshot of it). */
    parentsComplete?: boolean;
    onProgress?: (p: DriverProgress) => void;
    signal?: AbortSignal;
  }): Promise<ComponentArtifact[]> {
    return this.participant.upload(req.cutId, {
      jobId: req.jobId,
      site: req.site,
      repository: this.open(req.repository),
      ...(req.parents ? { parents: req.parents } : {}),
      ...(req.parentsComplete ? { parentsComplete: true } : {}),
      logger: this.options.logger.child({ jobId: req.jobId, cutId: req.cutId }),
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
  }

  /**
   * Restores the artifacts one component after another; stops at the first failure. With `sandboxId`
   * they go into that sandbox of this agent (a verify drill) and `sandbox` says where each can be reached.
   */
  async restore(req: {
    jobId: string;
    artifacts: ComponentArtifact[];
    repository: RepositoryAccess;
    targetDir?: string;
    sandboxId?: string;
    /** One phase of a two-phase restore into place; absent = the whole restore in one call. */
    phase?: RestorePhase;
    onProgress?: (p: DriverProgress) => void;
    onStep?: (component: string, step: RestoreStepReport) => void;
    signal?: AbortSignal;
  }): Promise<{ reports: { component: string; steps: RestoreStepReport[] }[]; sandbox?: SandboxComponent[] }> {
    if (req.sandboxId) {
      if (req.targetDir) throw new ValidationError('a restore goes into a sandbox or a target directory, not both', { field: 'targetDir' });
      const { targetDir: _t, sandboxId, repository, ...rest } = req;
      const r = await this.sandboxManager().restore({ ...rest, sandboxId, repository: this.open(repository) });
      return { reports: r.reports, sandbox: r.components };
    }
    if (req.phase) {
      if (req.targetDir) throw new ValidationError('a two-phase restore goes into place, not into a target directory', { field: 'targetDir' });
      return { reports: await this.restorePhase({ ...req, phase: req.phase }) };
    }
    const drivers = this.select(req.artifacts.map((a) => a.component));
    const repository = this.open(req.repository);
    const reports = [];
    for (const [i, driver] of drivers.entries()) {
      const artifact = req.artifacts[i] as ComponentArtifact;
      const report = await driver.restore({
        jobId: req.jobId,
        artifact,
        repository,
        logger: this.options.logger.child({ jobId: req.jobId, component: driver.ref }),
        ...(req.targetDir ? { targetDir: req.targetDir } : {}),
        ...(req.onProgress ? { onProgress: req.onProgress } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      for (const step of report.steps) req.onStep?.(driver.ref, step);
      reports.push(report);
    }
    return { reports };
  }

  /**
   * Takes back what the restore journal holds from before this process started (an agent killed during a
   * restore): each staged component is rebuilt by its driver and held again, for the controller to roll
   * back (which reads from the disk how far an interrupted switch got), finish or discard. Returns a line
   * per component and per unreadable entry.
   */
  async recoverJournal(): Promise<string[]> {
    const journal = this.options.journal;
    if (!journal) return [];
    const { entries, problems } = await journal.list();
    const lines = problems.map((p) => `unreadable restore journal entry ${p}`);
    for (const e of entries) {
      const driver = this.drivers.find((d) => d.ref === e.component);
      try {
        if (!driver) throw new NotFoundError(`component '${e.component}' is not served by this agent`);
        this.staged.set(heldKey(e.jobId, e.component), { staged: driver.recoverStaged(e.jobId, e.state), switch: e.switch });
        lines.push(`restore job '${e.jobId}': ${e.component} was ${SWITCH_WORDS[e.switch]} when this agent stopped; held for the controller to roll back, finish or discard`);
      } catch (err) {
        lines.push(`restore job '${e.jobId}': ${e.component} cannot be taken back from the journal (${err instanceof Error ? err.message : String(err)}); its staging is left as it is`);
      }
    }
    for (const line of lines) this.options.logger.warn(line);
    return lines;
  }

  /** Journals a held component (nothing without a journal). */
  private async record(jobId: string, component: string, staged: StagedComponent, state: JournalSwitchState): Promise<void> {
    await this.options.journal?.write({ jobId, component, switch: state, state: staged.journal() });
  }

  private async forget(key: string, jobId: string, component: string): Promise<void> {
    this.staged.delete(key);
    await this.options.journal?.remove(jobId, component).catch((err: unknown) => this.options.logger.warn({ err, jobId, component }, 'could not remove a restore journal entry'));
  }

  /**
   * One phase of a two-phase restore for the named components, one after another (stops at the first
   * failure). What `stage` produced is held here, by job and component, until `rollback`, `finish` or
   * `discard`, and journalled (see `recoverJournal`): before a switch changes anything, the journal says
   * it is under way. A `rollback` of a component whose switch failed (and put back what it moved) removes
   * its staging. `discard` and `finish` of a component with nothing staged do nothing.
   */
  private async restorePhase(req: {
    jobId: string;
    artifacts: ComponentArtifact[];
    repository: RepositoryAccess;
    phase: RestorePhase;
    onProgress?: (p: DriverProgress) => void;
    onStep?: (component: string, step: RestoreStepReport) => void;
    signal?: AbortSignal;
  }): Promise<RestoreReport[]> {
    const drivers = this.select(req.artifacts.map((a) => a.component));
    const logger = this.options.logger.child({ jobId: req.jobId, phase: req.phase });
    const phase = { jobId: req.jobId, ...(req.onProgress ? { onProgress: req.onProgress } : {}), ...(req.signal ? { signal: req.signal } : {}) };
    const reports: RestoreReport[] = [];
    for (const [i, driver] of drivers.entries()) {
      const ctx = { ...phase, logger: logger.child({ component: driver.ref }) };
      const key = heldKey(req.jobId, driver.ref);
      const report = await this.oneAtATime(key, async () => {
        const held = this.staged.get(key);
        if (req.phase === 'stage') {
          // Staged before by the same job (a resumed restore): fetch again. One already switched in (the
          // controller stopped before it recorded that) stays in: what it moved aside is deleted. One caught
          // in its switch by an agent restart is rolled back first (its journal said 'switching').
          if (held) await (held.switch === 'staged' ? held.staged.discard(ctx) : held.switch === 'switching' ? held.staged.rollBack(ctx) : held.staged.finish(ctx));
          await this.forget(key, req.jobId, driver.ref);
          return this.stage(driver, req.artifacts[i] as ComponentArtifact, req.repository, ctx);
        }
        if (!held) {
          if (req.phase === 'discard' || req.phase === 'finish') return undefined;
          throw new IllegalStateError(`${driver.ref} has nothing staged for restore job '${req.jobId}' on this agent: stage it again`);
        }
        if (req.phase === 'switch') return this.switchIn(held, req.jobId, driver.ref, ctx);
        const report = await this.runPhase(held, req.phase, ctx);
        await this.forget(key, req.jobId, driver.ref);
        return report;
      });
      if (!report) continue;
      for (const step of report.steps) req.onStep?.(driver.ref, step);
      reports.push(report);
    }
    return reports;
  }

  private async stage(driver: ComponentDriver, artifact: ComponentArtifact, access: RepositoryAccess, ctx: PhaseContext): Promise<RestoreReport> {
    const key = heldKey(ctx.jobId, driver.ref);
    const staged = await driver.stage({ ...ctx, artifact, repository: this.open(access) });
    const { signal: _cancelled, ...cleanup } = ctx;
    if (ctx.signal?.aborted) {
      // The controller gave up on this stage while it finished: nobody will switch or discard it.
      await staged.discard(cleanup);
      throw new CancelledError(`staging ${driver.ref} for restore job '${ctx.jobId}' was cancelled; what it staged is removed`);
    }
    try {
      await this.record(ctx.jobId, driver.ref, staged, 'staged');
    } catch (err) {
      await staged.discard(cleanup).catch(() => undefined);
      throw new IllegalStateError(`the restore journal could not record ${driver.ref} of restore job '${ctx.jobId}' (${err instanceof Error ? err.message : String(err)}); what was staged is removed`, { cause: err });
    }
    this.staged.set(key, { staged, switch: 'staged' });
    return staged.report;
  }

  /** The journal says the switch is under way before the driver changes anything; a failed switch put back what it moved. */
  private async switchIn(held: Held, jobId: string, component: string, ctx: PhaseContext): Promise<RestoreReport> {
    if (held.switch !== 'staged') throw new IllegalStateError(`${component} of restore job '${jobId}' is ${SWITCH_WORDS[held.switch]} already`);
    const persist = (): Promise<void> => this.record(jobId, component, held.staged, 'switching');
    await persist();
    held.switch = 'switching';
    let report: RestoreReport;
    try {
      report = await held.staged.switchIn({ ...ctx, persist });
    } catch (err) {
      held.switch = 'staged';
      await this.record(jobId, component, held.staged, 'staged').catch((e: unknown) => ctx.logger.warn({ err: e }, 'could not journal a failed switch'));
      throw err;
    }
    held.switch = 'switched';
    // Unrecorded, the journal still says 'switching': a rollback after a restart finds the switch done.
    await this.record(jobId, component, held.staged, 'switched').catch((e: unknown) => ctx.logger.warn({ err: e }, 'could not journal a switch'));
    return report;
  }

  /**
   * Runs `fn` after every earlier call for `key` ended: a discard sent after a cancelled stage waits for
   * that stage to end (the caller stops waiting at once, the driver only at its next step).
   */
  private async oneAtATime<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.phaseCalls.get(key) ?? Promise.resolve();
    let done = (): void => undefined;
    const tail = previous.then(() => new Promise<void>((resolve) => (done = resolve)));
    this.phaseCalls.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      done();
      if (this.phaseCalls.get(key) === tail) this.phaseCalls.delete(key);
    }
  }

  /** Rollback, finish or discard of a held component; a rollback of one never switched in removes its staging. */
  private runPhase(held: Held, phase: Exclude<RestorePhase, 'stage' | 'switch'>, ctx: PhaseContext): Promise<RestoreReport> {
    switch (phase) {
      case 'rollback':
        return held.switch === 'staged' ? held.staged.discard(ctx) : held.staged.rollBack(ctx);
      case 'finish':
        return held.staged.finish(ctx);
      case 'discard':
        return held.staged.discard(ctx);
    }
  }

  /**
   * Writes this host's part of a snapshot in FindFace's backup layout into `toDir` (a snapshot export; see
   * export.ts). The Tarantool and uploads artifacts must have been restored into the sandbox first.
   */
  async exportSnapshot(req: { jobId: string; artifacts: ComponentArtifact[]; repository: RepositoryAccess; sandboxId: string; sandboxJson: string; toDir: string; manifestJson: string; signal?: AbortSignal }): Promise<ExportedFile[]> {
    const needsSandbox = req.artifacts.some((a) => a.kind !== 'postgres');
    if (needsSandbox && !(await this.sandboxManager().has(req.sandboxId))) {
      throw new NotFoundError(`sandbox '${req.sandboxId}' is not on this agent (restore the snapshot into it first)`);
    }
    const sandbox = needsSandbox ? parseSandboxComponents(req.sandboxJson || '[]', 'the sandbox to export') : [];
    return exportSnapshot(
      { artifacts: req.artifacts, sandbox, toDir: req.toDir, manifestJson: req.manifestJson, repository: this.open(req.repository), ...(req.signal ? { signal: req.signal } : {}) },
      // The drivers themselves (not their measured wrappers): a shard's sandbox galleries are its own.
      { select: (refs) => this.select(refs, this.options.drivers), logger: this.options.logger.child({ jobId: req.jobId }) },
    );
  }

  /**
   * Brings this host's part of an export in FindFace's backup layout into the repository, each component
   * as an artifact of the new snapshot `cutId` (a snapshot import; see import.ts). The controller seals.
   */
  async importSnapshot(req: { jobId: string; site: string; cutId: string; fromDir: string; base: ComponentArtifact[]; repository: RepositoryAccess; signal?: AbortSignal; onProgress?: (p: DriverProgress) => void }): Promise<HostImport> {
    const imports = this.options.imports;
    if (!imports) throw new IllegalStateError('this agent has no work directory for imports');
    const { repository, ...rest } = req;
    return importSnapshot(
      { ...rest, repository: this.open(repository) },
      // The drivers themselves: an import is not a cut's upload (no upload metrics).
      { ...imports, select: (refs) => this.select(refs, this.options.drivers), logger: this.options.logger },
    );
  }

  /** Removes a verify drill's sandbox (idempotent). */
  dropSandbox(sandboxId: string): Promise<DropResult> {
    return this.sandboxManager().drop(sandboxId);
  }

  /** Starts or stops units, in the given order; the first failure stops and names the unit. */
  async controlUnits(action: 'start' | 'stop', units: readonly string[], options: { timeoutMs?: number } = {}): Promise<void> {
    if (action !== 'start' && action !== 'stop') throw new ValidationError(`unit action '${String(action)}' must be start or stop`, { field: 'action' });
    const deadline = Date.now() + (options.timeoutMs ?? Infinity);
    for (const unit of units) {
      const left = Number.isFinite(deadline) ? { timeoutMs: Math.max(1, deadline - Date.now()) } : {};
      if (action === 'stop') await this.options.services.stop(unit, left);
      else await this.options.services.start(unit, left);
    }
  }

  /**
   * Runs the configured integrity check; with `sandboxJson` (a SandboxDescription) on that sandbox: the
   * description is written into the sandbox and named to the check command by `FFK_SANDBOX`.
   */
  async runCheck(sandboxJson?: string): Promise<IntegrityVerdict> {
    if (!sandboxJson) return runIntegrityCheck(this.options.integrityCheck, this.options.runCommand);
    const sandbox = parseSandboxDescription(sandboxJson, 'the sandbox to check');
    if (!this.options.integrityCheck) return runIntegrityCheck(undefined, this.options.runCommand);
    const file = await this.sandboxManager().writeFile(sandbox.sandboxId, 'check-sandbox.json', `${JSON.stringify(sandbox, null, 2)}\n`);
    return runIntegrityCheck(this.options.integrityCheck, this.options.runCommand, { [SANDBOX_ENV]: file });
  }

  private sandboxManager(): SandboxManager {
    if (!this.options.sandboxes) throw new ValidationError('this agent keeps no sandboxes', { field: 'sandboxId' });
    return this.options.sandboxes;
  }

  private open(access: RepositoryAccess): Repository {
    if (!access.url) throw new ValidationError('repository url is missing', { field: 'repository.url' });
    if (!access.password) throw new ValidationError('repository password is missing', { field: 'repository.password' });
    return this.options.openRepository(access);
  }
}
