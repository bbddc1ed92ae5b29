/**
 * The controller's composition root: NATS (presence watch, fleet bucket), the fleet inventory and the
 * Controller gRPC server. `main.ts` calls it after loading config; tests can call it in-process.
 */
import type { ControllerConfig } from '../shared/config/controller.js';
import type { Logger } from '../shared/logger.js';
import { DEFAULT_PRESENCE_TTL_SECONDS } from '../shared/config/agent.js';
import { connectNats, type NatsConnection } from '../shared/transport/nats.js';
import { openFleetBucket, openPresenceBucket } from '../shared/transport/kv.js';
import { FleetInventory } from './domain/fleet.js';
import { FleetService } from './domain/fleet-service.js';
import { GrpcAgentClient } from './transport/grpc-agent-client.js';
import { startControllerGrpcServer } from './transport/grpc-server.js';
import { KvFleetStore, watchPresence } from './transport/nats-fleet.js';

export interface RunningController {
  /** Address the gRPC server is bound to (host:port). */
  address: string;
  stop(): Promise<void>;
}

export async function startController(config: ControllerConfig, logger: Logger): Promise<RunningController> {
  const log = logger.child({ controller: config.id });
  const nc: NatsConnection = await connectNats({ config: config.nats, name: `ffkeeper-controller ${config.id}` });
  const agents = new GrpcAgentClient();
  try {
    const inventory = new FleetInventory();
    const store = new KvFleetStore(await openFleetBucket(nc));
    inventory.restore(await store.loadAll());
    const presence = await openPresenceBucket(nc, DEFAULT_PRESENCE_TTL_SECONDS * 1000);
    const watch = await watchPresence(
      presence,
      (update) => {
        const changed = inventory.apply(update);
        if (!changed) return;
        const { site, host } = changed.description;
        log.info({ site, host, event: update.kind }, update.kind === 'seen' ? 'agent online' : 'agent said goodbye');
        store.save(changed).catch((err: unknown) => log.warn({ err, site, host }, 'could not persist fleet record'));
      },
      log,
    );
    const fleet = new FleetService(inventory, agents, config.agents.callTimeoutMs);
    const grpc = await startControllerGrpcServer(config.grpc.listen, { fleet });
    const host = config.grpc.listen.slice(0, config.grpc.listen.lastIndexOf(':'));
    const address = `${host}:${grpc.port}`;
    log.info({ address, agents: inventory.list().length }, 'controller started');
    return {
      address,
      async stop() {
        watch.stop();
        await grpc.stop();
        agents.close();
        await nc.drain().catch(() => nc.close());
        log.info('controller stopped');
      },
    };
  } catch (err) {
    agents.close();
    await nc.close();
    throw err;
  }
}
