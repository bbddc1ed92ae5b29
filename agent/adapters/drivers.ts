/**
 * Builds this agent's component drivers from its config. `sf-api` components are described (for
 * discovery and runbooks) but hold no data of their own, so they get no driver.
 */
import path from 'node:path';
import type { AgentConfig } from '../../shared/config/agent.js';
import type { Logger } from '../../shared/logger.js';
import type { ComponentDriver } from '../domain/drivers/types.js';
import type { ServiceManager } from '../domain/ports.js';
import { createPostgresDriver } from './postgres/factory.js';
import { SystemctlServiceManager } from './systemctl.js';
import { createTarantoolDriver } from './tarantool/factory.js';
import { createUploadsDriver } from './uploads/factory.js';

export function createDrivers(config: AgentConfig, logger: Logger, services?: ServiceManager): ComponentDriver[] {
  const units = services ?? new SystemctlServiceManager({ pathPrepend: config.pathPrepend, timeoutMs: config.units.timeoutMs });
  const drivers: ComponentDriver[] = [];
  for (const c of config.components) {
    const log = logger.child({ component: `${c.kind}:${c.name}` });
    switch (c.kind) {
      case 'postgres':
        drivers.push(createPostgresDriver(c, { logger: log, pathPrepend: config.pathPrepend, services: units }));
        break;
      case 'tarantool':
        drivers.push(createTarantoolDriver(c, { services: units, logger: log }));
        break;
      case 'uploads':
        // A view directory of its own per component, kept across backups (restic's parent by paths).
        drivers.push(createUploadsDriver(c, { host: config.host, logger: log, viewDir: path.join(config.cacheDir, 'uploads-view', c.name) }));
        break;
      case 'sf-api':
        break;
    }
  }
  return drivers;
}
