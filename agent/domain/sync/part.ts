/**
 * What every sync part shares: its status (reported to the bus at start, after progress at most every
 * SYNC_STATUS_INTERVAL_MS, and as a heartbeat), error accounting, and an orderly stop.
 */
import type { Logger } from '../../../shared/logger.js';
import { SYNC_STATUS_INTERVAL_MS, type SyncPartStatus, type SyncRole } from '../../../shared/sync/link.js';
import type { DirectFiles, SyncBus } from './ports.js';

export interface PartContext {
  bus: SyncBus;
  site: string;
  host: string;
  logger: Logger;
  now?: () => Date;
  /** The direct files channel; absent (lab `insecure` mode, or disabled in the config): files go over NATS only. */
  direct?: DirectFiles;
}

export class PartStatus {
  private status: SyncPartStatus;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;
  private lastPut = 0;
  /** A flush due at the end of the throttle window, so the last update is reported within it. */
  private trailing: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: PartContext,
    link: string,
    role: SyncRole,
  ) {
    this.status = {
      link,
      role,
      site: ctx.site,
      host: ctx.host,
      state: 'running',
      position: 0,
      pending: 0,
      handled: 0,
      errors: 0,
      resyncs: 0,
      updatedAt: this.now().toISOString(),
    };
  }

  private now(): Date {
    return this.ctx.now ? this.ctx.now() : new Date();
  }

  get current(): Readonly<SyncPartStatus> {
    return this.status;
  }

  start(): void {
    void this.flush();
    this.timer = setInterval(() => void this.flush(true), SYNC_STATUS_INTERVAL_MS);
    this.timer.unref();
  }

  update(patch: Partial<SyncPartStatus>): void {
    this.status = { ...this.status, ...patch };
    this.dirty = true;
    const wait = this.lastPut + SYNC_STATUS_INTERVAL_MS / 4 - Date.now();
    if (wait <= 0) void this.flush();
    else if (!this.trailing && this.timer) {
      this.trailing = setTimeout(() => {
        this.trailing = undefined;
        void this.flush();
      }, wait);
      this.trailing.unref();
    }
  }

  handled(position: number, pending: number, capturedAt: string | undefined, count = 1): void {
    this.update({
      position,
      pending,
      handled: this.status.handled + count,
      lastHandledAt: this.now().toISOString(),
      ...(capturedAt ? { lastCapturedAt: capturedAt } : {}),
      ...(this.status.state === 'error' ? { state: 'running' as const } : {}),
    });
  }

  failed(err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    this.update({ state: 'error', errors: this.status.errors + 1, lastError: message });
  }

  async flush(heartbeat = false): Promise<void> {
    if (!this.dirty && !heartbeat && this.lastPut > 0) return;
    this.dirty = false;
    this.lastPut = Date.now();
    this.status = { ...this.status, updatedAt: this.now().toISOString() };
    await this.ctx.bus.putStatus(this.status).catch((err: unknown) => this.ctx.logger.debug({ err }, 'could not report sync status'));
  }

  async stop(final?: SyncPartStatus['state']): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.trailing) clearTimeout(this.trailing);
    this.trailing = undefined;
    if (final) {
      this.status = { ...this.status, state: final };
      await this.flush(true);
    }
  }
}

/** A running part of a link on this agent. */
export interface SyncPart {
  readonly key: string;
  stop(): Promise<void>;
}
