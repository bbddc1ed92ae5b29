/** Role-named ports the controller's domain depends on; adapters in transport/ implement them. */
import type { AgentDescription } from '../../shared/fleet.js';

/** Calls an agent. Implemented over gRPC by `GrpcAgentClient`. */
export interface AgentClient {
  /** The agent's own description; rejects with UnavailableError/TimeoutError when it cannot answer. */
  describe(address: string, options: { timeoutMs: number }): Promise<AgentDescription>;
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
