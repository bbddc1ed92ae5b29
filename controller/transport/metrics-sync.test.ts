/** The sync link gauges, read from the stores at each scrape. */
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parseMetrics, value } from '../../test/harness/prometheus.js';
import type { SyncLinkView } from '../domain/sync/view.js';
import { registerSyncMetrics } from './metrics-sync.js';

function view(id: string, over: Partial<SyncLinkView> = {}): SyncLinkView {
  return {
    id,
    number: 1,
    from: { site: 'msk-1', list: 1 },
    to: { site: 'spb-1', list: 1 },
    mode: 'continuous',
    at: '03:00',
    timezone: 'UTC',
    paused: false,
    createdAt: '2026-11-21T10:00:00.000Z',
    models: {},
    state: 'running',
    lagSeconds: 0,
    pending: 0,
    appliedTotal: 0,
    errors: 0,
    resyncs: 0,
    parts: [],
    ...over,
  };
}

describe('registerSyncMetrics', () => {
  it('exports lag, pending, applied, errors and up per link; a removed link disappears', async () => {
    const registry = new Registry();
    let links = [view('a.1.b.1', { lagSeconds: 12.5, pending: 4, appliedTotal: 99, errors: 2 }), view('a.1.c.1', { state: 'error' })];
    registerSyncMetrics(registry, () => Promise.resolve(links));
    let s = parseMetrics(await registry.metrics());
    expect(value(s, 'ffkeeper_sync_lag_seconds', { link: 'a.1.b.1' })).toBe(12.5);
    expect(value(s, 'ffkeeper_sync_pending', { link: 'a.1.b.1' })).toBe(4);
    expect(value(s, 'ffkeeper_sync_applied_total', { link: 'a.1.b.1' })).toBe(99);
    expect(value(s, 'ffkeeper_sync_errors', { link: 'a.1.b.1' })).toBe(2);
    expect(value(s, 'ffkeeper_sync_up', { link: 'a.1.b.1' })).toBe(1);
    expect(value(s, 'ffkeeper_sync_up', { link: 'a.1.c.1' })).toBe(0);
    links = [links[0] as SyncLinkView];
    await new Promise((r) => setTimeout(r, 1100)); // past the shared read of one scrape
    s = parseMetrics(await registry.metrics());
    expect(value(s, 'ffkeeper_sync_up', { link: 'a.1.c.1' })).toBeUndefined();
    expect(value(s, 'ffkeeper_sync_up', { link: 'a.1.b.1' })).toBe(1);
  });
});
