/**
 * Sync links and their parts' statuses in a real JetStream KV (own nats-server): create refuses an
 * existing link, statuses are read and purged per link only, and the service runs on the real stores.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError } from '../../shared/errors.js';
import { syncStatusKey } from '../../shared/names.js';
import type { SyncLink, SyncPartStatus } from '../../shared/sync/link.js';
import { openSyncStatusBucket } from '../../shared/transport/kv.js';
import { connectNats, type NatsConnection } from '../../shared/transport/nats.js';
import { SyncService } from '../../controller/domain/sync/service.js';
import { KvSyncCheckStore, KvSyncLinkStore, KvSyncStatusStore } from '../../controller/transport/nats-sync.js';
import { startNats, type TestNats } from '../harness/nats.js';

const link = (id: string, to: number): SyncLink => ({
  id,
  number: 1,
  from: { site: 'msk-1', list: 1 },
  to: { site: 'spb-1', list: to },
  mode: 'continuous',
  at: '03:00',
  timezone: 'UTC',
  paused: false,
  createdAt: new Date().toISOString(),
  models: {},
});

const status = (linkId: string, role: SyncPartStatus['role'], host: string): SyncPartStatus => ({
  link: linkId, role, site: 'spb-1', host, state: 'running', position: 3, pending: 0, handled: 3, errors: 0, resyncs: 0, updatedAt: new Date().toISOString(),
});

describe('sync links in JetStream KV', () => {
  let nats: TestNats;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connectNats({ config: nats.controller(), name: 'test' });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('creates once, updates, lists, deletes; a deleted id can be created again', async () => {
    const store = await KvSyncLinkStore.open(nc);
    await store.create(link('msk-1.1.spb-1.1', 1));
    const again = await store.create(link('msk-1.1.spb-1.1', 1)).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(ConflictError);
    expect((again as Error).message).toBe("sync link 'msk-1.1.spb-1.1' already exists");
    await store.update({ ...link('msk-1.1.spb-1.1', 1), paused: true });
    expect((await store.get('msk-1.1.spb-1.1'))?.paused).toBe(true);
    expect((await store.list()).map((l) => l.id)).toEqual(['msk-1.1.spb-1.1']);
    expect(await store.delete('msk-1.1.spb-1.1')).toBe(true);
    expect(await store.delete('msk-1.1.spb-1.1')).toBe(false);
    expect(await store.get('msk-1.1.spb-1.1')).toBeUndefined();
    expect(await store.list()).toEqual([]);
    await store.create(link('msk-1.1.spb-1.1', 1));
    expect(await store.get('msk-1.1.spb-1.1')).toBeDefined();
    await store.delete('msk-1.1.spb-1.1');
  });

  it('reads and purges the statuses of one link only (ids sharing a prefix stay apart)', async () => {
    const statuses = await KvSyncStatusStore.open(nc);
    const kv = await openSyncStatusBucket(nc);
    const parts = [status('msk-1.1.spb-1.1', 'apply-rows', 'db'), status('msk-1.1.spb-1.1', 'capture', 'db'), status('msk-1.1.spb-1.12', 'apply-rows', 'db')];
    for (const p of parts) await kv.put(syncStatusKey(p.link, p.role, p.host), JSON.stringify(p));
    expect((await statuses.list('msk-1.1.spb-1.1')).map((s) => s.role).sort()).toEqual(['apply-rows', 'capture']);
    await statuses.purge('msk-1.1.spb-1.1');
    expect(await statuses.list('msk-1.1.spb-1.1')).toEqual([]);
    expect((await statuses.list('msk-1.1.spb-1.12')).map((s) => s.link)).toEqual(['msk-1.1.spb-1.12']);
  });

  it('the service creates, pauses and removes on the real stores', async () => {
    const service = new SyncService({
      links: await KvSyncLinkStore.open(nc),
      statuses: await KvSyncStatusStore.open(nc),
      checks: await KvSyncCheckStore.open(nc),
      compare: () => Promise.reject(new Error('not compared here')),
      knownSites: () => ['msk-1', 'spb-1'],
      modelsOf: () => Promise.resolve({ ffsec_face_objects: 'face-v1' }),
      takeSnapshot: () => Promise.resolve('c-1'),
    });
    const v = await service.create({ from: { site: 'msk-1', list: 1 }, to: { site: 'spb-1', list: 5 } });
    expect(v).toMatchObject({ id: 'msk-1.1.spb-1.5', number: 1, safetySnapshot: 'c-1', state: 'starting' });
    expect((await service.setPaused(v.id, true)).state).toBe('paused');
    expect((await service.list('spb-1')).map((l) => [l.id, l.paused])).toEqual([['msk-1.1.spb-1.5', true]]);
    await service.remove(v.id);
    expect(await service.list()).toEqual([]);
  });
});
