/** Connecting to NATS with ffkeeper's settings; a failure names the servers tried. */
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { NatsConfig } from '../config/common.js';
import { UnavailableError } from '../errors.js';
import type { PeerIdentity } from '../security/identity.js';
import { natsInboxPrefix } from '../security/nats-permissions.js';
import { readNatsSeed } from '../security/nats-users.js';

export type { NatsConnection } from '@nats-io/transport-node';

export interface NatsConnectOptions {
  config: NatsConfig;
  /** Connection name shown by the server (e.g. "ffkeeper-agent msk-1/db"). */
  name: string;
  /** Who connects: its replies arrive on its own inbox prefix (the only subjects its permissions let it receive). */
  identity?: PeerIdentity;
}

export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const { config } = options;
  // Read before connecting, so a missing or loose seed file is named as such.
  const seed = config.seedFile === undefined ? undefined : readNatsSeed(config.seedFile);
  try {
    return await connect({
      servers: config.servers,
      name: config.name ?? options.name,
      ...(config.user === undefined ? {} : { user: config.user }),
      ...(config.pass === undefined ? {} : { pass: config.pass }),
      ...(config.token === undefined ? {} : { token: config.token }),
      ...(seed === undefined ? {} : { authenticator: nkeyAuthenticator(seed) }),
      ...(options.identity === undefined ? {} : { inboxPrefix: natsInboxPrefix(options.identity) }),
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
  } catch (err) {
    throw new UnavailableError(`cannot connect to NATS at ${config.servers.join(', ')}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
