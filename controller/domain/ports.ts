/** Role-named ports the controller's domain depends on; adapters in transport/ implement them. */
import type { AgentDescription } from '../../shared/fleet.js';
import type { ComponentArtifact, CutPoint } from '../../shared/manifest.js';

/** How an agent opens the site's repository for one job (the password is a secret). */
export interface RepositoryAccess {
  url: string;
  password: string;
  env: Record<string, string>;
}

/** Per-component progress an agent reports during upload or restore. */
export interface AgentProgress {
  component: string;
  bytesDone: number;
  bytesTotal: number;
  filesDone: number;
  filesTotal: number;
  etaSeconds: number;
}

export interface AgentRestoreStep {
  component: string;
  step: string;
  ok: boolean;
  durationMs: number;
  detail: string;
}

export interface CallTimeout {
  timeoutMs: number;
}

/** Calls an agent. Implemented over gRPC by `GrpcAgentClient`; every call has a deadline. */
export interface AgentClient {
  /** The agent's own description; rejects with UnavailableError/TimeoutError when it cannot answer. */
  describe(address: string, options: CallTimeout): Promise<AgentDescription>;
  prepare(
    address: string,
    req: { cutId: string; site: string; components: string[]; leaseMs: number; repository: RepositoryAccess },
    options: CallTimeout,
  ): Promise<string[]>;
  freeze(address: string, cutId: string, options: CallTimeout): Promise<void>;
  cut(address: string, cutId: string, options: CallTimeout): Promise<CutPoint[]>;
  thaw(address: string, cutId: string, options: CallTimeout): Promise<{ freezeWindowMs: number }>;
  abort(address: string, cutId: string, reason: string, options: CallTimeout): Promise<void>;
  upload(
    address: string,
    req: { cutId: string; jobId: string; site: string; repository: RepositoryAccess },
    options: CallTimeout & { onProgress?: (p: AgentProgress) => void; signal?: AbortSignal },
  ): Promise<ComponentArtifact[]>;
  restore(
    address: string,
    req: { jobId: string; artifacts: ComponentArtifact[]; repository: RepositoryAccess; targetDir?: string },
    options: CallTimeout & { onProgress?: (p: AgentProgress) => void; onStep?: (s: AgentRestoreStep) => void; signal?: AbortSignal },
  ): Promise<AgentRestoreStep[]>;
  close(): void;
}

/** A change seen in the presence bucket. */
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
