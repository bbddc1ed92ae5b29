/**
 * Keeps an agent's presence alive: publishes its description at start and every heartbeat, withdraws
 * it on stop. A failed publish is logged and retried at the next beat (NATS reconnects by itself);
 * the controller sees the agent offline if beats stop arriving for longer than the TTL.
 */
import type { Logger } from '../../shared/logger.js';
import type { AgentDescription } from '../../shared/fleet.js';
import type { PresencePublisher } from './ports.js';

export interface HeartbeatOptions {
  publisher: PresencePublisher;
  description: AgentDescription;
  intervalMs: number;
  logger: Logger;
}

export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> = Promise.resolve();
  private failures = 0;

  constructor(private readonly options: HeartbeatOptions) {}

  /** Publishes once (failing loudly if the first publish fails), then keeps beating. */
  async start(): Promise<void> {
    await this.options.publisher.publish(this.options.description);
    this.timer = setInterval(() => {
      this.beating = this.beat();
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.beating;
    const { site, host } = this.options.description;
    await this.options.publisher.withdraw(site, host);
  }

  private async beat(): Promise<void> {
    try {
      await this.options.publisher.publish(this.options.description);
      if (this.failures > 0) this.options.logger.info({ failures: this.failures }, 'presence heartbeat recovered');
      this.failures = 0;
    } catch (err) {
      this.failures += 1;
      if (this.failures === 1 || this.failures % 10 === 0) {
        this.options.logger.warn({ err, failures: this.failures }, 'presence heartbeat failed');
      }
    }
  }
}
