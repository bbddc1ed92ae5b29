/**
 * Wires an `UploadsDriver` from its component config (`kind: 'uploads'` in the agent config) with the
 * node:fs adapters, including the deletion shield (inotify watcher + hard links in `<root>/.ffk-shield`).
 */
import os from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import type { uploadsComponentSchema } from '../../../shared/config/agent.js';
import type { Logger } from '../../../shared/logger.js';
import { UploadsDriver } from '../../domain/drivers/uploads/driver.js';
import { FsDeletionShield } from './fs-shield.js';
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
  /** Keep a deletion shield (default true); without it files deleted between a cut and its upload are lost. */
  shield?: boolean;
  /** Settle of the freeze (see `UploadsDriverOptions.settle`). */
  settle?: { graceMs: number; capMs: number };
  /** Where restic sees the shields under the roots' names (see `UploadsDriverOptions.viewDir`); default in the OS temp directory. */
  viewDir?: string;
  logger?: Logger;
}

/** Builds the driver of one uploads component. Call `open()` to start its shield (else the first `prepare()` does). */
export function createUploadsDriver(config: UploadsComponentConfig, wiring: UploadsDriverWiring = {}): UploadsDriver {
  return new UploadsDriver({
    name: config.name,
    paths: config.paths,
    tree: new FsUploadTree(),
    area: new FsRestoreArea(),
    ...(wiring.shield === false ? {} : { shield: new FsDeletionShield(wiring.logger ? { logger: wiring.logger } : {}) }),
    ...(wiring.host !== undefined ? { host: wiring.host } : {}),
    ...(wiring.keepAside !== undefined ? { keepAside: wiring.keepAside } : {}),
    ...(wiring.settle !== undefined ? { settle: wiring.settle } : {}),
    viewDir: wiring.viewDir ?? path.join(os.tmpdir(), 'ffkeeper-uploads-view', config.name),
    ...(wiring.logger !== undefined ? { logger: wiring.logger } : {}),
  });
}
