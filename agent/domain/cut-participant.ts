/**
 * The agent's side of the consistent cut (DESIGN.md §4): one session per cut id, driving this host's
 * component drivers through prepare → freeze → cut → thaw → upload, or abort.
 *
 * Freeze arms a **freeze lease**: if thaw has not happened when it runs out, the agent thaws by itself,
 * releases what the cut holds and marks the cut invalid — whatever happened to the controller. A cut
 * that expired or was aborted can never be uploaded. Between prepare and freeze the agent waits
 * `freezeWithinMs` (the other agents may still be preparing: a first cut seeds the uploads shield), then
 * gives the cut up the same way.
 */
import { CancelledError, ConflictError, IllegalStateError, NotFoundError, describeError } from '../../shared/errors.js';
import { holdsSiteWrites, type FreezeAlso, type FreezeOutcome } from '../../shared/cut.js';
import type { Logger } from '../../shared/logger.js';
import type { Repository } from '../../shared/repository/repository.js';
import type { ComponentArtifact, ComponentDriver, CutPoint, UploadContext } from './drivers/types.js';

export type SessionState = 'prepared' | 'frozen' | 'cut' | 'thawed' | 'uploading' | 'uploaded' | 'aborted' | 'expired';

export interface PrepareRequest {
  cutId: string;
  /** Component refs (`kind:name`) taking part; empty = all of this host's. */
  components: string[];
  leaseMs: number;
  /** How long a prepared cut waits for its freeze before it is given up (default: the lease). */
  freezeWithinMs?: number;
  /**
   * The site and repository the upload will use, and the parents it will name (see `upload`), for drivers
   * that start work on them at prepare.
   */
  upload?: { site: string; repository: Repository; parents?: Record<string, string>; parentsComplete?: boolean };
}

/** A component's parent as the controller's catalog says (see `UploadContext.catalogParent`), or none said. */
function catalogParentOf(ref: string, parents: Record<string, string> | undefined, parentsComplete: boolean | undefined): { catalogParent?: { snapshotId: string | undefined } } {
  const snapshotId = parents?.[ref];
  return snapshotId !== undefined || parentsComplete === true ? { catalogParent: { snapshotId } } : {};
}

interface Session {
  cutId: string;
  drivers: ComponentDriver[];
  state: SessionState;
  /** The timer that gives the cut up: the wait for the freeze, then the freeze lease. */
  lease: NodeJS.Timeout | undefined;
  leaseMs: number;
  /** When the freeze lease runs out (ms, this clock); set at freeze. */
  leaseEndsAt: number;
  frozen: ComponentDriver[];
  cutPoints: CutPoint[];
  /** Why the session ended early (abort reason, lease expiry). */
  reason?: string;
  freezeStartedAt?: number;
  freezeWindowMs?: number;
}

export interface CutParticipantOptions {
  /** The drivers of the named components (all when empty); throws NotFoundError for unknown ones. */
  drivers: (components: string[]) => ComponentDriver[];
  logger: Logger;
  now?: () => number;
}

/**
 * Cuts a newer one supersedes (see `CutParticipant.prepare`): one only prepared waits for a freeze, one
 * thawed for its upload; both would have come at once from a controller still holding the site. What a
 * thawed cut holds (PostgreSQL: the exported snapshot's transaction) would refuse the newer cut.
 */
const SUPERSEDED: Partial<Record<SessionState, { log: string; before: string }>> = {
  prepared: { log: 'a newer cut came before this prepared one froze: giving it up', before: 'freeze' },
  thawed: { log: 'a newer cut came before this thawed one was uploaded: releasing it', before: 'upload' },
};

/** The share of the lease still left that one component's freeze may use. */
const FREEZE_SHARE_OF_LEASE = 0.6;

export class CutParticipant {
  private readonly sessions = new Map<string, Session>();
  /** Cuts aborted before their prepare finished here (the controller gave up on a slow prepare). */
  private readonly abortedEarly = new Map<string, string>();
  private readonly now: () => number;

  constructor(private readonly options: CutParticipantOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * Validates every driver can take part and arms the freeze lease. One active cut at a time.
   *
   * A cut only prepared (never frozen) gives way to a newer one: only the controller holding the site's
   * lease prepares cuts, so a newer cut means the older one's controller no longer holds the site (it
   * died, or its lease ran out), and its freeze will never come. Waiting for it (up to the prepare
   * deadline plus a protocol call, 305 s by default) would refuse every snapshot of the site meanwhile.
   * One thawed but never uploaded is released the same way (`SUPERSEDED`). A frozen, cut or uploading one
   * is refused: its freeze lease or the cancelled upload ends it soon.
   */
  async prepare(req: PrepareRequest): Promise<void> {
    const others = [...this.sessions.values()].filter((s) => s.cutId !== req.cutId);
    const busy = others.find((s) => ['frozen', 'cut', 'uploading'].includes(s.state));
    if (busy) throw new ConflictError(`cut '${busy.cutId}' is still ${busy.state} on this agent; cut '${req.cutId}' must wait`);
    for (const old of others.filter((s) => s.state in SUPERSEDED)) {
      const { log, before } = SUPERSEDED[old.state] as { log: string; before: string };
      this.options.logger.warn({ cutId: old.cutId, newer: req.cutId }, log);
      await this.abort(old.cutId, `superseded by cut '${req.cutId}' before its ${before} came (its controller no longer holds the site)`);
    }
    const drivers = this.options.drivers(req.components);
    const up = req.upload;
    await Promise.all(
      drivers.map((d) =>
        d.prepare(up ? { tags: { site: up.site, cutId: req.cutId, component: d.ref }, repository: up.repository, ...catalogParentOf(d.ref, up.parents, up.parentsComplete) } : undefined),
      ),
    );
    const early = this.abortedEarly.get(req.cutId);
    if (early !== undefined) {
      // The controller aborted this cut while we were still preparing: never hold a session for it.
      this.abortedEarly.delete(req.cutId);
      await Promise.allSettled(drivers.map((d) => d.release()));
      throw new CancelledError(`cut '${req.cutId}' was aborted while it was being prepared: ${early}`);
    }
    const session: Session = { cutId: req.cutId, drivers, state: 'prepared', lease: undefined, leaseMs: req.leaseMs, leaseEndsAt: Infinity, frozen: [], cutPoints: [] };
    const waitMs = req.freezeWithinMs ?? req.leaseMs;
    session.lease = setTimeout(() => void this.expire(session, `no freeze came within ${waitMs} ms of the prepare`), waitMs);
    this.sessions.set(req.cutId, session);
    this.forgetOldSessions();
  }

  /** Keeps the last few finished sessions for status questions; older ones are dropped. */
  private forgetOldSessions(keep = 20): void {
    const finished = [...this.sessions.values()].filter((s) => ['uploaded', 'aborted', 'expired', 'thawed'].includes(s.state));
    for (const s of finished.slice(0, Math.max(0, finished.length - keep))) this.sessions.delete(s.cutId);
  }

  /**
   * Stops new writes: the components holding the site's writes first, in order, then the others together
   * (they only wait for the site to catch up). On failure thaws what it froze and rethrows. With `cut`, also
   * fixes the cut points in the same step (one round trip fewer inside the window); with
   * `thawIfHoldingNone` as well, an agent none of whose components holds writes ends its freeze at once:
   * its cut is fixed, and its thaw would undo nothing.
   */
  async freeze(cutId: string, options: FreezeAlso = {}): Promise<FreezeOutcome> {
    const s = this.expect(cutId, ['prepared']);
    s.freezeStartedAt = this.now();
    clearTimeout(s.lease);
    s.leaseEndsAt = s.freezeStartedAt + s.leaseMs;
    s.lease = setTimeout(() => void this.expire(s, `freeze lease of ${s.leaseMs} ms ran out before thaw`), s.leaseMs);
    try {
      const cutFollows = options.cut === true;
      for (const d of s.drivers.filter((d) => holdsSiteWrites(d.ref))) await this.freezeOne(s, d, cutFollows);
      const others = await Promise.allSettled(s.drivers.filter((d) => !holdsSiteWrites(d.ref)).map((d) => this.freezeOne(s, d, cutFollows)));
      const failed = others.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      s.state = 'frozen';
    } catch (err) {
      await this.thawAll(s);
      throw err;
    }
    if (!options.cut) return {};
    const points = await this.cut(cutId);
    if (!options.thawIfHoldingNone || s.drivers.some((d) => holdsSiteWrites(d.ref))) return { points };
    return { points, thawed: await this.thaw(cutId) };
  }

  /** Freezes one component within what is left of the lease after a reserve for the cut and the thaw. */
  private async freezeOne(s: Session, d: ComponentDriver, cutFollows: boolean): Promise<void> {
    const budgetMs = Math.max(0, Math.floor((s.leaseEndsAt - this.now()) * FREEZE_SHARE_OF_LEASE));
    await d.freeze({ budgetMs, ...(cutFollows ? { cutFollows } : {}) });
    s.frozen.push(d);
  }

  /** Fixes every component's point in time (in parallel: they are all frozen). */
  async cut(cutId: string): Promise<CutPoint[]> {
    const s = this.expect(cutId, ['frozen']);
    s.cutPoints = await Promise.all(s.drivers.map((d) => d.cut()));
    s.state = 'cut';
    return s.cutPoints;
  }

  /** Lets writes resume (reverse order) and disarms the lease. Returns this agent's freeze window. Idempotent. */
  async thaw(cutId: string): Promise<{ freezeWindowMs: number }> {
    const s = this.expect(cutId, ['prepared', 'frozen', 'cut', 'thawed']);
    clearTimeout(s.lease);
    s.lease = undefined;
    await this.thawAll(s);
    s.state = 'thawed';
    return { freezeWindowMs: s.freezeWindowMs ?? 0 };
  }

  /**
   * Uploads every component as of the cut, in parallel; what cut() held is released either way. `parents`:
   * per component, the parent of its incremental backup from the controller's catalog; `parentsComplete`:
   * a component it does not name has none.
   */
  async upload(
    cutId: string,
    ctx: Omit<UploadContext, 'tags' | 'catalogParent'> & { site: string; parents?: Record<string, string>; parentsComplete?: boolean },
  ): Promise<ComponentArtifact[]> {
    const s = this.expect(cutId, ['thawed']);
    if (s.cutPoints.length === 0) throw new IllegalStateError(`cut '${cutId}' has no cut points: cut was never taken`);
    s.state = 'uploading';
    const { parents, parentsComplete, ...common } = ctx;
    const results = await Promise.allSettled(
      s.drivers.map((d) => d.upload({ ...common, tags: { site: ctx.site, cutId, component: d.ref }, ...catalogParentOf(d.ref, parents, parentsComplete) })),
    );
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${s.drivers[i]?.ref}: ${describeError(r.reason)}`] : []));
    if (failed.length > 0) {
      s.state = 'aborted';
      s.reason = `upload failed: ${failed.join('; ')}`;
      throw new IllegalStateError(`cut '${cutId}' ${s.reason}`, {
        cause: results.find((r) => r.status === 'rejected')?.reason,
      });
    }
    s.state = 'uploaded';
    return results.map((r) => (r as PromiseFulfilledResult<ComponentArtifact>).value);
  }

  /** Thaws and releases everything of the cut; idempotent, and fine for unknown cut ids. */
  async abort(cutId: string, reason: string): Promise<void> {
    const s = this.sessions.get(cutId);
    if (!s) {
      this.abortedEarly.set(cutId, reason);
      if (this.abortedEarly.size > 100) this.abortedEarly.delete(this.abortedEarly.keys().next().value as string);
      return;
    }
    if (s.state === 'aborted' || s.state === 'expired' || s.state === 'uploaded') return;
    clearTimeout(s.lease);
    s.state = 'aborted';
    s.reason = reason;
    await this.thawAll(s);
    await this.releaseAll(s);
  }

  /** State of a cut on this agent (for tests and status). */
  state(cutId: string): { state: SessionState; reason?: string } | undefined {
    const s = this.sessions.get(cutId);
    return s ? { state: s.state, ...(s.reason ? { reason: s.reason } : {}) } : undefined;
  }

  private async expire(s: Session, why: string): Promise<void> {
    if (!['prepared', 'frozen', 'cut'].includes(s.state)) return;
    s.state = 'expired';
    s.reason = `${why}; the cut is invalid`;
    this.options.logger.warn({ cutId: s.cutId, reason: s.reason }, 'cut given up: thawing by ourselves');
    await this.thawAll(s);
    await this.releaseAll(s);
  }

  private async thawAll(s: Session): Promise<void> {
    const errors: string[] = [];
    for (const d of [...s.frozen].reverse()) {
      try {
        await d.thaw();
      } catch (err) {
        errors.push(`${d.ref}: ${describeError(err)}`);
        this.options.logger.error({ err, cutId: s.cutId, component: d.ref }, 'thaw failed');
      }
    }
    if (s.freezeStartedAt !== undefined && s.freezeWindowMs === undefined && s.frozen.length > 0) {
      s.freezeWindowMs = this.now() - s.freezeStartedAt;
    }
    s.frozen = [];
    if (errors.length > 0) throw new IllegalStateError(`cut '${s.cutId}': thaw failed for ${errors.join('; ')}`);
  }

  private async releaseAll(s: Session): Promise<void> {
    await Promise.allSettled(s.drivers.map((d) => d.release()));
  }

  private expect(cutId: string, states: SessionState[]): Session {
    const s = this.sessions.get(cutId);
    if (!s) throw new NotFoundError(`cut '${cutId}' is not known to this agent (prepare first)`);
    if (!states.includes(s.state)) {
      const why = s.reason ? `: ${s.reason}` : '';
      throw new IllegalStateError(`cut '${cutId}' is ${s.state}${why}; expected ${states.join(' or ')}`);
    }
    return s;
  }
}
