/** Role-named ports the agent's domain depends on; adapters in transport/ implement them. */
import type { AgentDescription } from '../../shared/fleet.js';

/** Where the agent announces itself (the presence KV bucket). */
export interface PresencePublisher {
  publish(description: AgentDescription): Promise<void>;
  /** Says goodbye (graceful stop), so the controller marks the agent offline at once. */
  withdraw(site: string, host: string): Promise<void>;
}

export interface UnitOptions {
  timeoutMs?: number;
}

/** Controls the units of FindFace services on this host (systemctl, or the dev site's shim). */
export interface ServiceManager {
  /** Starts `unit`; `timeoutMs` shortens the manager's own bound (e.g. to a caller's remaining deadline). */
  start(unit: string, options?: UnitOptions): Promise<void>;
  stop(unit: string, options?: UnitOptions): Promise<void>;
  isActive(unit: string): Promise<boolean>;
}
