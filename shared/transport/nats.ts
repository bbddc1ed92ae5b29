/** Connecting to NATS with ffkeeper's settings; a failure names the servers tried. */
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { DEFAULT_NATS_REPLICAS, type NatsConfig } from '../config/common.js';
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

/**
 * How long an authorization refusal must last before it counts: nats-server 2.9 refuses a connection
 * that arrives while it reloads its users (every issue, enrolment and revocation reloads it), so a
 * refusal is tried again until it has lasted this long — a revoked key is still refused within it.
 */
export const AUTH_REFUSAL_GRACE_MS = 4000;
/** A connection attempt the server does not answer (it can hang one that arrives mid-reload) is given up after this, and tried again. */
const CONNECT_ATTEMPT_MS = 5000;
const CONNECT_ATTEMPTS_UNANSWERED = 4;
/**
 * How long a refused first connection is tried again: a NATS server starting at the same time as the
 * process (the same boot, a cluster coming up) is not listening yet. A server that stays away is an error.
 */
export const CONNECT_REFUSED_GRACE_MS = 15_000;

const isAuthError = (err: unknown): boolean => /Authorization Violation|authentication/i.test(err instanceof Error ? err.message : String(err));

/** The JetStream replicas configured for what each connection creates (`nats.replicas`). */
const replicasByConnection = new WeakMap<NatsConnection, number>();

/** How many replicas a stream or bucket created over `nc` gets: its config's `nats.replicas`, else 1. */
export function jetStreamReplicas(nc: NatsConnection): number {
  return replicasByConnection.get(nc) ?? DEFAULT_NATS_REPLICAS;
}

export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const nc = await connectOnce(options);
  replicasByConnection.set(nc, options.config.replicas ?? DEFAULT_NATS_REPLICAS);
  return nc;
}

async function connectOnce(options: NatsConnectOptions): Promise<NatsConnection> {
  const { config } = options;
  // Read before connecting, so a missing or loose seed file is named as such.
  const seed = config.seedFile === undefined ? undefined : readNatsSeed(config.seedFile);
  const started = Date.now();
  let unanswered = 0;
  for (;;) {
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
        timeout: CONNECT_ATTEMPT_MS,
        // A reconnect refused while the server reloads is tried again; a lasting refusal is judged by
        // the owner of the connection (watchAuthRefusal).
        ignoreAuthErrorAbort: true,
        // Without this, nats.js builds an Error (stack trace included) for every request, in case it
        // fails — every JetStream publish and ack too. During the sync bench's initial sync that was
        // 0.5-0.7 s of each publishing agent's loop. ffkeeper names a failed request in its own errors.
        noAsyncTraces: true,
      });
    } catch (err) {
      if (isAuthError(err) && Date.now() - started < AUTH_REFUSAL_GRACE_MS) {
        await new Promise((r) => setTimeout(r, 250));
        continue;
      }
      if (/timeout/i.test((err as Error).message) && ++unanswered < CONNECT_ATTEMPTS_UNANSWERED) continue;
      if (/connection refused|ECONNREFUSED/i.test((err as Error).message) && Date.now() - started < CONNECT_REFUSED_GRACE_MS) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      throw new UnavailableError(`cannot connect to NATS at ${config.servers.join(', ')}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

/**
 * Resolves with the refusal when the server has refused this connection's credentials for
 * `AUTH_REFUSAL_GRACE_MS` without a successful reconnect (its key revoked or replaced); never when
 * the connection closes normally.
 */
export function watchAuthRefusal(nc: NatsConnection): Promise<Error | undefined> {
  return new Promise((resolve) => {
    let since: number | undefined;
    let last: Error | undefined;
    const timer = setInterval(() => {
      if (since !== undefined && Date.now() - since >= AUTH_REFUSAL_GRACE_MS) {
        clearInterval(timer);
        resolve(last ?? new Error('Authorization Violation'));
      }
    }, 250);
    timer.unref();
    void nc.closed().then((err) => {
      clearInterval(timer);
      resolve(err && isAuthError(err) ? err : undefined);
    });
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && isAuthError((s as { error?: unknown }).error)) {
          last = (s as { error: Error }).error;
          since ??= Date.now();
        } else if (s.type === 'reconnect') since = undefined;
      }
    })().catch(() => undefined);
  });
}
