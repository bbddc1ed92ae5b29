import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../shared/logger.js';
import type { AgentDescription } from '../../shared/fleet.js';
import { Heartbeat } from './heartbeat.js';
import type { PresencePublisher } from './ports.js';
import { advertisedAddress } from './describe.js';

const description = { site: 'msk-1', host: 'db' } as AgentDescription;

class FakePublisher implements PresencePublisher {
  published = 0;
  withdrawn: string[] = [];
  failNext = 0;
  async publish(): Promise<void> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('nats down');
    }
    this.published += 1;
  }
  async withdraw(site: string, host: string): Promise<void> {
    this.withdrawn.push(`${site}.${host}`);
  }
}

describe('Heartbeat', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('publishes at start and on every interval, keeps beating through failures, withdraws on stop', async () => {
    vi.useFakeTimers();
    const publisher = new FakePublisher();
    const hb = new Heartbeat({ publisher, description, intervalMs: 1000, logger: silentLogger() });
    await hb.start();
    expect(publisher.published).toBe(1);
    publisher.failNext = 1;
    await vi.advanceTimersByTimeAsync(3000);
    expect(publisher.published).toBe(3);
    await hb.stop();
    expect(publisher.withdrawn).toEqual(['msk-1.db']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(publisher.published).toBe(3);
  });

  it('fails start when the first publish fails', async () => {
    const publisher = new FakePublisher();
    publisher.failNext = 1;
    const hb = new Heartbeat({ publisher, description, intervalMs: 1000, logger: silentLogger() });
    await expect(hb.start()).rejects.toThrow('nats down');
  });
});

describe('advertisedAddress', () => {
  it.each([
    { listen: '127.0.0.1:0', port: 4321, advertise: undefined, want: '127.0.0.1:4321' },
    { listen: '10.1.2.3:7701', port: 7701, advertise: 'db-1.example:7701', want: 'db-1.example:7701' },
  ])('$listen bound to $port → $want', ({ listen, port, advertise, want }) => {
    expect(advertisedAddress(listen, port, advertise)).toBe(want);
  });

  it('replaces a wildcard host by the host name', () => {
    expect(advertisedAddress('0.0.0.0:7701', 7701)).toMatch(/^[^0][^:]*:7701$/);
  });
});
