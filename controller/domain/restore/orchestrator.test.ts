import { describe, expect, it } from 'vitest';
import { CancelledError, IllegalStateError, UnavailableError, type FfkError } from '../../../shared/errors.js';
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

const FULL_RUN = [
  'snapshot msk-1 (safety before restore of c-0100)',
  'repository msk-1',
  'stop msk-1-db:50051 findface-security',
  'stop msk-1-api:50051 findface-sf-api',
  'restore msk-1-t1:50051 tarantool:shard-1',
  'restore msk-1-t2:50051 tarantool:shard-2',
  'restore msk-1-up:50051 uploads:uploads',
  'restore msk-1-db:50051 postgres:main',
  'start msk-1-api:50051 findface-sf-api',
  'check msk-1-db:50051',
];

describe('RestoreOrchestrator.run', () => {
  it('takes the safety snapshot first, stops writers, restores shards and uploads before PostgreSQL, starts writers, checks', async () => {
    const w = site();
    const { ctx, rec } = fakeContext();
    const outcome = await w.orchestrator.run(ctx, req());
    expect(w.calls).toEqual(FULL_RUN);
    expect(outcome).toMatchObject({ snapshotId: 'c-0100', sourceSite: 'msk-1', targetSite: 'msk-1', safetySnapshotId: 'safety-1' });
    expect(outcome.components.map((c) => c.component)).toEqual(['tarantool:shard-1', 'tarantool:shard-2', 'uploads:uploads', 'postgres:main']);
    expect(outcome.writersRestarted).toEqual(['db: findface-security (started by the PostgreSQL restore)', 'api: findface-sf-api']);
    expect(outcome.integrity).toEqual({ ...OK, host: 'db' });
    expect(ctx.detail.outcome).toEqual(outcome);
    expect((ctx.detail.progress as RestoreProgress).completed).toBe(true);
    expect((ctx.detail.progress as RestoreProgress).stoppedWriters).toEqual([]);
    expect(rec.steps).toEqual([
      'plan',
      'safety-snapshot',
      'stop-writers',
      'restore tarantool:shard-1',
      'restore tarantool:shard-2',
      'restore uploads:uploads',
      'restore postgres:main',
      'start-writers',
      'integrity-check',
      'done',
    ]);
  });

  it("restores from the snapshot's own repository into another site, one artifact per call, with the job id", async () => {
    const w = world(SNAP);
    standardSite(w.fleet, 'scratch', { db: 's-db', api: 's-api', t1: 's-t1', t2: 's-t2', up: 's-up' });
    w.agents.reports.set('scratch-s-db:50051', OK);
    const { ctx } = fakeContext();
    const outcome = await w.orchestrator.run(ctx, req({ toSite: 'scratch' }));
    expect(w.calls.slice(0, 2)).toEqual(['snapshot scratch (safety before restore of c-0100)', 'repository msk-1']);
    expect(outcome.targetSite).toBe('scratch');
    expect(w.agents.restoreRequests.map((r) => [r.address, r.artifacts.map((a) => `${a.component} ${a.snapshotIds.join()}`), r.repository.url, r.jobId, r.timeoutMs])).toEqual([
      ['scratch-s-t1:50051', ['tarantool:shard-1 r-tarantool:shard-1'], '/srv/repos/msk-1', 'j-restore-1', 60_000],
      ['scratch-s-t2:50051', ['tarantool:shard-2 r-tarantool:shard-2'], '/srv/repos/msk-1', 'j-restore-1', 60_000],
      ['scratch-s-up:50051', ['uploads:uploads r-uploads:uploads'], '/srv/repos/msk-1', 'j-restore-1', 60_000],
      ['scratch-s-db:50051', ['postgres:main r-postgres:main'], '/srv/repos/msk-1', 'j-restore-1', 60_000],
    ]);
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

  it('starts findface-security itself when PostgreSQL is not restored', async () => {
    const w = site();
    const { ctx } = fakeContext();
    const outcome = await w.orchestrator.run(ctx, req({ components: ['uploads:uploads'], noSafetySnapshot: true }));
    expect(w.calls).toEqual([
      'repository msk-1',
      'stop msk-1-db:50051 findface-security',
      'stop msk-1-api:50051 findface-sf-api',
      'restore msk-1-up:50051 uploads:uploads',
      'start msk-1-api:50051 findface-sf-api',
      'start msk-1-db:50051 findface-security',
      'check msk-1-db:50051',
    ]);
    expect(outcome.writersRestarted).toEqual(['api: findface-sf-api', 'db: findface-security']);
  });

  it('forwards agent progress and steps to the job', async () => {
    const w = site();
    const { ctx, rec } = fakeContext();
    await w.orchestrator.run(ctx, req({ components: ['tarantool:shard-1'] }));
    expect(rec.progress).toEqual([{ component: 'tarantool:shard-1', bytesDone: 50, bytesTotal: 100, filesDone: 1, filesTotal: 2, etaSeconds: 1 }]);
    expect(rec.messages).toContain("tarantool:shard-1 on 't1': place files ok (5 ms)");
    expect(rec.messages).toContain("safety snapshot 'safety-1' of site 'msk-1' taken");
  });

  it('starts the writers it stopped when stopping another fails, and restores nothing', async () => {
    const w = site();
    w.agents.unitFailures.set('stop msk-1-api:50051 findface-sf-api', new UnavailableError('systemctl stop findface-sf-api timed out'));
    const { ctx } = fakeContext();
    const err = await failure(w.orchestrator.run(ctx, req({ noSafetySnapshot: true })));
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect(err.message).toBe(
      "could not stop findface-sf-api on host 'api' of site 'msk-1': systemctl stop findface-sf-api timed out; " +
        'nothing was restored and the writers were started again (db: findface-security)',
    );
    expect(w.calls).toEqual(['repository msk-1', 'stop msk-1-db:50051 findface-security', 'stop msk-1-api:50051 findface-sf-api', 'start msk-1-db:50051 findface-security']);
  });

  it('is cancelled between components through the job signal', async () => {
    const w = site();
    const { ctx, abort } = fakeContext();
    const restore = w.agents.restore.bind(w.agents);
    w.agents.restore = async (...args: Parameters<typeof restore>) => {
      const steps = await restore(...args);
      abort.abort(); // the controller shuts down while the first component finishes
      return steps;
    };
    const err = await failure(w.orchestrator.run(ctx, req({ noSafetySnapshot: true })));
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect((err as FfkError).code).toBe('CANCELLED');
    expect((err as RestoreFailedError).cause).toBeInstanceOf(CancelledError);
    // Shards and uploads run in parallel (one per host); the cancellation stops the restore before PostgreSQL.
    expect(err.message).toContain("restore job 'j-restore-1' was cancelled before restoring postgres:main");
    expect(w.calls.filter((c) => c.startsWith('restore '))).toEqual([
      'restore msk-1-t1:50051 tarantool:shard-1',
      'restore msk-1-t2:50051 tarantool:shard-2',
      'restore msk-1-up:50051 uploads:uploads',
    ]);
  });
});

describe('failure in the middle and resume', () => {
  const SHARD2_FAILED = "restore of tarantool:shard-2 stopped at step 'place checkpoint files': disk full; the shard's previous files were put back";

  it('stops at the failing component naming it, keeps writers stopped, and resume restores only the rest', async () => {
    const w = site();
    w.agents.restoreFailures.set('tarantool:shard-2', { times: 1, error: new UnavailableError(SHARD2_FAILED) });
    const first = fakeContext();
    const err = await failure(w.orchestrator.run(first.ctx, req()));
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect(err).toMatchObject({ stage: 'restore', component: 'tarantool:shard-2', host: 't2', code: 'UNAVAILABLE' });
    expect(err.message).toBe(
      `restore of component 'tarantool:shard-2' on host 't2' of site 'msk-1' failed: ${SHARD2_FAILED}; ` +
        '2 of 4 components restored (tarantool:shard-1, uploads:uploads); writers still stopped: db: findface-security, api: findface-sf-api; ' +
        "continue with 'ffkeeper restore --resume j-restore-1'",
    );
    // Hosts restore in parallel: uploads (another host) still finished; PostgreSQL never started.
    expect(w.calls).toEqual(FULL_RUN.slice(0, 7));
    const progress = first.ctx.detail.progress as RestoreProgress;
    expect(progress.finished.map((f) => f.component).sort()).toEqual(['tarantool:shard-1', 'uploads:uploads']);
    expect(progress.failed).toEqual({ component: 'tarantool:shard-2', host: 't2', stage: 'restore', message: SHARD2_FAILED });

    // The controller restarts; the shard's agent comes back on another port.
    w.fleet.add('msk-1', 't2', [{ kind: 'tarantool', name: 'shard-2', host: '127.0.0.1', port: 3301, memtxDir: '/m', walDir: '/w', unit: 'tarantool@shard-2' }], {
      address: 'msk-1-t2:50099',
    });
    w.calls.length = 0;
    const second = fakeContext(persisted(first.ctx.detail));
    const outcome = await w.orchestrator.resume(second.ctx);
    expect(w.calls).toEqual([
      'repository msk-1',
      'stop msk-1-db:50051 findface-security',
      'stop msk-1-api:50051 findface-sf-api',
      'restore msk-1-t2:50099 tarantool:shard-2',
      'restore msk-1-db:50051 postgres:main',
      'start msk-1-api:50051 findface-sf-api',
      'check msk-1-db:50051',
    ]);
    expect(outcome.safetySnapshotId).toBe('safety-1');
    expect(outcome.components.map((c) => c.component)).toEqual(['tarantool:shard-1', 'uploads:uploads', 'tarantool:shard-2', 'postgres:main']);
    expect(outcome.integrity.errors).toBe(0);
    expect((second.ctx.detail.progress as RestoreProgress).failed).toBeUndefined();
    expect(second.rec.steps[0]).toBe('resume');
    expect(second.rec.messages[0]).toBe(
      "resuming the restore of snapshot 'c-0100' into site 'msk-1': 2 of 4 components left (tarantool:shard-2, postgres:main)",
    );
  });

  it('starts the writers again when the first component fails; resume does not take a second safety snapshot', async () => {
    const w = site();
    for (const ref of ['tarantool:shard-1', 'tarantool:shard-2', 'uploads:uploads']) {
      w.agents.restoreFailures.set(ref, { times: 1, error: new Error('repository locked') });
    }
    const first = fakeContext();
    const err = await failure(w.orchestrator.run(first.ctx, req()));
    expect(err).toBeInstanceOf(RestoreFailedError);
    expect((err as FfkError).code).toBe('INTERNAL');
    expect(err.message).toBe(
      "restore of component 'tarantool:shard-1' on host 't1' of site 'msk-1' failed: repository locked; " +
        'nothing was restored and the writers were started again (api: findface-sf-api, db: findface-security); ' +
        "continue with 'ffkeeper restore --resume j-restore-1'",
    );
    expect(w.calls.slice(-2)).toEqual(['start msk-1-api:50051 findface-sf-api', 'start msk-1-db:50051 findface-security']);
    w.calls.length = 0;
    const second = fakeContext(persisted(first.ctx.detail));
    await w.orchestrator.resume(second.ctx);
    expect(w.calls).toEqual(FULL_RUN.slice(1));
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
