/** PresencePublisher over the NATS KV presence bucket. */
import type { KV } from '../../shared/transport/kv.js';
import type { AgentDescription } from '../../shared/fleet.js';
import { agentKey } from '../../shared/names.js';
import type { PresencePublisher } from '../domain/ports.js';

export class KvPresencePublisher implements PresencePublisher {
  constructor(private readonly kv: KV) {}

  async publish(description: AgentDescription): Promise<void> {
    await this.kv.put(agentKey(description.site, description.host), JSON.stringify(description));
  }

  async withdraw(site: string, host: string): Promise<void> {
    await this.kv.delete(agentKey(site, host));
  }
}
