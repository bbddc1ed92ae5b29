/** Role-named ports the controller's domain depends on; adapters in transport/ implement them. */
import type { AgentDescription } from '../../shared/fleet.js';
import type { JobEvent, JobProgress, JobRecord } from '../../shared/jobs.js';
import type { FreezeAlso, FreezeOutcome } from '../../shared/cut.js';
import type { ComponentArtifact, CutPoint, Manifest } from '../../shared/manifest.js';
import type { RestorePhase } from '../../shared/restore-phases.js';
import type { Repository } from '../../shared/repository/repository.js';
import type { SandboxComponent, SandboxDescription } from '../../shared/sandbox.js';
import type { Verification } from '../../shared/verification.js';
import type { InspectRequest, InspectResult } from '../../shared/sync/inspect.js';
import type { CredentialSets } from './repository/qualify.js';

/** How an agent opens the site's repository for one job (the password is a secret). */
export type { RepositoryAccess } from '../../shared/repository/access.js';
import type { RepositoryAccess } from '../../shared/repository/access.js';

/** Per-component progress an agent reports during upload or restore (the job progress shape). */
export type AgentProgress = JobProgress;

export interface AgentRestoreStep {
  component: string;
  step: string;
  ok: boolean;
  durationMs: number;
  detail: string;
}

/** One agent call's deadline and what the call does: a deadline that fires names both (see deadlines.ts). */
export interface CallDeadline {
  timeoutMs: number;
  /** What the call does, e.g. `freeze` or `start findface-security on host 'db'`. */
  operation?: string;
  /** The config field that sets this deadline, e.g. `agents.deadlines.unitControlMs`. */
  setting?: string;
}

/**
 * The parents of a cut's incremental backups, per component (its snapshot in the newest sealed cut);
 * `parentsComplete`: a component not named there has none (else the agent looks parents up itself).
 */
export interface UploadParents {
  parents?: Record<string, string>;
  parentsComplete?: boolean;
}

/** Calls an agent. Implemented over gRPC by `GrpcAgentClient`; every call has a deadline. */
export interface AgentClient {
  /** The agent's own description; rejects with UnavailableError/TimeoutError when it cannot answer. */
  describe(address: string, options: CallDeadline): Promise<AgentDescription>;
  /** `parents`, `parentsComplete`: what this cut's `upload` will send (a component may open its backup now). */
  prepare(
    address: string,
    req: { cutId: string; site: string; components: string[]; leaseMs: number; freezeWithinMs?: number; repository: RepositoryAccess } & UploadParents,
    options: CallDeadline,
  ): Promise<string[]>;
  /**
   * Freezes the agent's components. `also.cut`: takes the cut in the same call; `also.thawIfHoldingNone`:
   * then ends the freeze at once when none of the agent's components holds the site's writes. The outcome
   * says what the agent did: one that did not cut still needs `cut`, one that did not thaw needs `thaw`.
   */
  freeze(address: string, cutId: string, options: CallDeadline, also?: FreezeAlso): Promise<FreezeOutcome>;
  cut(address: string, cutId: string, options: CallDeadline): Promise<CutPoint[]>;
  thaw(address: string, cutId: string, options: CallDeadline): Promise<{ freezeWindowMs: number }>;
  abort(address: string, cutId: string, reason: string, options: CallDeadline): Promise<void>;
  /** `parents`, `parentsComplete`: see `UploadParents`. */
  upload(
    address: string,
    req: { cutId: string; jobId: string; site: string; repository: RepositoryAccess } & UploadParents,
    options: CallDeadline & { onProgress?: (p: AgentProgress) => void; signal?: AbortSignal },
  ): Promise<ComponentArtifact[]>;
  restore(
    address: string,
    req: { jobId: string; artifacts: ComponentArtifact[]; repository: RepositoryAccess; targetDir?: string; phase?: RestorePhase },
    options: CallDeadline & { onProgress?: (p: AgentProgress) => void; onStep?: (s: AgentRestoreStep) => void; signal?: AbortSignal },
  ): Promise<AgentRestoreStep[]>;
  /**
   * Restores artifacts into a sandbox of the agent (a verify drill: scratch database, scratch Tarantool
   * instances, temp directories; the live site is not touched); says where each component can be reached.
   */
  restoreSandbox(
    address: string,
    req: { jobId: string; sandboxId: string; artifacts: ComponentArtifact[]; repository: RepositoryAccess },
    options: CallDeadline & { onProgress?: (p: AgentProgress) => void; onStep?: (s: AgentRestoreStep) => void; signal?: AbortSignal },
  ): Promise<{ steps: AgentRestoreStep[]; components: SandboxComponent[] }>;
  /**
   * Writes the host's part of a snapshot in FindFace's backup layout into `toDir` on the agent's host (a
   * snapshot export): its Tarantool and uploads artifacts read from the sandbox they were restored into
   * (`sandbox`: what restoreSandbox reported), its database dump from the repository.
   */
  exportSnapshot(
    address: string,
    req: { jobId: string; artifacts: ComponentArtifact[]; repository: RepositoryAccess; sandboxId: string; sandbox: SandboxComponent[]; toDir: string; manifestJson: string },
    options: CallDeadline & { signal?: AbortSignal },
  ): Promise<{ dir: string; files: ExportedFileInfo[] }>;
  /**
   * Brings the agent's part of an export (`fromDir` on its host) into the repository as artifacts of the
   * new snapshot `cutId`, its components those of `base` (its artifacts in the site's newest sealed snapshot).
   */
  importSnapshot(
    address: string,
    req: { jobId: string; site: string; cutId: string; fromDir: string; base: ComponentArtifact[]; repository: RepositoryAccess },
    options: CallDeadline & { signal?: AbortSignal },
  ): Promise<{ artifacts: ComponentArtifact[]; time: Date; source?: { site: string; cutId: string } }>;
  /** Removes a sandbox of the agent (idempotent): scratch instances stopped, scratch databases dropped, directory removed. */
  dropSandbox(address: string, sandboxId: string, options: CallDeadline): Promise<{ existed: boolean; released: string[] }>;
  /** Starts, stops or asks about units on the agent's host (e.g. stop findface-security before a restore). */
  controlUnits(address: string, req: { action: 'start' | 'stop'; units: string[] }, options: CallDeadline): Promise<void>;
  /**
   * Runs the site's integrity check configured on that agent; `configured: false` when it has none.
   * With `sandbox`, the check runs on that sandbox instead of the live site.
   */
  runCheck(address: string, options: CallDeadline & { sandbox?: SandboxDescription }): Promise<IntegrityReport>;
  /** Watch-list sync: digests of what the agent holds of a linked list, or the master's repair (shared/sync/inspect.ts). */
  inspectSync(address: string, request: InspectRequest, options: CallDeadline): Promise<InspectResult>;
  close(): void;
}

/** A file a snapshot export wrote on an agent's host. */
export interface ExportedFileInfo {
  name: string;
  bytes: number;
  sha256: string;
  /** What it holds, for people. */
  holds: string;
}

/** The result of a site's integrity check (the dev site's checker, or a site's own). */
export interface IntegrityReport {
  configured: boolean;
  ok: boolean;
  errors: number;
  warnings: number;
  /** The checker's own summary, for people. */
  summary: string;
}

/** Sealed snapshots (manifests) by site. Only what is here exists for list, restore and retention. */
export interface CatalogStore {
  put(manifest: Manifest): Promise<void>;
  get(site: string, cutId: string): Promise<Manifest | undefined>;
  /** A site's manifests, newest first. */
  list(site: string): Promise<Manifest[]>;
  /** Finds a cut by id in any site. */
  find(cutId: string): Promise<Manifest | undefined>;
  delete(site: string, cutId: string): Promise<void>;
}

/** The latest verification of each snapshot, by site and cut id. */
export interface VerificationStore {
  put(verification: Verification): Promise<void>;
  get(site: string, cutId: string): Promise<Verification | undefined>;
  /** A site's verifications (one per verified snapshot, any order). */
  list(site: string): Promise<Verification[]>;
}

/** Job records (one per job id). */
export interface JobStore {
  put(record: JobRecord): Promise<void>;
  get(id: string): Promise<JobRecord | undefined>;
  /** Newest first. */
  list(filter: { site?: string; limit?: number }): Promise<JobRecord[]>;
}

/** The audit trail of job events. */
export interface EventLog {
  publish(event: JobEvent): Promise<void>;
  /** Every event of a job so far, oldest first. */
  history(site: string, jobId: string): Promise<JobEvent[]>;
}

/** Each site's repository: how agents reach it, and the controller's own handle on it. */
export interface SiteRepositories {
  /** Access for agents (URL, password, env); creates and initialises the repository on first use. */
  access(site: string): Promise<RepositoryAccess>;
  /** The controller's own handle: the maintenance credentials when configured apart, else the agents'. */
  open(site: string): Promise<Repository>;
  /** Both credential sets, for storage qualification (see domain/repository/qualify.ts). */
  credentialSets(site: string): Promise<CredentialSets>;
  /**
   * The site's secondary repository (another storage location, for copies of its sealed snapshots), created
   * on first use: the access agents get to restore or verify from it, and the controller's handle on it.
   * Undefined when the site has none configured.
   */
  secondary(site: string): Promise<SecondaryRepository | undefined>;
}

/** A site's secondary repository: see `SiteRepositories.secondary`. */
export interface SecondaryRepository {
  access: RepositoryAccess;
  repository: Repository;
}
export type PresenceUpdate =
  | { kind: 'seen'; description: AgentDescription; seenAt: Date }
  | { kind: 'gone'; site: string; host: string; at: Date };

/** Durable memory of every agent the controller has seen, so offline agents outlive a restart. */
export interface FleetStore {
  loadAll(): Promise<FleetRecord[]>;
  save(record: FleetRecord): Promise<void>;
}

export interface FleetRecord {
  description: AgentDescription;
  lastSeen: Date;
  /** Set when the agent said goodbye (graceful stop). */
  goneAt?: Date;
}
