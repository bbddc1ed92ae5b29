/** Role-named ports the agent's domain depends on; adapters in transport/ implement them. */
import type { AgentDescription } from '../../shared/fleet.js';

/** Where the agent announces itself (the presence KV bucket). */
export interface PresencePublisher {
  publish(description: AgentDescription): Promise<void>;
  /** Says goodbye (graceful stop), so the controller marks the agent offline at once. */
  withdraw(site: string, host: string): Promise<void>;
}

/** Controls the units of FindFace services on this host (systemctl, or the dev site's shim). */
export interface ServiceManager {
  start(unit: string): Promise<void>;
  stop(unit: string): Promise<void>;
  isActive(unit: string): Promise<boolean>;
}
