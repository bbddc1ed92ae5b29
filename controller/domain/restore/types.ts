/**
 * Types of a site restore (DESIGN.md §6): the request (structurally equal to the CLI's `RestoreArgs`),
 * the resolved plan `plan()` shows and `run()` follows, and the outcome a finished restore reports.
 */
import type { ComponentInfo } from '../../../shared/fleet.js';
import type { CutPoint, Manifest, ManifestComponent } from '../../../shared/manifest.js';
import type { AgentRestoreStep, IntegrityReport } from '../ports.js';
import type { RepositorySide } from '../snapshot/copy.js';

/** How a restore picks its snapshot. */
export type SnapshotSelector = { kind: 'id'; id: string } | { kind: 'before'; time: Date } | { kind: 'latest' };

/** What an operator asks for (`ffkeeper restore …`). */
export interface RestoreRequest {
  /** The snapshot's own site. */
  site: string;
  selector: SnapshotSelector;
  /** Component refs `kind:name` to restore; empty = all of the snapshot's. */
  components: string[];
  /** Restore into this site instead of the snapshot's own (explicit). Empty = the snapshot's site. */
  toSite?: string;
  noSafetySnapshot: boolean;
  /** Restore from the site's secondary repository (its copies), not the primary. Absent: the primary. */
  from?: RepositorySide;
}

/** One component to restore: the manifest entry and the agent of the target site that restores it. */
export interface PlannedComponent {
  /** `kind:name` */
  ref: string;
  kind: CutPoint['kind'];
  /** The host whose agent took the component in the snapshot. */
  sourceHost: string;
  /** The target site's host whose agent restores it. */
  host: string;
  /** That agent's gRPC address, as known when the plan was made. */
  address: string;
  artifact: ManifestComponent;
}

/**
 * A writer unit of the target site (findface-security of a PostgreSQL component, or sf-api), with the
 * host whose agent controls it. Plans list them in stop order: every findface-security before any sf-api.
 */
export interface PlannedWriter {
  host: string;
  /** The agent's gRPC address, as known when the plan was made. */
  address: string;
  unit: string;
  /** `postgres:<name>` for the app unit of a PostgreSQL component, `sf-api:<name>` for sf-api. */
  component: string;
  kind: Extract<ComponentInfo['kind'], 'postgres' | 'sf-api'>;
}

/** What is known about feature-vector model compatibility between the snapshot and the target. */
export type ModelCheck =
  | { status: 'compatible'; detail: string }
  | { status: 'unchecked'; detail: string }
  | { status: 'not-applicable'; detail: string };

/** One line of the plan as the CLI shows it. */
export interface PlanStep {
  host: string;
  component: string;
  action: string;
}

/** A restore plan with every name resolved; `plan()` returns it without side effects. */
export interface ResolvedRestorePlan {
  snapshot: Manifest;
  sourceSite: string;
  targetSite: string;
  /** True when restoring into another site than the snapshot's own. */
  crossSite: boolean;
  safetySnapshot: boolean;
  /** Components in the order they are restored: Tarantool shards, upload directories, PostgreSQL last. */
  components: PlannedComponent[];
  /** Writer units of the target site, in stop order. */
  writers: PlannedWriter[];
  models: ModelCheck;
  /** Things an operator should know before saying yes (unchecked models, ...). */
  notes: string[];
  steps: PlanStep[];
}

/** What happened to one component. */
export interface ComponentOutcome {
  component: string;
  host: string;
  sourceHost: string;
  steps: AgentRestoreStep[];
}

/** The integrity check's result, with the host whose agent ran it (none when no agent had one configured). */
export type IntegrityOutcome = IntegrityReport & { host: string };

/** The result of a finished restore (also stored in the job's detail as `outcome`). */
export interface RestoreOutcome {
  snapshotId: string;
  sourceSite: string;
  targetSite: string;
  /** The safety snapshot of the target site taken first; absent with `noSafetySnapshot`. */
  safetySnapshotId?: string;
  components: ComponentOutcome[];
  /** Writer units stopped for the restore and started again, as `host: unit`. */
  writersRestarted: string[];
  /** How long the site's writers were stopped (its downtime), ms. */
  writersStoppedMs: number;
  /** How long the restore (this run or resume of it) took, ms. */
  durationMs: number;
  integrity: IntegrityOutcome;
  notes: string[];
}

/** Restore stages, as job steps and in errors. */
export type RestoreStage = 'plan' | 'safety-snapshot' | 'restore' | 'stage' | 'stop-writers' | 'switch' | 'start-writers' | 'integrity-check';
