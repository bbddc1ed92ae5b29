import { describe, expect, it } from 'vitest';
import type { AgentDescription } from '../../shared/fleet.js';
import { FleetInventory } from './fleet.js';

function desc(site: string, host: string, ttl = 3): AgentDescription {
  return {
    site,
    host,
    version: '0.1.0',
    grpcAddress: '127.0.0.1:1',
    roles: ['postgres'],
    components: [{ kind: 'uploads', name: 'uploads', paths: ['/x'] }],
    startedAt: new Date(0),
    heartbeatSeconds: 1,
    presenceTtlSeconds: ttl,
    hostname: 'h',
    pid: 1,
  };
}

describe('FleetInventory', () => {
  it.each([
    { ageMs: 0, status: 'online' },
    { ageMs: 2999, status: 'online' },
    { ageMs: 3000, status: 'online' },
    { ageMs: 3001, status: 'offline' },
    { ageMs: 60_000, status: 'offline' },
  ])('an agent last seen $ageMs ms ago with TTL 3 s is $status', ({ ageMs, status }) => {
    const now = new Date(100_000);
    const inv = new FleetInventory(() => now);
    inv.apply({ kind: 'seen', description: desc('msk-1', 'db'), seenAt: new Date(now.getTime() - ageMs) });
    expect(inv.get('msk-1', 'db')?.status).toBe(status);
  });

  it('marks an agent offline at once when it says goodbye, and online again when it returns', () => {
    let now = new Date(10_000);
    const inv = new FleetInventory(() => now);
    inv.apply({ kind: 'seen', description: desc('msk-1', 'db'), seenAt: now });
    expect(inv.apply({ kind: 'gone', site: 'msk-1', host: 'db', at: now })).toBeDefined();
    expect(inv.get('msk-1', 'db')?.status).toBe('offline');
    now = new Date(11_000);
    expect(inv.apply({ kind: 'seen', description: desc('msk-1', 'db'), seenAt: now })).toBeDefined();
    expect(inv.get('msk-1', 'db')?.status).toBe('online');
  });

  it('reports only meaningful changes for persistence', () => {
    const now = new Date(10_000);
    const inv = new FleetInventory(() => now);
    expect(inv.apply({ kind: 'seen', description: desc('a', 'x'), seenAt: now })).toBeDefined();
    expect(inv.apply({ kind: 'seen', description: desc('a', 'x'), seenAt: now })).toBeUndefined();
    expect(inv.apply({ kind: 'seen', description: { ...desc('a', 'x'), version: '0.2.0' }, seenAt: now })).toBeDefined();
  });

  it('ignores an older heartbeat arriving after a newer one', () => {
    const now = new Date(10_000);
    const inv = new FleetInventory(() => now);
    inv.apply({ kind: 'seen', description: desc('a', 'x'), seenAt: new Date(9_000) });
    inv.apply({ kind: 'seen', description: desc('a', 'x'), seenAt: new Date(5_000) });
    expect(inv.get('a', 'x')?.lastSeen.getTime()).toBe(9_000);
  });

  it('keeps restored agents and summarises sites', () => {
    const now = new Date(10_000);
    const inv = new FleetInventory(() => now);
    inv.restore([{ description: desc('spb-1', 'old'), lastSeen: new Date(1_000) }]);
    inv.apply({ kind: 'seen', description: desc('msk-1', 'db'), seenAt: now });
    inv.apply({ kind: 'seen', description: desc('msk-1', 'tnt'), seenAt: now });
    expect(inv.sites()).toEqual([
      { site: 'msk-1', agentsTotal: 2, agentsOnline: 2, componentKinds: ['uploads'] },
      { site: 'spb-1', agentsTotal: 1, agentsOnline: 0, componentKinds: ['uploads'] },
    ]);
    expect(inv.list('spb-1').map((e) => `${e.description.host}:${e.status}`)).toEqual(['old:offline']);
  });
});
