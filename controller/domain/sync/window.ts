/**
 * A nightly link's apply window (mode `nightly`: ffkeeper's engine applying once a day at the link's
 * `at`, or now with `sync run`). The master captures and publishes all day; the window opens by marking
 * the link record, which starts the slave's apply parts; it waits until every apply part follows the
 * stream and has nothing pending, then runs the full comparison with repair (what it republishes is
 * applied while the window is still open, and compared again), and closes the window — also when
 * something failed, so the slave never keeps applying outside its window.
 */
import { TimeoutError } from '../../../shared/errors.js';
import { formatDuration } from '../../../shared/duration.js';
import { formatEnd, SYNC_STATUS_STALE_AFTER_MS, type SyncLink, type SyncPartStatus } from '../../../shared/sync/link.js';
import type { SyncCheckReport } from '../../../shared/sync/inspect.js';
import type { SyncLinkStore, SyncStatusStore } from './links.js';

export interface WindowDeps {
  links: SyncLinkStore;
  statuses: SyncStatusStore;
  compare: (link: SyncLink, repair: boolean) => Promise<SyncCheckReport>;
  /** How long the slave may take to catch up before the window is given up. */
  catchUpMs: number;
  /** How often the parts' statuses are read while waiting. */
  pollMs: number;
  now: () => Date;
  sleep?: (ms: number) => Promise<void>;
}

/** Comparisons with repair at most per window: differences left after the last one are reported. */
export const WINDOW_COMPARISONS = 3;

export type WindowStep = (name: string, message: string) => void;

const isApply = (p: SyncPartStatus): boolean => p.role.startsWith('apply-');
const realSleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Whether the slave has applied everything published for the link: every apply part reporting (not
 * stale) follows the stream since `since`, is not in error, and has 0 pending — and the rows part is
 * among them. Returns what is still missing otherwise (for the timeout's message).
 */
export function caughtUp(statuses: readonly SyncPartStatus[], since: Date, now: Date): { done: boolean; missing: string } {
  const fresh = statuses.filter((s) => isApply(s) && now.getTime() - Date.parse(s.updatedAt) <= SYNC_STATUS_STALE_AFTER_MS);
  const notFollowing = (s: SyncPartStatus): boolean => !s.followingSince || Date.parse(s.followingSince) < since.getTime();
  const behind = fresh.filter((s) => notFollowing(s) || s.state === 'error' || s.pending > 0);
  if (!fresh.some((s) => s.role === 'apply-rows')) return { done: false, missing: 'no apply-rows part of the slave site is reporting' };
  if (behind.length > 0) {
    return {
      done: false,
      missing: behind
        .map((s) => `${s.role} on ${s.host}: ${notFollowing(s) ? 'not following yet' : s.state === 'error' ? `error (${s.lastError ?? 'no message'})` : `${s.pending} pending`}`)
        .join('; '),
    };
  }
  return { done: true, missing: '' };
}

async function waitCaughtUp(deps: WindowDeps, link: SyncLink, since: Date): Promise<void> {
  const sleep = deps.sleep ?? realSleep;
  const giveUpAt = deps.now().getTime() + deps.catchUpMs;
  for (;;) {
    const state = caughtUp(await deps.statuses.list(link.id), since, deps.now());
    if (state.done) return;
    if (deps.now().getTime() >= giveUpAt) {
      throw new TimeoutError(`the slave site '${link.to.site}' of sync link '${link.id}' did not catch up within ${formatDuration(deps.catchUpMs)} of its apply window: ${state.missing}`);
    }
    await sleep(deps.pollMs);
  }
}

/** Opens the link's window, applies, compares with repair, closes; returns the last comparison. */
export async function runWindow(deps: WindowDeps, link: SyncLink, step: WindowStep): Promise<SyncCheckReport> {
  const openedAt = deps.now();
  const open: SyncLink = { ...link, window: { openedAt: openedAt.toISOString() } };
  await deps.links.update(open);
  let failure: string | undefined;
  try {
    step('apply', `apply window of ${formatEnd(link.from)} → ${formatEnd(link.to)} open: site '${link.to.site}' applies what the master published since the last window`);
    await waitCaughtUp(deps, link, openedAt);
    let report: SyncCheckReport | undefined;
    for (let round = 1; round <= WINDOW_COMPARISONS; round++) {
      step('compare', `comparing both ends with repair (round ${round} of at most ${WINDOW_COMPARISONS})`);
      report = await deps.compare(open, true);
      if (report.differences.length === 0 || report.requeued === 0) break;
      step('apply', `${report.requeued} dossier(s) republished by the master; waiting for site '${link.to.site}' to apply them`);
      // The republished messages reach the parts after the comparison: give them a poll to arrive, then wait.
      await (deps.sleep ?? realSleep)(deps.pollMs);
      await waitCaughtUp(deps, link, openedAt);
    }
    return report as SyncCheckReport;
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
    throw err;
  } finally {
    // Closed whatever happened (re-read: the link may have been paused meanwhile, or removed).
    const current = await deps.links.get(link.id);
    if (current) {
      const { window: _open, ...closed } = current;
      await deps.links.update({ ...closed, lastWindow: { openedAt: openedAt.toISOString(), closedAt: deps.now().toISOString(), ...(failure ? { error: failure } : {}) } });
    }
  }
}
