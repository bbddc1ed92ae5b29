/**
 * The agent's sync manager: watches the links and runs this agent's parts of them — by what it holds:
 * PostgreSQL → capture (master) and apply-rows (slave); shards → publish-records / apply-records;
 * upload directories → publish-files / apply-files. A nightly link's slave parts wait between its apply
 * windows (agent/domain/sync/held.ts). Paused links and native links run no part; an unlinked replica
 * list is released (its guard lifted, its content left in place).
 */
import type { SyncLink } from '../../../shared/sync/link.js';
import { applyFilesSpec, applyRecordsSpec, applyRowsSpec, MasterWatch } from './appliers.js';
import { CapturePart } from './capture.js';
import { FollowPart, type FollowSpec } from './follow.js';
import { HeldPart, type HeldExtras } from './held.js';
import type { PartContext, SyncPart } from './part.js';
import type { AppliedFiles, ChangeSource, FilesAccess, PositionStore, RecordsAccess, RowsTarget, Subscription } from './ports.js';
import { publishFilesSpec, publishRecordsSpec } from './publishers.js';

/** What this agent holds, as factories (each part opens its own connections). */
export interface SyncResources {
  changeSource?: (onNotify: () => void) => ChangeSource;
  rowsTarget?: () => RowsTarget;
  records?: () => RecordsAccess;
  files?: () => FilesAccess;
  positions: PositionStore;
  /** Per-dossier memory of applied files (no fsync needed: losing it only leaves a stale file). */
  applied: AppliedFiles;
}

interface Running {
  part: SyncPart;
  close?: () => Promise<void>;
}

export class SyncManager {
  private capture: CapturePart | undefined;
  private readonly parts = new Map<string, Running>();
  private known = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private sub: Subscription | undefined;
  private firstRound = true;

  constructor(
    private readonly ctx: PartContext,
    private readonly res: SyncResources,
  ) {}

  /** True when this agent holds anything a link can use. */
  get useful(): boolean {
    return Boolean(this.res.changeSource ?? this.res.rowsTarget ?? this.res.records ?? this.res.files);
  }

  start(): void {
    this.sub = this.ctx.bus.watchLinks((links) => {
      this.chain = this.chain.then(() => this.reconcile(links)).catch((err: unknown) => this.ctx.logger.warn({ err }, 'sync: could not apply the link changes'));
    });
  }

  private desired(active: readonly SyncLink[]): Map<string, () => Running> {
    const { site } = this.ctx;
    const out = new Map<string, () => Running>();
    const follow = (make: () => { spec: FollowSpec; close?: () => Promise<void>; watch?: MasterWatch }) => (): Running => {
      const { spec, close, watch } = make();
      watch?.start();
      return { part: new FollowPart(this.ctx, spec), close: async () => { watch?.stop(); await close?.(); } };
    };
    const { records, files, rowsTarget } = this.res;
    const held = (make: () => { spec: FollowSpec; extras?: HeldExtras }) => (): Running => {
      const { spec, extras } = make();
      return { part: new HeldPart(this.ctx, spec, extras) };
    };
    for (const l of active) {
      if (l.from.site === site && records) {
        out.set(`publish-records:${l.id}`, follow(() => { const r = records(); return { spec: publishRecordsSpec(this.ctx, l, r, this.res.positions), close: () => r.close() }; }));
      }
      if (l.from.site === site && files) out.set(`publish-files:${l.id}`, follow(() => ({ spec: publishFilesSpec(this.ctx, l, files(), this.res.positions) })));
      if (l.to.site !== site) continue;
      if (l.mode === 'nightly' && !l.window) {
        // Between a nightly link's windows the slave's parts wait (keys of their own: opening the window replaces them).
        if (rowsTarget) {
          out.set(`apply-rows:${l.id}:held`, held(() => {
            const t = rowsTarget();
            return { spec: applyRowsSpec(this.ctx, l, t), extras: { prepare: () => t.prepare(l), watch: new MasterWatch(this.ctx, l, t), close: () => t.close() } };
          }));
        }
        if (records) out.set(`apply-records:${l.id}:held`, held(() => { const r = records(); return { spec: applyRecordsSpec(this.ctx, l, r, this.res.positions), extras: { close: () => r.close() } }; }));
        if (files) out.set(`apply-files:${l.id}:held`, held(() => ({ spec: applyFilesSpec(this.ctx, l, files(), this.res.positions, this.res.applied) })));
        continue;
      }
      if (rowsTarget) {
        out.set(`apply-rows:${l.id}`, follow(() => { const t = rowsTarget(); return { spec: applyRowsSpec(this.ctx, l, t), close: () => t.close(), watch: new MasterWatch(this.ctx, l, t) }; }));
      }
      if (records) out.set(`apply-records:${l.id}`, follow(() => { const r = records(); return { spec: applyRecordsSpec(this.ctx, l, r, this.res.positions), close: () => r.close() }; }));
      if (files) out.set(`apply-files:${l.id}`, follow(() => ({ spec: applyFilesSpec(this.ctx, l, files(), this.res.positions, this.res.applied) })));
    }
    return out;
  }

  private async reconcile(links: readonly SyncLink[]): Promise<void> {
    // A nightly link's master side runs all day like a continuous one's; its slave side applies only in a window.
    const active = links.filter((l) => !l.paused && (l.mode === 'continuous' || l.mode === 'nightly'));
    await this.reconcileCapture(active.filter((l) => l.from.site === this.ctx.site));
    const want = this.desired(active);
    for (const [key, running] of [...this.parts]) {
      if (want.has(key)) continue;
      this.parts.delete(key);
      await running.part.stop();
      await running.close?.();
    }
    for (const [key, make] of want) if (!this.parts.has(key)) this.parts.set(key, make());
    await this.releaseUnlinked(links);
  }

  private async reconcileCapture(masterLinks: SyncLink[]): Promise<void> {
    const make = this.res.changeSource;
    if (!make) return;
    if (masterLinks.length === 0) {
      await this.capture?.stop();
      this.capture = undefined;
      return;
    }
    if (this.capture) {
      this.capture.setLinks(masterLinks);
      return;
    }
    // The source's notifications arrive only after the part started listening (past this statement).
    const part: CapturePart = new CapturePart(this.ctx, make(() => part.notify()), masterLinks);
    this.capture = part;
  }

  /** Replica lists of links that are gone (also those unlinked while this agent was down): guard lifted. */
  private async releaseUnlinked(links: readonly SyncLink[]): Promise<void> {
    const make = this.res.rowsTarget;
    const ids = new Set(links.filter((l) => l.to.site === this.ctx.site).map((l) => l.id));
    const gone = [...this.known].filter((id) => !ids.has(id));
    this.known = ids;
    if (!make || (gone.length === 0 && !this.firstRound)) return;
    const target = make();
    try {
      const registered = this.firstRound ? await target.registered() : [];
      for (const id of new Set([...gone, ...registered.filter((r) => !ids.has(r))])) {
        await target.release(id);
        this.ctx.logger.info({ link: id }, 'sync: link removed; the replica list keeps its content and is writable again');
      }
      this.firstRound = false;
    } finally {
      await target.close();
    }
  }

  async stop(): Promise<void> {
    await this.sub?.stop();
    await this.chain;
    await this.capture?.stop();
    for (const r of this.parts.values()) {
      await r.part.stop();
      await r.close?.();
    }
    this.parts.clear();
  }
}
