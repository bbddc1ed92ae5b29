/** Controller configuration. Defaults are written here, once. */
import { z } from 'zod';
import { idSchema } from '../ids.js';
import { hostPortSchema, logSchema, natsSchema } from './common.js';
import { loadConfig } from './load.js';

export const CONTROLLER_ENV_PREFIX = 'FFK_CONTROLLER_';
export const DEFAULT_CONTROLLER_GRPC_LISTEN = '127.0.0.1:7700';

export const controllerConfigSchema = z
  .object({
    id: idSchema.default('controller-1'),
    grpc: z
      .object({ listen: hostPortSchema.default(DEFAULT_CONTROLLER_GRPC_LISTEN) })
      .strict()
      .default({ listen: DEFAULT_CONTROLLER_GRPC_LISTEN }),
    nats: natsSchema,
    agents: z
      .object({
        /** Deadline of calls the controller makes to agents. */
        callTimeoutMs: z.number().int().positive().default(5000),
      })
      .strict()
      .default({ callTimeoutMs: 5000 }),
    log: logSchema,
  })
  .strict();

export type ControllerConfig = z.output<typeof controllerConfigSchema>;

export function loadControllerConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Readonly<ControllerConfig> {
  return loadConfig({ schema: controllerConfigSchema, file, envPrefix: CONTROLLER_ENV_PREFIX, env });
}
