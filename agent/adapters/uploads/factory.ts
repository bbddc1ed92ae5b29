/**
 * Wires an `UploadsDriver` from its component config (`kind: 'uploads'` in the agent config) with the
 * node:fs adapters.
 */
import type { z } from 'zod';
import type { uploadsComponentSchema } from '../../../shared/config/agent.js';
import { UploadsDriver } from '../../domain/drivers/uploads/driver.js';
import { FsRestoreArea } from './fs-restore-area.js';
import { FsUploadTree } from './fs-tree.js';

/** The parsed config of one uploads component. */
export type UploadsComponentConfig = z.output<typeof uploadsComponentSchema>;

/** Options that are not part of the component config. */
export interface UploadsDriverWiring {
  /** The agent's host id: recorded on snapshots and used to pick the parent snapshot. */
  host?: string;
  /** Keep a restore's previous entries aside instead of deleting them (default false). */
  keepAside?: boolean;
}

/** Builds the driver of one uploads component. */
export function createUploadsDriver(config: UploadsComponentConfig, wiring: UploadsDriverWiring = {}): UploadsDriver {
  return new UploadsDriver({
    name: config.name,
    paths: config.paths,
    tree: new FsUploadTree(),
    area: new FsRestoreArea(),
    ...(wiring.host !== undefined ? { host: wiring.host } : {}),
    ...(wiring.keepAside !== undefined ? { keepAside: wiring.keepAside } : {}),
  });
}
