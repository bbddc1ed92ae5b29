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

/** How far a journalled staged component got: staged only, switch under way, switched in. */
export type JournalSwitchState = 'staged' | 'switching' | 'switched';

/** One staged component of a two-phase restore, as the restore journal keeps it. */
export interface JournalEntry {
  jobId: string;
  /** `<kind>:<name>` */
  component: string;
  switch: JournalSwitchState;
  /** The staged component's own `journal()`. */
  state: Record<string, unknown>;
}

/**
 * The agent's restore journal (`<cacheDir>/restore-journal/`): what two-phase restores have staged and
 * how far their switches got, written durably before the live component is changed, so that an agent
 * killed during a switch can still roll it back, finish or discard it after its restart.
 */
export interface RestoreJournal {
  /** Writes (or replaces) the entry of `jobId` + `component`, durably. */
  write(entry: JournalEntry): Promise<void>;
  /** Removes the entry; nothing when there is none. */
  remove(jobId: string, component: string): Promise<void>;
  /** Every entry present (unreadable ones are named in `problems`). */
  list(): Promise<{ entries: JournalEntry[]; problems: string[] }>;
}
