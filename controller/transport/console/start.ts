/** Starts the web console from the controller config (`console`), when it has one. */
import { readFileSync } from 'node:fs';
import type { ControllerConfig } from '../../../shared/config/controller.js';
import { ConfigError } from '../../../shared/errors.js';
import { readKeyFile } from '../../../shared/security/tls-files.js';
import type { ConsoleTokens } from '../../domain/access/console-tokens.js';
import type { GuardDeps } from '../guard.js';
import { ConsoleApi, type ConsoleServices } from './api.js';
import { startConsoleServer, type RunningConsoleServer } from './server.js';

/**
 * The certificate the console serves: `console.cert`/`key` when set, else the controller's own (from the
 * fleet CA), chained with the CA's so a browser told to trust the fleet CA can check it.
 */
function consoleTls(config: ControllerConfig): { cert: Buffer; key: Buffer } {
  const c = config.console;
  if (c?.cert && c.key) return { cert: readFileSync(c.cert), key: readKeyFile(c.key) };
  if (!config.tls) throw new ConfigError('controller config', ['console: needs tls or console.cert and console.key']);
  return { cert: Buffer.concat([readFileSync(config.tls.cert), Buffer.from('\n'), readFileSync(config.tls.ca)]), key: readKeyFile(config.tls.key) };
}

export async function startConsole(
  config: ControllerConfig,
  deps: { services: ConsoleServices; tokens: ConsoleTokens; guard: Pick<GuardDeps, 'access' | 'audit' | 'logger'> },
): Promise<RunningConsoleServer | undefined> {
  if (!config.console) return undefined;
  return startConsoleServer({
    listen: config.console.listen,
    tls: consoleTls(config),
    api: new ConsoleApi(deps.services, deps.guard),
    tokens: deps.tokens,
    audit: deps.guard.audit,
    logger: deps.guard.logger.child({ component: 'console' }),
  });
}
