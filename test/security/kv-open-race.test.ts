/**
 * Processes that start together on a fresh nats-server (a fleet's controller and agents) each open the
 * presence bucket, creating it when missing, with their own TTL: the one whose create loses the race
 * opens the bucket the winner made (a clean-clone run lost an agent to "stream name already in use with
 * a different configuration"). A process that starts before its server listens waits for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPresenceBucket } from '../../shared/transport/kv.js';
import { connectNats, type NatsConnection } from '../../shared/transport/nats.js';
import { startNats, type TestNats } from '../harness/nats.js';

describe('opening a bucket that others create at the same moment', () => {
  let nats: TestNats;
  const conns: NatsConnection[] = [];

  beforeAll(async () => {
    nats = await startNats();
    for (let i = 0; i < 8; i += 1) conns.push(await connectNats({ config: nats.controller(), name: `opener-${i}`, identity: { kind: 'controller', id: 'controller-1' } }));
  }, 60_000);

  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close()));
    await nats?.stop();
  });

  it('every opener gets the one bucket, whatever TTL it asked for', async () => {
    const opened = await Promise.allSettled(conns.map((c, i) => openPresenceBucket(c, 3_000 + 1_000 * i)));
    expect(opened.filter((o) => o.status === 'rejected').map((o) => String((o as PromiseRejectedResult).reason))).toEqual([]);
    const buckets = opened.map((o) => (o as PromiseFulfilledResult<Awaited<ReturnType<typeof openPresenceBucket>>>).value);
    await buckets[0]?.put('probe', 'one');
    for (const b of buckets) expect((await b.get('probe'))?.string()).toBe('one');
  });

  it('a first connection refused (the server not listening yet: the same boot) is tried again until it comes', async () => {
    await nats.kill();
    const connecting = connectNats({ config: nats.controller(), name: 'early', identity: { kind: 'controller', id: 'controller-1' } });
    const outcome = connecting.then(() => 'connected', (err: unknown) => `failed: ${String(err)}`);
    await new Promise((r) => setTimeout(r, 1500));
    await nats.restart();
    expect(await outcome).toBe('connected');
    await (await connecting).close();
  });
});
