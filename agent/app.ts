/**
 * The agent's composition root: wires config, NATS presence and the gRPC server together. `main.ts`
 * calls it after loading config; tests can call it in-process.
 */
import type { AgentConfig } from '../shared/config/agent.js';
import type { Logger } from '../shared/logger.js';
import { connectNats, type NatsConnection } from '../shared/transport/nats.js';
import { openPresenceBucket } from '../shared/transport/kv.js';
import { advertisedAddress, buildDescription } from './domain/describe.js';
import { Heartbeat } from './domain/heartbeat.js';
import { startAgentGrpcServer } from './transport/grpc-server.js';
import { KvPresencePublisher } from './transport/nats-presence.js';
import type { AgentDescription } from '../shared/fleet.js';

export interface RunningAgent {
  description: AgentDescription;
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, logger: Logger): Promise<RunningAgent> {
  const log = logger.child({ site: config.site, host: config.host });
  let description: AgentDescription | undefined;
  const grpc = await startAgentGrpcServer(config.grpc.listen, {
    describe: () => {
      if (!description) throw new Error('agent is starting');
      return description;
    },
  });
  let nc: NatsConnection | undefined;
  try {
    nc = await connectNats({ config: config.nats, name: `ffkeeper-agent ${config.site}/${config.host}` });
    const kv = await openPresenceBucket(nc, config.presence.ttlSeconds * 1000);
    const grpcAddress = advertisedAddress(config.grpc.listen, grpc.port, config.grpc.advertise);
    description = buildDescription({ config, grpcAddress, startedAt: new Date() });
    const heartbeat = new Heartbeat({
      publisher: new KvPresencePublisher(kv),
      description,
      intervalMs: config.presence.heartbeatSeconds * 1000,
      logger: log,
    });
    await heartbeat.start();
    log.info({ grpcAddress, components: description.components.length }, 'agent started');
    const conn = nc;
    const started = description;
    return {
      description: started,
      async stop() {
        await heartbeat.stop().catch((err: unknown) => log.warn({ err }, 'could not withdraw presence'));
        await grpc.stop();
        await conn.drain().catch(() => conn.close());
        log.info('agent stopped');
      },
    };
  } catch (err) {
    await grpc.stop();
    await nc?.close();
    throw err;
  }
}
