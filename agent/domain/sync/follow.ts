/**
 * A part that follows one kind of message of one linked list in the master's stream, from its own
 * position, handling each message in order; a handler that fails is retried with the same message (and
 * the part reports the error). When the stream's last sequence is below the part's position, the stream
 * was re-created: the part starts over from the beginning (a full re-sync) and says so.
 */
import type { SyncLink, SyncPartStatus, SyncRole } from '../../../shared/sync/link.js';
import { PartStatus, type PartContext, type SyncPart } from './part.js';
import type { StreamMessage, Subscription } from './ports.js';

export interface FollowSpec {
  link: SyncLink;
  role: SyncRole;
  filter: string;
  /** Where the part stopped (0: from the beginning). */
  position(): Promise<number>;
  /** Remembers the position (the caller may throttle); undefined when the handler records it itself. */
  save?: (position: number) => Promise<void>;
  /** Prepares before following (e.g. installs the guard, replaces the list's content). */
  before?: () => Promise<void>;
  /** Handles a batch of messages (in stream order); returns the master's capture time of the last change. */
  handle(batch: StreamMessage[]): Promise<string | undefined>;
  /** Fields of the part's status the spec reports itself (read after each batch). */
  report?: () => Partial<SyncPartStatus>;
  /** Runs when the part stops. */
  after?: () => Promise<void>;
}

const RETRY_MS = 2000;
const SAVE_EVERY_MS = 1000;

export class FollowPart implements SyncPart {
  readonly key: string;
  readonly status: PartStatus;
  private sub: Subscription | undefined;
  private stopped = false;
  private readonly started: Promise<void>;
  private lastSave = 0;
  private unsaved: number | undefined;

  constructor(
    private readonly ctx: PartContext,
    private readonly spec: FollowSpec,
  ) {
    this.key = `${spec.role}:${spec.link.id}`;
    this.status = new PartStatus(ctx, spec.link.id, spec.role);
    this.status.start();
    this.started = this.start();
  }

  private async start(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.spec.before?.();
        let position = await this.spec.position();
        const { last } = await this.ctx.bus.bounds(this.spec.link.from.site);
        if (position > last) {
          const reason = `the master's stream ends at ${last}, below this part's position ${position}: the stream was re-created; replaying it whole`;
          this.ctx.logger.warn({ link: this.spec.link.id, role: this.spec.role }, reason);
          this.status.update({ state: 'resyncing', resyncs: this.status.current.resyncs + 1, resyncReason: reason });
          position = 0;
        }
        this.status.update({ position });
        if (this.stopped) return;
        this.sub = this.ctx.bus.follow(this.spec.link.from.site, this.spec.filter, position, (batch) => this.onBatch(batch), {
          // What waits for the part when it (re)subscribes: a nightly window is over once every part is at 0.
          onFollowing: (pending) => this.status.update({ pending, followingSince: (this.ctx.now ? this.ctx.now() : new Date()).toISOString() }),
        });
        return;
      } catch (err) {
        this.ctx.logger.warn({ err, link: this.spec.link.id, role: this.spec.role }, 'sync part could not start; retrying');
        this.status.failed(err);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  private async onBatch(batch: StreamMessage[]): Promise<void> {
    const m = batch.at(-1);
    if (!m) return;
    try {
      const t0 = Date.now();
      const capturedAt = await this.spec.handle(batch);
      this.ctx.logger.debug({ link: this.spec.link.id, role: this.spec.role, count: batch.length, pending: m.pending, ms: Date.now() - t0 }, 'sync batch handled');
      this.status.handled(m.seq, m.pending, capturedAt, batch.length);
      const reported = this.spec.report?.();
      if (reported) this.status.update(reported);
      if (this.status.current.state === 'resyncing' && m.pending === 0) this.status.update({ state: 'running' });
      await this.maybeSave(m.seq, m.pending === 0);
    } catch (err) {
      this.ctx.logger.warn({ err, link: this.spec.link.id, role: this.spec.role, seq: batch[0]?.seq, count: batch.length }, 'sync messages failed; retrying them');
      this.status.failed(err);
      throw err;
    }
  }

  private async maybeSave(seq: number, caughtUp: boolean): Promise<void> {
    if (!this.spec.save) return;
    this.unsaved = seq;
    if (!caughtUp && Date.now() - this.lastSave < SAVE_EVERY_MS) return;
    this.lastSave = Date.now();
    this.unsaved = undefined;
    await this.spec.save(seq);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.started;
    await this.sub?.stop();
    if (this.unsaved !== undefined) await this.spec.save?.(this.unsaved).catch(() => undefined);
    await this.status.stop();
    await this.spec.after?.().catch(() => undefined);
  }
}
