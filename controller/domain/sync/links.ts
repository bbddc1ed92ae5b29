/**
 * The ports of watch-list sync links (DESIGN.md §8): where the controller keeps the link records the
 * agents of both sites watch, and where the parts of each link report their state.
 */
import type { SyncCheckReport } from '../../../shared/sync/inspect.js';
import type { SyncLink, SyncPartStatus } from '../../../shared/sync/link.js';

/** Link records by id. */
export interface SyncLinkStore {
  get(id: string): Promise<SyncLink | undefined>;
  list(): Promise<SyncLink[]>;
  /** Stores a new link; throws a ConflictError naming it when a link with its id exists. */
  create(link: SyncLink): Promise<void>;
  /** Replaces a stored link (pause, resume). */
  update(link: SyncLink): Promise<void>;
  /** Deletes a link; false when there was none. */
  delete(id: string): Promise<boolean>;
}

/** What the parts of the links report (written by the agents). */
export interface SyncStatusStore {
  /** The latest status of every part of one link. */
  list(linkId: string): Promise<SyncPartStatus[]>;
  /** Forgets every status of one link (after it was removed). */
  purge(linkId: string): Promise<void>;
}

/** The last full comparison of each link. */
export interface SyncCheckStore {
  get(linkId: string): Promise<SyncCheckReport | undefined>;
  put(report: SyncCheckReport): Promise<void>;
  delete(linkId: string): Promise<void>;
}
