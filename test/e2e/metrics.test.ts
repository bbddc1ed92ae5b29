/**
 * Issue 6 acceptance (metrics): one snapshot of a small dev site, then the controller's and the agents'
 * Prometheus endpoints are scraped as Prometheus would, and the series are there with plausible values.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type TestFleet } from '../harness/fleet.js';
import { waitFor } from '../harness/processes.js';
import { find, scrape, value } from '../harness/prometheus.js';

const SITE = 'met-a';

describe('Prometheus metrics on the controller and the agents', () => {
  let fleet: TestFleet;
  let startedAt = 0;
  let snapshotId = '';

  beforeAll(async () => {
    fleet = await startFleet([{ site: SITE, dossiers: 20, events: 60 }]);
    startedAt = Date.now();
    const r = await fleet.cli('snapshot', 'create', '--site', SITE, '--wait');
    expect(r.code, r.stderr).toBe(0);
    const [snap] = await fleet.json<{ id: string }[]>('snapshot', 'list', '--site', SITE);
    snapshotId = snap?.id ?? '';
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('the controller shows last success, duration, bytes added, freeze window and agents online', async () => {
    const s = await scrape(fleet.controllerMetricsUrl);
    const site = { site: SITE };
    const lastSuccess = value(s, 'ffkeeper_snapshot_last_success_timestamp_seconds', site) ?? 0;
    expect(lastSuccess * 1000).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(lastSuccess * 1000).toBeLessThanOrEqual(Date.now() + 1000);
    expect(value(s, 'ffkeeper_snapshots_total', { ...site, outcome: 'ok' })).toBe(1);
    expect(value(s, 'ffkeeper_snapshot_duration_seconds_count', { ...site, outcome: 'ok' })).toBe(1);
    const duration = value(s, 'ffkeeper_snapshot_duration_seconds_sum', { ...site, outcome: 'ok' }) ?? 0;
    expect(duration).toBeGreaterThan(0);
    expect(value(s, 'ffkeeper_freeze_window_seconds_count', site)).toBe(1);
    const freeze = value(s, 'ffkeeper_freeze_window_seconds_sum', site) ?? 0;
    expect(freeze).toBeGreaterThan(0);
    expect(freeze).toBeLessThan(duration);
    const added = value(s, 'ffkeeper_snapshot_added_bytes_total', site) ?? 0;
    expect(added).toBeGreaterThan(0);
    expect(value(s, 'ffkeeper_agents_online', site)).toBe(fleet.agents.size);
    expect(value(s, 'ffkeeper_agents_known', site)).toBe(fleet.agents.size);
    expect(find(s, 'process_cpu_user_seconds_total')).toHaveLength(1);
    console.log(`controller: snapshot ${snapshotId} took ${duration.toFixed(2)} s, freeze window ${(freeze * 1000).toFixed(0)} ms, ${added} bytes added`);
  });

  it('every agent shows its upload durations and bytes moved up, labelled with site and host', async () => {
    for (const key of fleet.agents.keys()) {
      const host = key.slice(key.indexOf('/') + 1);
      const s = await scrape(await fleet.agentMetricsUrl(SITE, host));
      const uploads = find(s, 'ffkeeper_agent_job_duration_seconds_count', { site: SITE, host, operation: 'upload', outcome: 'ok' });
      expect(uploads.length, `upload series of ${key}`).toBeGreaterThanOrEqual(1);
      for (const u of uploads) expect(u.value, `uploads of ${u.labels.component}`).toBe(1);
      const up = find(s, 'ffkeeper_agent_bytes_moved_total', { site: SITE, host, direction: 'up' });
      expect(up.map((x) => x.labels.component).sort()).toEqual(uploads.map((x) => x.labels.component).sort());
      const bytes = up.reduce((sum, x) => sum + x.value, 0);
      expect(bytes, `bytes moved up by ${key}`).toBeGreaterThan(0);
      console.log(`agent ${key}: ${uploads.map((u) => u.labels.component).join(', ')}; ${bytes} bytes up`);
    }
  });

  it('a restarted controller still knows the site’s last successful snapshot (from the catalog)', async () => {
    const before = value(await scrape(fleet.controllerMetricsUrl), 'ffkeeper_snapshot_last_success_timestamp_seconds', { site: SITE });
    await fleet.restartController();
    const { value: after } = await waitFor(async () => {
      const s = await scrape(fleet.controllerMetricsUrl);
      return value(s, 'ffkeeper_snapshot_last_success_timestamp_seconds', { site: SITE });
    }, 15_000);
    expect(after).toBe(before);
  }, 60_000);
});
