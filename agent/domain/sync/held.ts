/**
 * A nightly link's apply part between its windows: it does not follow the master's stream. It reports
 * `waiting` with what the master has published for it meanwhile (so the link's view shows the slave's
 * agents are there and how much the next window will apply) and, for the rows, keeps the replica list
 * guarded and watches the master all day (FindFace's rule: deletes on the slave only while the master
 * is away, undone when it returns).
 */
import type { FollowSpec } from './follow.js';
import { PartStatus, type PartContext, type SyncPart } from './part.js';

/** How often a waiting part counts what the master published for it. */
const COUNT_EVERY_MS = 5_000;

export interface HeldExtras {
  /** Installs what must hold between windows (the rows' guard); retried until it succeeds. */
  prepare?: () => Promise<void>;
  watch?: { start(): void; stop(): void };
  close?: () => Promise<void>;
}

export class HeldPart implements SyncPart {
  readonly key: string;
  readonly status: PartStatus;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private prepared = false;
  private running: Promise<void> | undefined;

  constructor(
    private readonly ctx: PartContext,
    private readonly spec: FollowSpec,
    private readonly extras: HeldExtras = {},
  ) {
    this.key = `${spec.role}:${spec.link.id}:held`;
    this.status = new PartStatus(ctx, spec.link.id, spec.role);
    this.status.update({ state: 'waiting' });
    this.status.start();
    extras.watch?.start();
    this.running = this.refresh();
    this.timer = setInterval(() => {
      this.running ??= this.refresh();
    }, COUNT_EVERY_MS);
    this.timer.unref();
  }

  /** Prepares (once) and counts the messages waiting beyond the part's position; a failure is reported and retried. */
  private async refresh(): Promise<void> {
    try {
      if (!this.prepared && this.extras.prepare) await this.extras.prepare();
      this.prepared = true;
      const position = await this.spec.position();
      if (this.stopped) return;
      const pending = await this.ctx.bus.pendingAfter(this.spec.link.from.site, this.spec.filter, position);
      this.status.update({ state: 'waiting', position, pending });
    } catch (err) {
      this.ctx.logger.warn({ err, link: this.spec.link.id, role: this.spec.role }, 'sync: a waiting nightly part could not refresh; retrying');
      this.status.failed(err);
    } finally {
      this.running = undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    this.extras.watch?.stop();
    await this.status.stop();
    await this.extras.close?.().catch(() => undefined);
  }
}
