import { describe, expect, it } from 'vitest';
import { CancelledError, IllegalStateError, UnavailableError, UnreachableError, type FfkError } from '../../../shared/errors.js';
import { RestoreFailedError } from './errors.js';
import { fakeContext, manifest, pg, persisted, standardSite, uploads, world } from './fakes.test-support.js';
import type { RestoreProgress } from './detail.js';
import type { RestoreRequest } from './types.js';

const SNAP = manifest('msk-1', 'c-0100', '2026-01-01T00:00:00Z');
const OK = { configured: true, ok: true, errors: 0, warnings: 0, summary: '0 dangling references' };

function req(over: Partial<RestoreRequest> = {}): RestoreRequest {
  return { site: 'msk-1', selector: { kind: 'latest' }, components: [], noSafetySnapshot: false, ...over };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

/** The standard site msk-1 with its integrity check configured on the db host. */
function site() {
  const w = world(SNAP);
  standardSite(w.fleet, 'msk-1');
  w.agents.reports.set('msk-1-db:50051', OK);
  return w;
}

const STAGE = ['stage msk-1-t1:50051 tarantool:shard-1', 'stage msk-1-t2:50051 tarantool:shard-2', 'stage msk-1-up:50051 uploads:uploads', 'stage msk-1-db:50051 postgres:main'];
const STOP = ['stop msk-1-db:50051 findface-security', 'stop msk-1-api:50051 findface-sf-api'];
const SWITCH = ['switch msk-1-t1:50051 tarantool:shard-1', 'switch msk-1-t2:50051 tarantool:shard-2', 'switch msk-1-up:50051 uploads:uploads', 'switch msk-1-db:50051 postgres:main'];
const START = ['start msk-1-api:50051 findface-sf-api', 'start msk-1-db:50051 findface-security'];
const FINISH = ['finish msk-1-t1:50051 tarantool:shard-1', 'finish msk-1-t2:50051 tarantool:shard-2', 'finish msk-1-up:50051 uploads:uploads', 'finish msk-1-db:50051 postgres:main'];
const FULL_RUN = [
  'snapshot msk-1 (safety before restore of c-0100)',
  'repository msk-1',
  ...STAGE,
  ...STOP,
  ...SWITCH,
  ...START,
  ...FINISH,
  'check msk-1-db:50051',
];

describe('RestoreOrchestrator.run', () => {
  it('takes the safety snapshot, stages everything while writers run, stops them, switches every component in, starts them, cleans up, checks', async () => {
    const w = site();
    const { ctx, rec } = fakeContext();
    const outcome = await w.orchestrator.run(ctx, req());
    expect(w.calls).toEqual(FULL_RUN);
    expect(outcome).toMatchObject({ snapshotId: 'c-0100', sourceSite: 'msk-1', targetSite: 'msk-1', safetySnapshotId: 'safety-1' });
    expect(outcome.components.map((c) => c.component)).toEqual(['tarantool:shard-1', 'tarantool:shard-2', 'uploads:uploads', 'postgres:main']);
    expect(outcome.writersRestarted).toEqual(['api: findface-sf-api', 'db: findface-security']);
    expect(outcome.writersStoppedMs).toBeGreaterThanOrEqual(0);
    expect(outcome.writersStoppedMs).toBeLessThanOrEqual(outcome.durationMs);
    expect(outcome.integrity).toEqual({ ...OK, host: 'db' });
    expect(ctx.detail.outcome).toEqual(outcome);
    expect((ctx.detail.progress as RestoreProgress).completed).toBe(true);
    expect((ctx.detail.progress as RestoreProgress).stoppedWriters).toEqual([]);
    expect(rec.steps).toEqual([
      'plan',
      'safety-snapshot',
      'stage',
      'stop-writers',
      'switch',
      'start-writers',
      'finish',
      'integrity-check',
      'done',
    ]);
    expect(rec.messages.at(-1)).toMatch(/^restore of snapshot 'c-0100' into site 'msk-1' completed: 0 dangling references; writers stopped for .+ of a .+ restore$/);
  });

  it("restores from the snapshot's own repository into another site, one artifact per call, with the job id", async () => {
    const w = world(SNAP);
    standardSite(w.fleet, 'scratch', { db: 's-db', api: 's-api', t1: 's-t1', t2: 's-t2', up: 's-up' });
    w.agents.reports.set('scratch-s-db:50051', OK);
    const { ctx } = fakeContext();
    const outcome = await w.orchestrator.run(ctx, req({ toSite: 'scratch' }));
    expect(w.calls.slice(0, 2)).toEqual(['snapshot scratch (safety before restore of c-0100)', 'repository msk-1']);
    expect(outcome.targetSite).toBe('scratch');
    const stages = w.agents.restoreRequests.filter((r) => r.phase === 'stage');
    expect(stages.map((r) => [r.address, r.artifacts.map((a) => `${a.component} ${a.snapshotIds.join()}`), r.repository.url, r.jobId, r.timeoutMs])).toEqual([
      ['scratch-s-t1:50051', ['tarantool:shard-1 r-tarantool:shard-1'], '/srv/repos/msk-1', 'j-restore-1', 60_000],
      ['scratch-s-t2:50051', ['tarantool:shard-2 r-tarantool:shard-2'], '/srv/repos/msk-1', 'j-restore-1', 60_000],
      ['scratch-s-up:50051', ['uploads:uploads r-uploads:uploads'], '/srv/repos/msk-1', 'j-restore-1', 60_000],
      ['scratch-s-db:50051', ['postgres:main r-postgres:main'], '/srv/repos/msk-1', 'j-restore-1', 60_000],
    ]);
    expect(w.agents.restoreRequests.map((r) => r.phase)).toEqual([...Array(4).fill('stage'), ...Array(4).fill('switch'), ...Array(4).fill('finish')]);
  });

  it('takes no safety snapshot with noSafetySnapshot', async () => {
    const w = site();
    const { ctx } = fakeContext();
    const outcome = await w.orchestrator.run(ctx, req({ noSafetySnapshot: true }));
    expect(w.calls).toEqual(FULL_RUN.slice(1));
    expect(outcome.safetySnapshotId).toBeUndefined();
  });

  it('touches nothing when the safety snapshot fails', async () => {
    const w = site();
    w.snapshots.failure = new UnavailableError("agent on host 't2' of site 'msk-1' is unreachable");
    const { ctx } = fakeContext();
    const err = await failure(w.orchestrator.run(ctx, req()));
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect((err as FfkError).code).toBe('UNAVAILABLE');
    expect(err.message).toBe(
      "safety snapshot of site 'msk-1' failed, so nothing was restored or stopped: agent on host 't2' of site 'msk-1' is unreachable",
    );
    expect(w.calls).toEqual(['snapshot msk-1 (safety before restore of c-0100)']);
  });

  it('stops and starts every writer when only the upload directories are restored', async () => {
    const w = site();
    const { ctx } = fakeContext();
    const outcome = await w.orchestrator.run(ctx, req({ components: ['uploads:uploads'], noSafetySnapshot: true }));
    expect(w.calls).toEqual([
      'repository msk-1',
      'stage msk-1-up:50051 uploads:uploads',
      ...STOP,
      'switch msk-1-up:50051 uploads:uploads',
      ...START,
      'finish msk-1-up:50051 uploads:uploads',
      'check msk-1-db:50051',
    ]);
    expect(outcome.writersRestarted).toEqual(['api: findface-sf-api', 'db: findface-security']);
  });

  it('forwards agent progress and steps to the job', async () => {
    const w = site();
    const { ctx, rec } = fakeContext();
    await w.orchestrator.run(ctx, req({ components: ['tarantool:shard-1'] }));
    expect(rec.progress).toEqual([{ component: 'tarantool:shard-1', bytesDone: 50, bytesTotal: 100, filesDone: 1, filesTotal: 2, etaSeconds: 1 }]);
    expect(rec.messages).toContain("stage tarantool:shard-1 on 't1': stage files ok (5 ms)");
    expect(rec.messages).toContain("switch tarantool:shard-1 on 't1': switch files ok (5 ms)");
    expect(rec.messages).toContain("safety snapshot 'safety-1' of site 'msk-1' taken");
  });

  it('starts the writers it stopped when stopping another fails, discards what was staged, and restores nothing', async () => {
    const w = site();
    w.agents.unitFailures.set('stop msk-1-api:50051 findface-sf-api', new UnavailableError('systemctl stop findface-sf-api timed out'));
    const { ctx } = fakeContext();
    const err = await failure(w.orchestrator.run(ctx, req({ noSafetySnapshot: true })));
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect(err.message).toBe(
      "could not stop findface-sf-api on host 'api' of site 'msk-1': systemctl stop findface-sf-api timed out; " +
        'nothing was restored and the writers were started again (db: findface-security)',
    );
    expect(w.calls).toEqual(['repository msk-1', ...STAGE, ...STOP, 'start msk-1-db:50051 findface-security', ...FINISH.map((c) => c.replace('finish', 'discard'))]);
  });

  it('is cancelled through the job signal: what was staged is discarded and no writer is stopped', async () => {
    const w = site();
    const { ctx, abort } = fakeContext();
    const restore = w.agents.restore.bind(w.agents);
    w.agents.restore = async (...args: Parameters<typeof restore>) => {
      const steps = await restore(...args);
      abort.abort(); // the controller shuts down while the first component is staged
      return steps;
    };
    const err = await failure(w.orchestrator.run(ctx, req({ noSafetySnapshot: true })));
    expect((err as FfkError).code).toBe('CANCELLED');
    expect(err).toBeInstanceOf(CancelledError);
    expect(err.message).toBe("restore job 'j-restore-1' was cancelled before stopping the writers");
    expect(w.calls).toEqual(['repository msk-1', ...STAGE, ...FINISH.map((c) => c.replace('finish', 'discard'))]);
  });
});

describe('failure in a phase, and resume', () => {
  const DISCARD = FINISH.map((c) => c.replace('finish', 'discard'));
  const SHARD2_FAILED = "restore of tarantool:shard-2 stopped at step 'fetch': ciphertext verification failed";

  it('a failed stage changes nothing: the writers are never stopped, what was staged is discarded; resume runs it all again', async () => {
    const w = site();
    w.agents.restoreFailures.set('stage tarantool:shard-2', { times: 1, error: new IllegalStateError(SHARD2_FAILED) });
    const first = fakeContext();
    const err = await failure(w.orchestrator.run(first.ctx, req()));
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect(err).toMatchObject({ stage: 'stage', component: 'tarantool:shard-2', host: 't2', code: 'ILLEGAL_STATE' });
    expect(err.message).toBe(
      `staging component 'tarantool:shard-2' on host 't2' failed: ${SHARD2_FAILED}; ` +
        "nothing on site 'msk-1' was changed and its writers were never stopped; what was staged is removed",
    );
    expect(w.calls).toEqual([...FULL_RUN.slice(0, 2), ...STAGE, ...DISCARD]);
    const progress = first.ctx.detail.progress as RestoreProgress;
    expect(progress.finished).toEqual([]);
    expect(progress.stoppedWriters).toEqual([]);
    expect(progress.failed).toEqual({ component: 'tarantool:shard-2', host: 't2', stage: 'stage', message: SHARD2_FAILED });

    w.calls.length = 0;
    const second = fakeContext(persisted(first.ctx.detail));
    const outcome = await w.orchestrator.resume(second.ctx);
    expect(w.calls).toEqual(FULL_RUN.slice(1));
    expect(outcome.safetySnapshotId).toBe('safety-1');
    expect((second.ctx.detail.progress as RestoreProgress).failed).toBeUndefined();
    expect(second.rec.messages[0]).toBe(
      "resuming the restore of snapshot 'c-0100' into site 'msk-1': 4 of 4 components left (tarantool:shard-1, tarantool:shard-2, uploads:uploads, postgres:main)",
    );
  });

  it('a failed switch puts back every component already switched, rolls back the failed one (its staging removed) and starts the writers: the site is as it was', async () => {
    const w = site();
    w.agents.restoreFailures.set('switch tarantool:shard-2', { times: 1, error: new UnavailableError('agent restarted') });
    const first = fakeContext();
    const err = await failure(w.orchestrator.run(first.ctx, req()));
    expect(err).toMatchObject({ stage: 'switch', component: 'tarantool:shard-2', host: 't2', code: 'UNAVAILABLE' });
    expect(err.message).toBe(
      "switching in component 'tarantool:shard-2' on host 't2' failed: agent restarted; " +
        "the components already switched were put back (tarantool:shard-1, uploads:uploads, postgres:main); site 'msk-1' is as it was before the restore; " +
        'nothing was restored and the writers were started again (api: findface-sf-api, db: findface-security)',
    );
    // Every component switches at once; those that did are put back, newest first, then the failed one.
    expect(w.calls).toEqual([
      ...FULL_RUN.slice(0, 2),
      ...STAGE,
      ...STOP,
      ...SWITCH,
      'rollback msk-1-db:50051 postgres:main',
      'rollback msk-1-up:50051 uploads:uploads',
      'rollback msk-1-t1:50051 tarantool:shard-1',
      'rollback msk-1-t2:50051 tarantool:shard-2',
      ...START,
    ]);
    const progress = first.ctx.detail.progress as RestoreProgress;
    expect(progress.finished).toEqual([]);
    expect(progress.stoppedWriters).toEqual([]);
    expect(progress.writersStoppedMs).toBeGreaterThanOrEqual(0);

    w.calls.length = 0;
    const outcome = await w.orchestrator.resume(fakeContext(persisted(first.ctx.detail)).ctx);
    expect(w.calls).toEqual(FULL_RUN.slice(1));
    expect(outcome.components.map((c) => c.component)).toEqual(['tarantool:shard-1', 'tarantool:shard-2', 'uploads:uploads', 'postgres:main']);
  });

  it('keeps the writers stopped and says so when putting a switched component back fails', async () => {
    const w = site();
    w.agents.restoreFailures.set('switch postgres:main', { times: 1, error: new IllegalStateError("findface-security migrate failed") });
    w.agents.restoreFailures.set('rollback uploads:uploads', { times: 1, error: new IllegalStateError('disk gone') });
    const first = fakeContext();
    const err = await failure(w.orchestrator.run(first.ctx, req()));
    expect(err.message).toBe(
      "switching in component 'postgres:main' on host 'db' failed: findface-security migrate failed; " +
        'the components already switched were put back (tarantool:shard-1, tarantool:shard-2, uploads:uploads); ' +
        "PUTTING BACK FAILED: rolling back uploads:uploads on host 'up' failed: disk gone; writers still stopped: db: findface-security",
    );
    // sf-api was started once both shards were switched in (before PostgreSQL failed); findface-security stays stopped.
    expect(w.calls.filter((c) => c.startsWith('start'))).toEqual(['start msk-1-api:50051 findface-sf-api']);
    expect((first.ctx.detail.progress as RestoreProgress).stoppedWriters).toHaveLength(1);
  });

  it('starts sf-api as soon as every shard is switched in, while PostgreSQL still switches; findface-security last', async () => {
    const w = site();
    let open = (): void => undefined;
    w.agents.restoreGates.set('switch postgres:main', new Promise<void>((resolve) => (open = resolve)));
    const first = fakeContext();
    const running = w.orchestrator.run(first.ctx, req());
    for (let i = 0; i < 100 && !w.calls.includes('start msk-1-api:50051 findface-sf-api'); i += 1) await new Promise((r) => setTimeout(r, 5));
    expect(w.calls).toContain('start msk-1-api:50051 findface-sf-api');
    expect(w.calls).not.toContain('start msk-1-db:50051 findface-security');
    open();
    const outcome = await running;
    expect(w.calls.filter((c) => c.startsWith('start'))).toEqual(START);
    expect(outcome.writersRestarted).toEqual(['api: findface-sf-api', 'db: findface-security']);
    expect(first.rec.messages).toContain("started findface-sf-api on host 'api': every shard is switched in");
  });

  it('waits for an agent that went away during the switch and rolls its component back once it answers again', async () => {
    const w = site();
    w.agents.restoreFailures.set('switch tarantool:shard-2', { times: 1, error: new UnreachableError('Connection dropped') });
    w.agents.restoreFailures.set('rollback tarantool:shard-2', { times: 2, error: new UnreachableError('No connection established') });
    const first = fakeContext();
    const err = await failure(w.orchestrator.run(first.ctx, req()));
    expect(err.message).toContain("site 'msk-1' is as it was before the restore; nothing was restored and the writers were started again");
    expect(w.calls.filter((c) => c === 'rollback msk-1-t2:50051 tarantool:shard-2')).toHaveLength(3);
    expect(first.rec.messages.filter((m) => m.startsWith('the agent on'))).toEqual(["the agent on host 't2' does not answer (No connection established); waiting up to 2.0s for it to come back to roll back its components"]);
  });

  it('does not wait on an agent that answers a rollback with an error of its own, even an unavailable one', async () => {
    const w = site();
    w.agents.restoreFailures.set('switch tarantool:shard-2', { times: 1, error: new IllegalStateError('unit did not start') });
    w.agents.restoreFailures.set('rollback tarantool:shard-2', { times: 100, error: new UnavailableError('tarantool 127.0.0.1:3302 does not answer') });
    const first = fakeContext();
    const err = await failure(w.orchestrator.run(first.ctx, req()));
    expect(err.message).toContain("PUTTING BACK FAILED: rolling back tarantool:shard-2 on host 't2' failed: tarantool 127.0.0.1:3302 does not answer");
    expect(w.calls.filter((c) => c === 'rollback msk-1-t2:50051 tarantool:shard-2')).toHaveLength(1);
    expect(first.rec.messages.filter((m) => m.startsWith('the agent on'))).toEqual([]);
  });

  it('gives up on an agent that does not come back within agents.deadlines.agentReturnMs: the writers stay stopped and the message says so', async () => {
    const w = site();
    w.agents.restoreFailures.set('switch tarantool:shard-2', { times: 1, error: new UnreachableError('Connection dropped') });
    w.agents.restoreFailures.set('rollback tarantool:shard-2', { times: 100, error: new UnreachableError('No connection established') });
    const first = fakeContext();
    const err = await failure(w.orchestrator.run(first.ctx, req()));
    expect(err.message).toContain("PUTTING BACK FAILED: rolling back tarantool:shard-2 on host 't2' failed: No connection established; writers still stopped");
    expect(w.calls.filter((c) => c.startsWith('start'))).toEqual([]);
  });

  it('takes the safety snapshot on resume when the run stopped before it was taken', async () => {
    const w = site();
    w.snapshots.failure = new UnavailableError('nats down');
    const first = fakeContext();
    await failure(w.orchestrator.run(first.ctx, req()));
    w.snapshots.failure = undefined;
    w.calls.length = 0;
    const outcome = await w.orchestrator.resume(fakeContext(persisted(first.ctx.detail)).ctx);
    expect(w.calls).toEqual(FULL_RUN);
    expect(outcome.safetySnapshotId).toBe('safety-1');
  });

  it('refuses to resume a job without a plan, or a completed one', async () => {
    const w = site();
    const empty = await failure(w.orchestrator.resume(fakeContext({}, 'j-x').ctx));
    expect(empty).toBeInstanceOf(IllegalStateError);
    expect(empty.message).toBe("job 'j-x' has no restore plan in its detail: it cannot be resumed (start a new restore)");

    const done = fakeContext();
    await w.orchestrator.run(done.ctx, req());
    const again = await failure(w.orchestrator.resume(fakeContext(persisted(done.ctx.detail), 'j-done').ctx));
    expect(again).toBeInstanceOf(IllegalStateError);
    expect(again.message).toBe("restore job 'j-done' already completed: there is nothing to resume");
  });

  it('refuses a damaged plan naming the field', async () => {
    const w = site();
    const detail = { plan: { version: 1, request: {}, snapshot: {} } };
    const err = await failure(w.orchestrator.resume(fakeContext(detail, 'j-bad').ctx));
    expect(err).toBeInstanceOf(IllegalStateError);
    expect(err.message).toMatch(/^job 'j-bad': its stored restore plan is invalid \(request\.site: /);
  });
});

describe('integrity check', () => {
  it('fails the job naming the counts, and a resume only starts writers and checks again', async () => {
    const w = site();
    w.agents.reports.set('msk-1-db:50051', { configured: true, ok: false, errors: 3, warnings: 1, summary: '3 dangling face references' });
    const first = fakeContext();
    const err = await failure(w.orchestrator.run(first.ctx, req()));
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect(err).toMatchObject({ code: 'ILLEGAL_STATE', stage: 'integrity-check', host: 'db' });
    expect(err.message).toBe(
      "restore of snapshot 'c-0100' into site 'msk-1' finished, but the integrity check (host 'db') found 3 error(s) and 1 warning(s): 3 dangling face references",
    );
    expect(first.ctx.detail.outcome).toMatchObject({ integrity: { errors: 3, warnings: 1, host: 'db' }, safetySnapshotId: 'safety-1' });
    expect((first.ctx.detail.progress as RestoreProgress).completed).toBe(false);

    w.agents.reports.set('msk-1-db:50051', OK);
    w.calls.length = 0;
    const outcome = await w.orchestrator.resume(fakeContext(persisted(first.ctx.detail)).ctx);
    expect(w.calls).toEqual(['check msk-1-db:50051']);
    expect(outcome.integrity.errors).toBe(0);
  });

  it('asks the PostgreSQL host first, then the others, and uses the first that has a check configured', async () => {
    const w = world(SNAP);
    // 'aux' sorts before 'db': the PostgreSQL host is asked first on purpose, not by name.
    w.fleet.add('msk-1', 'db', [pg()]).add('msk-1', 'aux', [uploads()]);
    w.agents.reports.set('msk-1-aux:50051', { configured: true, ok: true, errors: 0, warnings: 2, summary: '2 orphan files' });
    const { ctx } = fakeContext();
    const outcome = await w.orchestrator.run(ctx, req({ components: ['postgres:main'], noSafetySnapshot: true }));
    expect(w.calls.filter((c) => c.startsWith('check'))).toEqual(['check msk-1-db:50051', 'check msk-1-aux:50051']);
    expect(outcome.integrity).toEqual({ configured: true, ok: true, errors: 0, warnings: 2, summary: '2 orphan files', host: 'aux' });
  });

  it('completes unverified, with a note, when no agent has a check configured', async () => {
    const w = world(SNAP);
    standardSite(w.fleet, 'msk-1');
    const { ctx } = fakeContext();
    const outcome = await w.orchestrator.run(ctx, req({ components: ['uploads:uploads'], noSafetySnapshot: true }));
    expect(outcome.integrity).toMatchObject({ configured: false, host: '' });
    expect(outcome.notes).toContain("no agent of site 'msk-1' has an integrity check configured: the restore was not verified");
  });

  it('fails naming the hosts when the check cannot run anywhere', async () => {
    const w = world(SNAP);
    w.fleet.add('msk-1', 'db', [pg()]);
    w.agents.reports.set('msk-1-db:50051', new UnavailableError('deadline exceeded'));
    const { ctx } = fakeContext();
    const err = await failure(w.orchestrator.run(ctx, req({ components: ['postgres:main'], noSafetySnapshot: true })));
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect(err.message).toBe(
      "the integrity check of site 'msk-1' could not run (host 'db': deadline exceeded); continue with 'ffkeeper restore --resume j-restore-1'",
    );
  });
});
