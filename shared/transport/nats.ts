/** Connecting to NATS with ffkeeper's settings; a failure names the servers tried. */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { NatsConfig } from '../config/common.js';
import { UnavailableError } from '../errors.js';

export type { NatsConnection } from '@nats-io/transport-node';

export interface NatsConnectOptions {
  config: NatsConfig;
  /** Connection name shown by the server (e.g. "ffkeeper-agent msk-1/db"). */
  name: string;
}

export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const { config } = options;
  try {
    return await connect({
      servers: config.servers,
      name: config.name ?? options.name,
      ...(config.user === undefined ? {} : { user: config.user }),
      ...(config.pass === undefined ? {} : { pass: config.pass }),
      ...(config.token === undefined ? {} : { token: config.token }),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
  } catch (err) {
    throw new UnavailableError(`cannot connect to NATS at ${config.servers.join(', ')}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
