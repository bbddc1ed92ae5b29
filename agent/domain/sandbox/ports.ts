/** The port of the agent's sandbox area; `agent/adapters/sandbox-store.ts` implements it on disk. */
import type { SandboxResource } from '../drivers/types.js';

/**
 * Where an agent keeps its verify drills' sandboxes (`<cacheDir>/sandbox/<id>/`): one directory per
 * component, and a ledger of every resource a sandbox made outside its directory (scratch databases,
 * scratch instances), written before the resource is made.
 */
export interface SandboxStore {
  /** The sandbox area, for messages. */
  readonly root: string;
  /** True when the sandbox exists (its directory is there). */
  exists(sandboxId: string): Promise<boolean>;
  /** A fresh, empty directory for one component of the sandbox (`<kind>-<name>`); creates the sandbox when missing. */
  componentDir(sandboxId: string, component: string): Promise<string>;
  /** Appends a resource to the sandbox's ledger, durably. */
  record(sandboxId: string, resource: SandboxResource): Promise<void>;
  /** The ledger in recording order; undefined when the agent holds no such sandbox. */
  resources(sandboxId: string): Promise<SandboxResource[] | undefined>;
  /** Writes a file into the sandbox's directory (creating the sandbox when missing); returns its path. */
  writeFile(sandboxId: string, name: string, content: string): Promise<string>;
  /** The ids of every sandbox present. */
  list(): Promise<string[]>;
  /** Removes the sandbox's directory and everything in it; false when there was none. */
  remove(sandboxId: string): Promise<boolean>;
}
