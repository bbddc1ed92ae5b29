/**
 * Prometheus gauges of watch-list sync links, per link, read from the link and status stores when
 * scraped: a removed link's series disappear at the next scrape.
 */
import { Gauge, type Registry } from 'prom-client';
import type { SyncLinkView } from '../domain/sync/view.js';

/** One read of the links serves every gauge of a scrape. */
const SHARED_READ_MS = 1000;

/** Registers the sync gauges on `registry`; `views` lists every link with its derived state. */
export function registerSyncMetrics(registry: Registry, views: () => Promise<SyncLinkView[]>): void {
  let cached: { at: number; read: Promise<SyncLinkView[]> } | undefined;
  const read = (): Promise<SyncLinkView[]> => {
    const now = Date.now();
    if (!cached || now - cached.at > SHARED_READ_MS) cached = { at: now, read: views().catch(() => []) };
    return cached.read;
  };
  /** `value` undefined: no series for that link (e.g. never compared). */
  const gauge = (name: string, help: string, value: (v: SyncLinkView) => number | undefined): void => {
    new Gauge({
      name,
      help,
      labelNames: ['link'],
      registers: [registry],
      async collect() {
        const all = await read();
        this.reset();
        for (const v of all) {
          const x = value(v);
          if (x !== undefined) this.set({ link: v.id }, x);
        }
      },
    });
  };
  gauge('ffkeeper_sync_lag_seconds', 'How far the slave of the link is behind its master (0 when caught up).', (v) => v.lagSeconds);
  gauge('ffkeeper_sync_pending', 'Changes of the link not yet applied on the slave (the most any apply part has).', (v) => v.pending);
  gauge('ffkeeper_sync_applied_total', "Rows the link's apply parts applied since they started.", (v) => v.appliedTotal);
  gauge('ffkeeper_sync_errors', "Errors the link's parts counted since they started.", (v) => v.errors);
  gauge('ffkeeper_sync_last_check_timestamp_seconds', 'When the link was last compared in full (sync check or the nightly run).', (v) => (v.lastCheck ? Date.parse(v.lastCheck.checkedAt) / 1000 : undefined));
  gauge('ffkeeper_sync_last_check_differences', 'Differences the last full comparison of the link found.', (v) => v.lastCheck?.differences.length);
  gauge('ffkeeper_sync_up', '1 when the link is running, 0 otherwise (starting, paused, resyncing, error).', (v) => (v.state === 'running' ? 1 : 0));
}
