/**
 * A dev site whose picked port is taken before its unit binds it (another test's site on the machine
 * can take it in between): `upSite` takes the half-made site down and makes it again on fresh ports.
 * The port picker is wrapped so that shard-001's port is one this test holds open.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { upSite } from '../../deploy/dev-site/index.js';
import type * as Net from '../../shared/net.js';
import { cleanRoot, portsOf, testRoot, uniqueSite } from './fixtures.js';

const held = vi.hoisted(() => ({ port: 0, calls: 0 }));

vi.mock('../../shared/net.js', async (importOriginal) => {
  const real = await importOriginal<typeof Net>();
  return {
    ...real,
    // buildState picks pgbouncer's port and sf-api's, then the shards' (with room for a migration's new
    // shards beside them): shard-001's first pick is the held one.
    freePortWithRoom: async (offsets: readonly number[], host?: string) => {
      held.calls += 1;
      return held.calls === 1 ? held.port : real.freePortWithRoom(offsets, host);
    },
  };
});

const root = testRoot();
const server = net.createServer();

describe('dev site ports', () => {
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    held.port = (server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    server.close();
    await cleanRoot(root);
  }, 60_000);

  it('are picked again when one was taken before its unit bound it', async () => {
    const said: string[] = [];
    const { state } = await upSite({ site: uniqueSite('port'), root, shards: 1, dossiers: 5, events: 10, onProgress: (m) => said.push(m) });
    expect(said.filter((m) => m.includes('was taken meanwhile'))).toHaveLength(1);
    expect(held.calls).toBeGreaterThan(2); // the site's shard ports were picked again (2 per shard)
    expect(portsOf(state)).not.toContain(held.port);
    expect(state.shards[0]?.port).not.toBe(held.port);
  }, 120_000);
});
