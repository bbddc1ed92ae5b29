/** The controller's Prometheus adapter against its own registry, and the shared /metrics HTTP endpoint. */
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { SiteSummary } from '../../shared/fleet.js';
import { silentLogger } from '../../shared/logger.js';
import { MANIFEST_VERSION, type Manifest } from '../../shared/manifest.js';
import { startMetricsServer, type RunningMetricsServer } from '../../shared/transport/metrics-http.js';
import { parseMetrics, value, type Sample } from '../../test/harness/prometheus.js';
import { PromControllerMetrics } from './metrics.js';

function manifest(site: string, sealedAt: Date, freezeWindowMs: number, dataAddedBytes: number): Manifest {
  return {
    version: MANIFEST_VERSION,
    site,
    cutId: 'c-20260101-000000-aaaaaa',
    jobId: 'j-20260101-000000-aaaaaa',
    reason: 'manual',
    createdAt: sealedAt,
    sealedAt,
    freezeWindowMs,
    agents: [],
    components: [],
    totals: { bytes: dataAddedBytes * 3, files: 10, dataAddedBytes },
    models: {},
  };
}

/** The registry's samples, and `v(name, labels)` for one value. */
async function read(m: PromControllerMetrics): Promise<(name: string, labels?: Record<string, string>) => number | undefined> {
  const s: Sample[] = parseMetrics(await m.registry.metrics());
  return (name, labels = {}) => value(s, name, labels);
}

describe('PromControllerMetrics', () => {
  it('records snapshots, freeze windows, bytes added, verifies and restores per site', async () => {
    let fleet: SiteSummary[] = [{ site: 'msk-1', agentsTotal: 3, agentsOnline: 2, componentKinds: [] }];
    const m = new PromControllerMetrics({ sites: () => fleet, processMetrics: false });
    const sealed = new Date('2026-01-01T03:00:00Z');
    m.snapshotFinished('msk-1', { ok: true, durationMs: 42_000, manifest: manifest('msk-1', sealed, 30, 5000) });
    m.snapshotFinished('msk-1', { ok: true, durationMs: 40_000, manifest: manifest('msk-1', new Date(sealed.getTime() + 60_000), 2000, 700) });
    m.snapshotFinished('msk-1', { ok: false, durationMs: 3_000 });
    m.snapshotKnown('msk-1', new Date(sealed.getTime() - 3600_000)); // older than what is known: ignored
    m.verifyFinished('msk-1', { ok: false, durationMs: 9_000, snapshotId: 'c-1' });
    m.restoreFinished('spb-1', { ok: true, durationMs: 120_000, writersStoppedMs: 4_200 });

    const v = await read(m);
    expect(v('ffkeeper_snapshot_last_success_timestamp_seconds', { site: 'msk-1' })).toBe(sealed.getTime() / 1000 + 60);
    expect(v('ffkeeper_snapshots_total', { site: 'msk-1', outcome: 'ok' })).toBe(2);
    expect(v('ffkeeper_snapshots_total', { site: 'msk-1', outcome: 'failed' })).toBe(1);
    expect(v('ffkeeper_snapshot_duration_seconds_sum', { site: 'msk-1', outcome: 'ok' })).toBe(82);
    expect(v('ffkeeper_snapshot_added_bytes_total', { site: 'msk-1' })).toBe(5700);
    expect(v('ffkeeper_snapshot_read_bytes_total', { site: 'msk-1' })).toBe(17_100);
    // 30 ms falls in the 25–50 ms bucket, 2 s in the 1–2.5 s one.
    expect(v('ffkeeper_freeze_window_seconds_bucket', { le: '0.025', site: 'msk-1' })).toBe(0);
    expect(v('ffkeeper_freeze_window_seconds_bucket', { le: '0.05', site: 'msk-1' })).toBe(1);
    expect(v('ffkeeper_freeze_window_seconds_bucket', { le: '2.5', site: 'msk-1' })).toBe(2);
    expect(v('ffkeeper_freeze_window_seconds_count', { site: 'msk-1' })).toBe(2);
    expect(v('ffkeeper_freeze_window_seconds_sum', { site: 'msk-1' })).toBeCloseTo(2.03, 6);
    expect(v('ffkeeper_restore_writers_stopped_seconds_sum', { site: 'spb-1', outcome: 'ok' })).toBe(4.2);
    expect(v('ffkeeper_restore_writers_stopped_seconds_bucket', { le: '5', site: 'spb-1', outcome: 'ok' })).toBe(1);
    expect(v('ffkeeper_restore_writers_stopped_seconds_bucket', { le: '2', site: 'spb-1', outcome: 'ok' })).toBe(0);
    expect(v('ffkeeper_verify_last_ok', { site: 'msk-1' })).toBe(0);
    expect(v('ffkeeper_verifies_total', { site: 'msk-1', outcome: 'failed' })).toBe(1);
    expect(v('ffkeeper_verify_last_timestamp_seconds', { site: 'msk-1' })).toBeGreaterThan(sealed.getTime() / 1000);
    expect(v('ffkeeper_restores_total', { site: 'spb-1', outcome: 'ok' })).toBe(1);
    expect(v('ffkeeper_restore_duration_seconds_sum', { site: 'spb-1', outcome: 'ok' })).toBe(120);
    expect(v('ffkeeper_agents_online', { site: 'msk-1' })).toBe(2);
    expect(v('ffkeeper_agents_known', { site: 'msk-1' })).toBe(3);

    // Fleet gauges are read at scrape time: a site that is gone disappears, a new one appears.
    fleet = [{ site: 'spb-1', agentsTotal: 1, agentsOnline: 1, componentKinds: [] }];
    const v2 = await read(m);
    expect(v2('ffkeeper_agents_online', { site: 'msk-1' })).toBeUndefined();
    expect(v2('ffkeeper_agents_online', { site: 'spb-1' })).toBe(1);
  });

  it('a later verify that passes sets the last-verify gauge back to 1', async () => {
    const m = new PromControllerMetrics({ sites: () => [], processMetrics: false });
    m.verifyFinished('msk-1', { ok: false, durationMs: 1, snapshotId: 'c-1' });
    m.verifyFinished('msk-1', { ok: true, durationMs: 1, snapshotId: 'c-2' });
    const v = await read(m);
    expect(v('ffkeeper_verify_last_ok', { site: 'msk-1' })).toBe(1);
    expect(v('ffkeeper_verifies_total', { site: 'msk-1', outcome: 'ok' })).toBe(1);
  });
});

function get(url: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

describe('metrics HTTP endpoint', () => {
  const servers: RunningMetricsServer[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
  });

  it('serves GET /metrics in the text format (port 0 = any free port) and 404 elsewhere', async () => {
    const m = new PromControllerMetrics({ sites: () => [{ site: 'msk-1', agentsTotal: 1, agentsOnline: 1, componentKinds: [] }] });
    const server = await startMetricsServer('127.0.0.1:0', m.registry, silentLogger());
    expect(server).toBeDefined();
    servers.push(server as RunningMetricsServer);
    expect(server?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(server?.address.endsWith(':0')).toBe(false);
    const ok = await get(server!.url);
    expect(ok.status).toBe(200);
    expect(ok.type).toBe(m.registry.contentType);
    expect(ok.type).toContain('text/plain');
    expect(ok.body).toContain('ffkeeper_agents_online{site="msk-1"} 1');
    expect(ok.body).toContain('process_cpu_user_seconds_total');
    const missing = await get(server!.url.replace('/metrics', '/other'));
    expect(missing.status).toBe(404);
  });

  it('is off for an empty listen address, and a busy port leaves the process running without it', async () => {
    const m = new PromControllerMetrics({ sites: () => [], processMetrics: false });
    expect(await startMetricsServer('', m.registry, silentLogger())).toBeUndefined();
    const first = await startMetricsServer('127.0.0.1:0', m.registry, silentLogger());
    servers.push(first as RunningMetricsServer);
    expect(await startMetricsServer(first!.address, m.registry, silentLogger())).toBeUndefined();
  });
});
