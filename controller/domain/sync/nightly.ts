/**
 * The nightly full comparison of every link (FindFace's `SYNC_TIME`, 03:00 by default; per link `at`
 * in its time zone): when a link's time has come since its last comparison (or its creation), the
 * controller compares both ends and has the master republish whatever differs — drift is repaired
 * rather than trusted to the stream; a `nightly` link's run is its apply window, which ends with that
 * comparison. Paused links are skipped. Ticks are cheap: one KV read per link.
 */
import { Cron } from 'croner';
import type { Logger } from '../../../shared/logger.js';
import type { SyncLink } from '../../../shared/sync/link.js';

/** When the link's nightly comparison is due next after `after`. */
export function nextComparison(link: Pick<SyncLink, 'at' | 'timezone'>, after: Date): Date | undefined {
  const [h, m] = link.at.split(':').map(Number);
  return new Cron(`${m} ${h} * * *`, { timezone: link.timezone, paused: true }).nextRun(after) ?? undefined;
}

const RETRY_AFTER_MS = 5 * 60_000;

export interface NightlyDeps {
  checkTimes(): Promise<{ link: SyncLink; lastCheckedAt?: string }[]>;
  check(id: string, repair: boolean): Promise<{ differences: unknown[]; requeued: number }>;
  /** A nightly link's apply window (which ends with the comparison). */
  run(id: string): Promise<{ differences: unknown[]; requeued: number }>;
  logger: Logger;
  tickMs: number;
  now?: () => Date;
}

export class NightlyComparisons {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Links whose comparison failed, and when: retried after RETRY_AFTER_MS, not at every tick. */
  private readonly failed = new Map<string, number>();

  constructor(private readonly deps: NightlyDeps) {}

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.tick()
        .then(() => undefined)
        .catch((err: unknown) => this.deps.logger.warn({ err }, 'sync: could not read the links for the nightly comparison'))
        .finally(() => {
          this.running = undefined;
        });
    }, this.deps.tickMs);
    this.timer.unref();
  }

  /** Runs every comparison that is due; one link's failure does not stop the others. */
  async tick(): Promise<string[]> {
    const now = this.deps.now ? this.deps.now() : new Date();
    const ran: string[] = [];
    for (const { link, lastCheckedAt } of await this.deps.checkTimes()) {
      if (link.paused || link.window) continue;
      const next = nextComparison(link, new Date(lastCheckedAt ?? link.createdAt));
      if (!next || next > now) continue;
      if (now.getTime() - (this.failed.get(link.id) ?? 0) < RETRY_AFTER_MS) continue;
      try {
        const r = link.mode === 'nightly' ? await this.deps.run(link.id) : await this.deps.check(link.id, true);
        this.failed.delete(link.id);
        this.deps.logger.info({ link: link.id, differences: r.differences.length, republished: r.requeued }, 'sync: nightly comparison done');
      } catch (err) {
        this.failed.set(link.id, now.getTime());
        this.deps.logger.warn({ err, link: link.id }, 'sync: nightly comparison failed; retried in 5 minutes');
      }
      ran.push(link.id);
    }
    return ran;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
