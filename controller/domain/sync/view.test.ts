import { describe, expect, it } from 'vitest';
import type { SyncLink, SyncPartStatus } from '../../../shared/sync/link.js';
import { linkView, type SyncState } from './view.js';

const CREATED = Date.parse('2026-11-21T10:00:00.000Z');
const iso = (msAfterCreation: number): string => new Date(CREATED + msAfterCreation).toISOString();
const NOW = new Date(CREATED + 3_600_000); // an hour after creation

function link(over: Partial<SyncLink> = {}): SyncLink {
  return {
    id: 'msk-1.1.spb-1.2',
    number: 1,
    from: { site: 'msk-1', list: 1 },
    to: { site: 'spb-1', list: 2 },
    mode: 'continuous',
    at: '03:00',
    timezone: 'UTC',
    paused: false,
    createdAt: iso(0),
    models: {},
    ...over,
  };
}

/** A part's report `agoMs` before NOW. */
function part(role: SyncPartStatus['role'], agoMs: number, over: Partial<SyncPartStatus> = {}): SyncPartStatus {
  const site = role === 'capture' || role.startsWith('publish-') ? 'msk-1' : 'spb-1';
  return { link: 'msk-1.1.spb-1.2', role, site, host: `${role}-host`, state: 'running', position: 10, pending: 0, handled: 0, errors: 0, resyncs: 0, updatedAt: new Date(NOW.getTime() - agoMs).toISOString(), ...over };
}

const healthy = (): SyncPartStatus[] => [part('capture', 1000), part('apply-rows', 1000, { handled: 7, lastHandledAt: iso(3_500_000) }), part('apply-files', 1000, { handled: 3 })];

describe('linkView: state', () => {
  const cases: { name: string; link?: Partial<SyncLink>; parts: SyncPartStatus[]; now?: Date; state: SyncState; error?: RegExp }[] = [
    { name: 'all parts fresh and running', parts: healthy(), state: 'running' },
    { name: 'paused wins over everything', link: { paused: true }, parts: [part('capture', 60_000, { state: 'error', lastError: 'boom' })], state: 'paused' },
    { name: 'a part reports error', parts: [...healthy().slice(1), part('capture', 1000, { state: 'error', lastError: 'replication slot lost' })], state: 'error', error: /^capture on msk-1\/capture-host: replication slot lost$/ },
    { name: 'the capture is stale', parts: [part('capture', 60_000), ...healthy().slice(1)], state: 'error', error: /the master's capture \(site 'msk-1', host 'capture-host'\) has not reported since / },
    { name: 'the capture never reported (past start-up)', parts: healthy().slice(1), state: 'error', error: /the master's capture \(site 'msk-1'\) has never reported since the link was created at 2026-11-21T10:00:00.000Z/ },
    { name: 'an apply part is stale', parts: [part('capture', 1000), part('apply-rows', 20_000)], state: 'error', error: /^apply-rows on spb-1\/apply-rows-host has not reported since / },
    { name: 'no apply part ever reported (past start-up)', parts: [part('capture', 1000)], state: 'error', error: /no apply part of site 'spb-1' has reported/ },
    { name: 'a part re-syncs', parts: [...healthy(), part('apply-records', 1000, { state: 'resyncing' })], state: 'resyncing' },
    { name: 'nothing reported within 30 s of creation', parts: [], now: new Date(CREATED + 10_000), state: 'starting' },
    { name: 'only the capture reported within 30 s', parts: [part('capture', 0)], now: new Date(CREATED + 10_000), state: 'starting' },
    { name: 'nothing reported 30 s after creation', parts: [], now: new Date(CREATED + 31_000), state: 'error', error: /has never reported/ },
  ];
  it.each(cases)('$name → $state', ({ link: over, parts, now, state, error }) => {
    const at = now ?? NOW;
    const shifted = now ? parts.map((p) => ({ ...p, updatedAt: new Date(Date.parse(p.updatedAt) - NOW.getTime() + at.getTime()).toISOString() })) : parts;
    const v = linkView(link(over), shifted, at);
    expect(v.state).toBe(state);
    if (error) expect(v.lastError).toMatch(error);
    else if (state !== 'paused') expect(v.lastError).toBeUndefined();
  });
});

describe('linkView: lag and counters', () => {
  it('a stale capture never reads zero lag: lag runs from its last report', () => {
    const v = linkView(link(), [part('capture', 120_000), part('apply-rows', 1000)], NOW);
    expect(v.state).toBe('error');
    expect(v.lagSeconds).toBe(120);
  });

  it('a capture that never reported lags since the link was created', () => {
    const v = linkView(link(), [part('apply-rows', 1000)], NOW);
    expect(v.lagSeconds).toBe(3600);
  });

  it('lag is the oldest captured change an apply part still has pending; caught-up parts count 0', () => {
    const parts = [
      part('capture', 1000),
      part('apply-rows', 1000, { pending: 5, lastCapturedAt: new Date(NOW.getTime() - 42_000).toISOString() }),
      part('apply-files', 1000, { pending: 0, lastCapturedAt: new Date(NOW.getTime() - 900_000).toISOString() }),
      part('apply-records', 1000, { pending: 3 }),
    ];
    const v = linkView(link(), parts, NOW);
    expect(v.lagSeconds).toBe(42);
    expect(v.pending).toBe(5);
  });

  it('caught up: lag 0', () => {
    expect(linkView(link(), healthy(), NOW).lagSeconds).toBe(0);
  });

  it('sums applied rows of apply-rows parts, errors and resyncs of all parts; marks stale parts', () => {
    const parts = [
      part('capture', 1000, { errors: 1, handled: 100 }),
      part('apply-rows', 1000, { handled: 7, errors: 2, host: 'a', lastHandledAt: iso(3_000_000), resyncs: 1 }),
      part('apply-rows', 16_000, { handled: 5, host: 'b', lastHandledAt: iso(3_100_000), lastError: 'dossier 9: duplicate key' }),
      part('apply-files', 1000, { handled: 50, errors: 4 }),
    ];
    const v = linkView(link(), parts, NOW);
    expect(v.appliedTotal).toBe(12);
    expect(v.errors).toBe(7);
    expect(v.resyncs).toBe(1);
    expect(v.lastAppliedAt).toBe(iso(3_100_000));
    expect(v.parts.map((p) => [p.role, p.host, p.stale])).toEqual([
      ['apply-files', 'apply-files-host', false],
      ['apply-rows', 'a', false],
      ['apply-rows', 'b', true],
      ['capture', 'capture-host', false],
    ]);
    expect(v.state).toBe('error');
    expect(v.lagSeconds).toBe(16);
  });

  it('when running, lastError is the newest error a part reported', () => {
    const parts = [...healthy(), part('apply-records', 500, { lastError: 'gallery busy, retried' })];
    const v = linkView(link(), parts, NOW);
    expect(v.state).toBe('running');
    expect(v.lastError).toBe('apply-records on spb-1/apply-records-host: gallery busy, retried');
  });
});
