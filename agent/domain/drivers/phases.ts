/**
 * A two-phase restore run in one call (a driver's `restore()` into place): the staged component switched
 * in, then finished. A failed switch has put back what it moved; the staging is then removed (without the
 * caller's signal: a cancelled restore still cleans up) and the failure thrown, through `wrap` when the
 * driver wants the stage's steps in its error.
 */
import type { PhaseContext, RestoreContext, RestoreReport, StagedComponent } from './types.js';

export async function switchAndFinish(staged: StagedComponent, ctx: RestoreContext, wrap: (err: unknown) => unknown = (err) => err): Promise<RestoreReport> {
  const cleanup: PhaseContext = { jobId: ctx.jobId, logger: ctx.logger, ...(ctx.onProgress ? { onProgress: ctx.onProgress } : {}) };
  const phase: PhaseContext = { ...cleanup, ...(ctx.signal ? { signal: ctx.signal } : {}) };
  const reports = [staged.report];
  try {
    reports.push(await staged.switchIn(phase));
  } catch (err) {
    await staged.discard(cleanup).catch((e: unknown) => ctx.logger.error({ err: e, component: staged.ref }, 'removing the staging after a failed switch failed'));
    throw wrap(err);
  }
  reports.push(await staged.finish(cleanup));
  return { component: staged.ref, steps: reports.flatMap((r) => r.steps) };
}
