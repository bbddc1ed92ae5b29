/**
 * The controller's Prometheus metrics (DESIGN.md §7): a private prom-client registry fed through the
 * domain's `ControllerMetrics` port, plus fleet gauges computed at scrape time. Served over HTTP by
 * shared/transport/metrics-http.ts.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../../shared/transport/metrics-http.js';
import type { SiteSummary } from '../../shared/fleet.js';
import type { ControllerMetrics, RestoreFinished, SnapshotFinished, VerifyFinished } from '../domain/metrics.js';

/** Seconds; a snapshot of a big site can take hours. */
const JOB_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400];
/** Writers stopped by a restore: a switch takes seconds, the old one-step restore minutes to hours. */
const DOWNTIME_BUCKETS = [0.5, 1, 2, 5, 10, 15, 30, 60, 300, 1800, 3600];
/** Seconds; the freeze window is tens of milliseconds by design, the lease 5 s by default. */
const FREEZE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const outcomeOf = (ok: boolean): string => (ok ? 'ok' : 'failed');

export interface PromControllerMetricsOptions {
  /** The fleet by site (FleetInventory.sites), read at each scrape. */
  sites: () => SiteSummary[];
  /** Node.js process metrics (CPU, memory, event loop); on by default. */
  processMetrics?: boolean;
}

/** `ControllerMetrics` over a prom-client registry of its own (never the global one). */
export class PromControllerMetrics implements ControllerMetrics {
  readonly registry = new Registry();
  private readonly lastSuccess = new Map<string, number>();
  private readonly snapshotLastSuccess: Gauge<'site'>;
  private readonly snapshotDuration: Histogram<'site' | 'outcome'>;
  private readonly snapshots: Counter<'site' | 'outcome'>;
  private readonly addedBytes: Counter<'site'>;
  private readonly readBytes: Counter<'site'>;
  private readonly freezeWindow: Histogram<'site'>;
  private readonly verifyLastOk: Gauge<'site'>;
  private readonly verifyLastTime: Gauge<'site'>;
  private readonly verifies: Counter<'site' | 'outcome'>;
  private readonly verifyDuration: Histogram<'site' | 'outcome'>;
  private readonly restores: Counter<'site' | 'outcome'>;
  private readonly restoreDuration: Histogram<'site' | 'outcome'>;
  private readonly restoreDowntime: Histogram<'site' | 'outcome'>;

  constructor(options: PromControllerMetricsOptions) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) collectProcessMetrics(this.registry);
    this.snapshotLastSuccess = new Gauge({ name: 'ffkeeper_snapshot_last_success_timestamp_seconds', help: 'When the newest sealed snapshot of the site was sealed (unix time).', labelNames: ['site'], registers });
    this.snapshotDuration = new Histogram({ name: 'ffkeeper_snapshot_duration_seconds', help: 'Snapshot jobs from plan to seal (or failure).', labelNames: ['site', 'outcome'], buckets: JOB_BUCKETS, registers });
    this.snapshots = new Counter({ name: 'ffkeeper_snapshots_total', help: 'Snapshot jobs finished, by outcome (ok, failed).', labelNames: ['site', 'outcome'], registers });
    this.addedBytes = new Counter({ name: 'ffkeeper_snapshot_added_bytes_total', help: 'Bytes sealed snapshots added to the repository (after deduplication).', labelNames: ['site'], registers });
    this.readBytes = new Counter({ name: 'ffkeeper_snapshot_read_bytes_total', help: 'Bytes sealed snapshots read from the site’s components.', labelNames: ['site'], registers });
    this.freezeWindow = new Histogram({ name: 'ffkeeper_freeze_window_seconds', help: 'Freeze window of sealed snapshots (first freeze to last thaw).', labelNames: ['site'], buckets: FREEZE_BUCKETS, registers });
    this.verifyLastOk = new Gauge({ name: 'ffkeeper_verify_last_ok', help: '1 when the site’s last verify passed, 0 when it failed.', labelNames: ['site'], registers });
    this.verifyLastTime = new Gauge({ name: 'ffkeeper_verify_last_timestamp_seconds', help: 'When the site’s last verify finished (unix time).', labelNames: ['site'], registers });
    this.verifies = new Counter({ name: 'ffkeeper_verifies_total', help: 'Verify runs finished, by outcome (ok, failed).', labelNames: ['site', 'outcome'], registers });
    this.verifyDuration = new Histogram({ name: 'ffkeeper_verify_duration_seconds', help: 'Verify runs (repository check, restore drill, integrity check).', labelNames: ['site', 'outcome'], buckets: JOB_BUCKETS, registers });
    this.restores = new Counter({ name: 'ffkeeper_restores_total', help: 'Restore jobs finished, by target site and outcome (ok, failed).', labelNames: ['site', 'outcome'], registers });
    this.restoreDuration = new Histogram({ name: 'ffkeeper_restore_duration_seconds', help: 'Restore jobs, by target site and outcome.', labelNames: ['site', 'outcome'], buckets: JOB_BUCKETS, registers });
    this.restoreDowntime = new Histogram({
      name: 'ffkeeper_restore_writers_stopped_seconds',
      help: "How long a restore kept the target site's writers (findface-security, sf-api) stopped: its downtime.",
      labelNames: ['site', 'outcome'],
      buckets: DOWNTIME_BUCKETS,
      registers,
    });
    this.fleetGauges(options.sites);
  }

  snapshotFinished(site: string, outcome: SnapshotFinished): void {
    const labels = { site, outcome: outcomeOf(outcome.ok) };
    this.snapshots.inc(labels);
    this.snapshotDuration.observe(labels, outcome.durationMs / 1000);
    const m = outcome.manifest;
    if (!outcome.ok || !m) return;
    this.snapshotKnown(site, m.sealedAt);
    this.addedBytes.inc({ site }, m.totals.dataAddedBytes);
    this.readBytes.inc({ site }, m.totals.bytes);
    this.freezeWindow.observe({ site }, m.freezeWindowMs / 1000);
  }

  snapshotKnown(site: string, sealedAt: Date): void {
    const t = sealedAt.getTime() / 1000;
    if ((this.lastSuccess.get(site) ?? 0) >= t) return;
    this.lastSuccess.set(site, t);
    this.snapshotLastSuccess.set({ site }, t);
  }

  verifyFinished(site: string, outcome: VerifyFinished): void {
    const labels = { site, outcome: outcomeOf(outcome.ok) };
    this.verifies.inc(labels);
    this.verifyDuration.observe(labels, outcome.durationMs / 1000);
    this.verifyLastOk.set({ site }, outcome.ok ? 1 : 0);
    this.verifyLastTime.set({ site }, Date.now() / 1000);
  }

  restoreFinished(site: string, outcome: RestoreFinished): void {
    const labels = { site, outcome: outcomeOf(outcome.ok) };
    this.restores.inc(labels);
    this.restoreDuration.observe(labels, outcome.durationMs / 1000);
    this.restoreDowntime.observe(labels, outcome.writersStoppedMs / 1000);
  }

  /** Agents online / known per site, read from the inventory when scraped (online is a function of time). */
  private fleetGauges(sites: () => SiteSummary[]): void {
    const registers = [this.registry];
    new Gauge({
      name: 'ffkeeper_agents_online',
      help: 'Agents of the site whose heartbeat is younger than their presence TTL.',
      labelNames: ['site'],
      registers,
      collect() {
        this.reset();
        for (const s of sites()) this.set({ site: s.site }, s.agentsOnline);
      },
    });
    new Gauge({
      name: 'ffkeeper_agents_known',
      help: 'Agents of the site the controller knows, online or offline.',
      labelNames: ['site'],
      registers,
      collect() {
        this.reset();
        for (const s of sites()) this.set({ site: s.site }, s.agentsTotal);
      },
    });
  }
}
