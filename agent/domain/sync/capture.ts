/**
 * The capture part (master site, the agent holding PostgreSQL): takes changed dossiers from the capture
 * log, reads each one's current state in every linked list of this site and publishes it on the
 * dossier's subject (the stream keeps the last value), then forgets the handled changes. Publishing
 * comes before forgetting, so a crash between them only publishes a state again (idempotent).
 */
import { syncSubject } from '../../../shared/names.js';
import type { SyncLink } from '../../../shared/sync/link.js';
import { encodeMessage, type DossierMessage } from './messages.js';
import { PartStatus, type PartContext, type SyncPart } from './part.js';
import type { ChangeSource } from './ports.js';

const BATCH = 500;
const IDLE_POLL_MS = 1000;
const RETRY_MS = 2000;

export class CapturePart implements SyncPart {
  readonly key = 'capture';
  private links: SyncLink[] = [];
  private readonly statuses = new Map<string, PartStatus>();
  private readonly seeded = new Set<number>();
  private stopped = false;
  private wake: (() => void) | undefined;
  private poked = false;
  private readonly done: Promise<void>;
  private installed = false;

  constructor(
    private readonly ctx: PartContext,
    private readonly source: ChangeSource,
    links: readonly SyncLink[],
  ) {
    this.setLinks(links);
    this.done = this.loop();
  }

  /** Called on change notifications: runs the next round now. */
  notify(): void {
    this.poked = true;
    this.wake?.();
  }

  setLinks(links: readonly SyncLink[]): void {
    this.links = [...links];
    for (const l of links) {
      if (this.statuses.has(l.id)) continue;
      const s = new PartStatus(this.ctx, l.id, 'capture');
      s.start();
      this.statuses.set(l.id, s);
    }
    for (const [id, s] of this.statuses) {
      if (links.some((l) => l.id === id)) continue;
      void s.stop();
      this.statuses.delete(id);
    }
    this.notify();
  }

  private lists(): number[] {
    return [...new Set(this.links.map((l) => l.from.list))];
  }

  private statusesOf(list: number): PartStatus[] {
    return this.links.filter((l) => l.from.list === list).flatMap((l) => this.statuses.get(l.id) ?? []);
  }

  private async sleep(ms: number): Promise<void> {
    if (this.poked) {
      this.poked = false;
      return;
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.wake = undefined;
    this.poked = false;
  }

  private async round(): Promise<boolean> {
    if (!this.installed) {
      await this.ctx.bus.ensureStream(this.ctx.site);
      await this.source.install();
      this.installed = true;
    }
    for (const list of this.lists()) {
      if (this.seeded.has(list)) continue;
      const n = await this.source.seed(list);
      if (n > 0) this.ctx.logger.info({ list, dossiers: n }, 'sync: queued every dossier of the list for the first sync');
      this.seeded.add(list);
    }
    const batch = await this.source.take(BATCH);
    if (batch.ids.length === 0) {
      for (const s of this.statuses.values()) if (s.current.pending !== 0 || s.current.state === 'error') s.update({ pending: 0, state: 'running' });
      return false;
    }
    const capturedAt = (this.ctx.now ? this.ctx.now() : new Date()).toISOString();
    for (const list of this.lists()) await this.publishList(list, batch.dossierIds, capturedAt);
    await this.source.ack(batch.ids);
    const pending = batch.ids.length === BATCH ? await this.source.backlog() : 0;
    for (const s of this.statuses.values()) s.update({ pending });
    return true;
  }

  private async publishList(list: number, dossierIds: readonly number[], capturedAt: string): Promise<void> {
    const states = await this.source.read(list, dossierIds);
    const present: number[] = [];
    const gone: number[] = [];
    const seqs = await Promise.all(
      [...states].map(([dossierId, state]) => {
        (state ? present : gone).push(dossierId);
        const m: DossierMessage = { kind: 'dossier', dossierId, capturedAt, state };
        return this.ctx.bus.publish(syncSubject(this.ctx.site, list, 'dossier', dossierId), encodeMessage(m));
      }),
    );
    await this.source.noted(list, present, gone);
    if (seqs.length === 0) return;
    const last = Math.max(...seqs);
    for (const s of this.statusesOf(list)) {
      s.update({ position: last, handled: s.current.handled + seqs.length, lastCapturedAt: capturedAt, lastHandledAt: capturedAt, state: 'running' });
    }
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        const busy = await this.round();
        if (!busy) await this.sleep(IDLE_POLL_MS);
      } catch (err) {
        if (this.stopped) break;
        this.ctx.logger.warn({ err }, 'sync capture failed; retrying');
        for (const s of this.statuses.values()) s.failed(err);
        await this.sleep(RETRY_MS);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.done;
    await Promise.all([...this.statuses.values()].map((s) => s.stop()));
    await this.source.close();
  }
}
