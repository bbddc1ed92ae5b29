/**
 * The component driver contract: one driver per FindFace component on this host (PostgreSQL, each
 * Tarantool shard, the upload directories). The cut protocol (DESIGN.md §4) calls prepare → freeze →
 * cut → thaw → upload (or release on abort); a restore calls restore. Drivers depend only on ports
 * (Repository, ServiceManager, and their own small role interfaces), never on transports directly.
 */
import type { Logger } from '../../../shared/logger.js';
import type { Repository, ProgressEvent } from '../../../shared/repository/repository.js';
import type { SandboxComponent } from '../../../shared/sandbox.js';

/** What a component snapshot is tagged with; `shared/tags.ts` turns it into repository tags. */
export interface ComponentTags {
  site: string;
  cutId: string;
  /** `<kind>:<name>` */
  component: string;
}

export type { CutPoint, ComponentArtifact } from '../../../shared/manifest.js';
import type { CutPoint, ComponentArtifact } from '../../../shared/manifest.js';

/** Progress of a driver operation, per component. */
export type DriverProgress = { component: string; step?: string; event?: ProgressEvent; message?: string };

export interface FreezeOptions {
  /** How long this freeze may take at most: the part of the freeze lease left for it (cut and thaw need the rest). */
  budgetMs?: number;
  /**
   * cut() follows as soon as every component of the agent is frozen: a driver may fix its cut point the
   * moment its own freeze completes (one round trip to its service fewer inside the window); cut() then
   * answers that point. A freeze that fails, or is thawed and released instead, leaves nothing held.
   */
  cutFollows?: boolean;
}

/** What a cut's prepare tells the drivers: the upload's tags and repository, known already. */
export interface PrepareContext {
  tags: ComponentTags;
  repository: Repository;
  /** What this cut's upload will get as `UploadContext.catalogParent` (absent: not said). */
  catalogParent?: { snapshotId: string | undefined };
}

export interface UploadContext {
  jobId: string;
  tags: ComponentTags;
  repository: Repository;
  /**
   * The parent of an incremental backup as the controller's catalog says: the component's snapshot in the
   * site's newest sealed cut, or `snapshotId` undefined when no sealed cut holds the component. Absent
   * when the controller did not say (the driver then finds a parent itself).
   */
  catalogParent?: { snapshotId: string | undefined };
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: DriverProgress) => void;
}

/**
 * What a driver's import gets (a snapshot import, issue 19: FindFace's backup layout brought into the
 * repository as this component's artifact of a new snapshot). The data comes from `fromDir`, named as
 * findface-backup.ts says; the artifact is stored under `tags` like an upload's.
 */
export interface ImportContext extends Omit<UploadContext, 'catalogParent'> {
  /** This component's artifact in the site's newest sealed snapshot: its layout (a shard's schema and users). */
  base: ComponentArtifact;
  /** The export on this host (absolute). */
  fromDir: string;
  /** An empty directory of the agent for this component's work, removed after the import. */
  workDir: string;
  /** When the exported data was current: the imported artifact's cut time. */
  time: Date;
  /**
   * Tarantool: this shard's position among the site's shards in findface-sf-api.ini's order (`index` of
   * `of`); a record of id N belongs to the shard `N % of`, as findface-storage-api-restore places it.
   */
  placement?: { index: number; of: number };
  /** Model per gallery as the export's manifest has them (checked against the shard's), when it has one. */
  models?: Record<string, string>;
}

export interface RestoreContext {
  jobId: string;
  /** The artifact (from the manifest) to restore. */
  artifact: ComponentArtifact;
  repository: Repository;
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: DriverProgress) => void;
  /** Restore somewhere else than the live location (uploads: a target directory). */
  targetDir?: string;
}

/** One checked step of a restore, reported as it runs. */
export interface RestoreStepReport {
  step: string;
  ok: boolean;
  durationMs: number;
  detail?: string;
}

export interface RestoreReport {
  component: string;
  steps: RestoreStepReport[];
}

/**
 * Something a sandbox restore creates outside its directory, recorded in the sandbox's ledger before it
 * is created, so a drop (or an agent restart after a crash) can remove it: a scratch database, a scratch
 * instance (its pid file lives in `dir`).
 */
export type SandboxResource =
  | { kind: 'database'; component: string; database: string }
  | { kind: 'instance'; component: string; dir: string };

/** What a sandbox restore gets: a restore context plus the sandbox's own directory for this component. */
export interface SandboxRestoreContext extends Omit<RestoreContext, 'targetDir'> {
  sandboxId: string;
  /** An empty directory the agent owns (`<cacheDir>/sandbox/<id>/<kind>-<name>`), removed with the sandbox. */
  dir: string;
  /** Records a resource in the sandbox's ledger; call it before creating the resource. */
  record(resource: SandboxResource): Promise<void>;
}

/** A component restored into a sandbox: the checked steps and where it can be reached. */
export interface SandboxRestoreReport extends RestoreReport {
  endpoint: SandboxComponent;
}

/** What the phases after `stage` get (they work on what the stage left, not on the repository). */
export interface PhaseContext {
  jobId: string;
  logger: Logger;
  signal?: AbortSignal;
  onProgress?: (p: DriverProgress) => void;
  /**
   * Writes the component's `journal()` to the agent's restore journal. A switch calls it once it knows
   * what a rollback needs (the units' states) and before it changes anything live, so that an agent killed
   * during the switch can still put the component back after its restart.
   */
  persist?: () => Promise<void>;
}

/**
 * What a staged component keeps in the agent's restore journal (JSON): enough for
 * `ComponentDriver.recoverStaged` to rebuild it after an agent restart.
 */
export type StagedJournal = Record<string, unknown>;

/**
 * A component fetched and checked completely beside the live one (the stage of a two-phase restore,
 * DESIGN.md §6), held by the agent until the controller switches it in or discards it. Every method
 * reports its steps like a restore and throws a typed error naming the failed step.
 */
export interface StagedComponent {
  readonly ref: string;
  /** The stage's own steps. */
  readonly report: RestoreReport;
  /**
   * Moves the staged component into place and the live one aside. A failure puts back what this call
   * moved before it throws, so the component is as it was.
   */
  switchIn(ctx: PhaseContext): Promise<RestoreReport>;
  /** After a switch: the previous state back into place, the restored one removed. */
  rollBack(ctx: PhaseContext): Promise<RestoreReport>;
  /** After a switch: deletes the previous state kept aside and whatever is left of the staging. */
  finish(ctx: PhaseContext): Promise<RestoreReport>;
  /** Before a switch: removes the staging; the live component was never touched. */
  discard(ctx: PhaseContext): Promise<RestoreReport>;
  /** Its state for the agent's restore journal (JSON); see `ComponentDriver.recoverStaged`. */
  journal(): StagedJournal;
}

export interface ComponentDriver {
  readonly kind: CutPoint['kind'];
  readonly name: string;
  /** `<kind>:<name>` */
  readonly ref: string;
  /**
   * Checks the component can take part: reachable, credentials right, tools present. Throws a typed error
   * naming what is wrong. `ctx` (a cut's prepare): what the upload will be given, for work it can do
   * before the freeze.
   */
  prepare(ctx?: PrepareContext): Promise<void>;
  /**
   * True when `prepare(ctx)` opens `ctx.repository` itself and fails as `Repository.describe` would when
   * it cannot (PostgreSQL: its dump's backup is started then): the agent need not check it apart.
   */
  readonly opensRepository?: boolean;
  /**
   * Stops new writes (PostgreSQL: PAUSE on pgbouncer), or waits until the component has caught up with
   * them (the uploads shield). Must be bounded in time; `budgetMs` is what the freeze lease leaves for it.
   * No-op where nothing is needed.
   */
  freeze(options?: FreezeOptions): Promise<void>;
  /** Fixes this component's point in time and holds what the upload needs until upload() or release(). */
  cut(): Promise<CutPoint>;
  /** Lets writes resume. Idempotent; safe to call when freeze() failed or was never called. */
  thaw(): Promise<void>;
  /** Stores the data as of the cut into the repository; releases what cut() held when done (success or not). */
  upload(ctx: UploadContext): Promise<ComponentArtifact>;
  /** Releases what cut() holds without uploading (abort). Idempotent. */
  release(): Promise<void>;
  /** Restores the artifact; every step checked and reported; stops at the first failed step naming it. */
  restore(ctx: RestoreContext): Promise<RestoreReport>;
  /**
   * Stages the artifact beside the live component while it keeps running: fetched from the repository
   * and checked completely. Nothing live changes; a failure removes what was staged and throws naming
   * the step.
   */
  stage(ctx: RestoreContext): Promise<StagedComponent>;
  /**
   * Rebuilds a staged component from its journal after an agent restart (a kill during the switch). Its
   * `rollBack` judges from what it finds (files, databases, units) how far the interrupted switch got and
   * puts the live component back from that point, including when the switch never began; `finish` and
   * `discard` work as usual. Throws naming what is wrong when the journal cannot be read.
   */
  recoverStaged(jobId: string, journal: StagedJournal): StagedComponent;
  /**
   * Restores the artifact into a sandbox (a verify drill, DESIGN.md §7): a scratch database, a scratch
   * instance, a directory; the live component is never touched. Steps are checked and reported like a
   * restore's; a failure leaves what was made for `releaseSandbox` (every resource is in the ledger).
   */
  restoreSandbox?(ctx: SandboxRestoreContext): Promise<SandboxRestoreReport>;
  /** Removes one resource a sandbox restore of this driver recorded. Idempotent; returns what it did. */
  releaseSandbox?(resource: SandboxResource): Promise<string>;
  /** Stores the component's part of an export as an artifact (see `ImportContext`); the live component is not touched. */
  importArtifact?(ctx: ImportContext): Promise<ComponentArtifact>;
  /**
   * Starts what the driver keeps running between cuts (uploads: the deletion shield's watcher), at agent
   * start. Idempotent; a driver that needs it also does it lazily in prepare().
   */
  open?(): Promise<void>;
  /** Closes connections the driver keeps open (agent shutdown). */
  close?(): Promise<void>;
}
