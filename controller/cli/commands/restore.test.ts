import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CancelledError, IllegalStateError, UnavailableError, ValidationError } from '../../../shared/errors.js';
import { exitCodeFor } from '../../../shared/exit-codes.js';
import type { RestorePlan } from '../api.js';
import { JobFailedError } from '../job-outcome.js';
import { type FakeApi, ev, jobRecord, makeDeps, snapshotSummary } from '../fakes.test-support.js';
import { checkComponentRef, type RestoreOptions } from './restore-args.js';
import { parseRestoreTime, restoreArgsOf, runRestore } from './restore.js';

let savedTz: string | undefined;
beforeEach(() => {
  savedTz = process.env.TZ;
  // UTC+3 all year (no DST): local times are distinguishable from UTC.
  process.env.TZ = 'Europe/Moscow';
});
afterEach(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

const opts = (over: Partial<RestoreOptions> = {}): RestoreOptions => ({ latest: false, components: [], safetySnapshot: true, yes: false, json: false, ...over });

describe('parseRestoreTime', () => {
  it.each([
    ['2026-11-21T17:30:00Z', '2026-11-21T17:30:00.000Z'],
    ['2026-11-21T17:30:00.250Z', '2026-11-21T17:30:00.250Z'],
    ['2026-11-21T17:30+03:00', '2026-11-21T14:30:00.000Z'],
    ['2026-11-21T17:30:00-0130', '2026-11-21T19:00:00.000Z'],
    ['2026-11-21T17:30:00', '2026-11-21T14:30:00.000Z'],
    ['2026-11-21 17:30', '2026-11-21T14:30:00.000Z'],
    ['2026-11-21 17:30:15', '2026-11-21T14:30:15.000Z'],
    ['2026-11-21', '2026-11-20T21:00:00.000Z'],
  ])('%s → %s', (text, iso) => {
    expect(parseRestoreTime(text).toISOString()).toBe(iso);
  });

  it.each([
    ['yesterday', 'unrecognised format'],
    ['2026-11-21 17', 'unrecognised format'],
    ['21.11.2026 17:30', 'unrecognised format'],
    ['2026-02-30 10:00', 'no such date or time'],
    ['2026-11-21 24:00', 'no such date or time'],
    ['2026-13-01T00:00Z', 'no such date or time'],
    ['2026-11-21T10:00+19:00', 'offset +19:00 out of range'],
  ])('%s is refused (%s)', (text, why) => {
    expect(() => parseRestoreTime(text)).toThrow(ValidationError);
    expect(() => parseRestoreTime(text)).toThrow(`--before '${text}' is not a valid time (${why})`);
  });
});

describe('restore selector validation', () => {
  it.each([
    [opts({ site: 's' }), 'no snapshot was chosen: give exactly one of --snapshot ID, --before TIME, --latest'],
    [opts({ site: 's', snapshot: 'c-1', latest: true }), '--snapshot and --latest cannot be combined: give exactly one of --snapshot ID, --before TIME, --latest'],
    [opts({ site: 's', snapshot: 'c-1', before: '2026-11-21', latest: true }), '--snapshot and --before and --latest cannot be combined'],
    [opts({ latest: true }), 'restore needs --site SITE (the site whose snapshot is restored), or --resume JOB'],
    [opts({ site: 's', latest: true, components: ['postgres'] }), "--component 'postgres' must be written KIND:NAME"],
    [opts({ site: 's', latest: true, toSite: 'b/c' }), "--to-site 'b/c' is not a valid id"],
    [opts({ site: 's', before: 'soon' }), "--before 'soon' is not a valid time"],
  ])('%o is refused', async (o, message) => {
    expect(() => restoreArgsOf(o)).toThrow(ValidationError);
    expect(() => restoreArgsOf(o)).toThrow(message);
    const { deps, api } = makeDeps();
    await expect(runRestore(o, deps)).rejects.toThrow(message);
    expect(api.calls).toEqual([]);
  });

  it.each([
    [opts({ resume: 'j-1', latest: true }), '--resume cannot be combined with --latest'],
    [opts({ resume: 'j-1', snapshot: 'c-1', components: ['postgres:main'], safetySnapshot: false }), '--resume cannot be combined with --snapshot, --component, --no-safety-snapshot'],
    [opts({ resume: 'j-1', toSite: 'b' }), '--resume cannot be combined with --to-site'],
  ])('--resume with other selectors is refused: %o', async (o, message) => {
    const { deps, api } = makeDeps();
    const err = await runRestore(o, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe(`${message}: a resumed restore keeps the plan it started with`);
    expect(api.calls).toEqual([]);
  });

  it('builds the request for each selector', () => {
    expect(restoreArgsOf(opts({ site: 'a', snapshot: 'c-1' })).selector).toEqual({ kind: 'id', id: 'c-1' });
    expect(restoreArgsOf(opts({ site: 'a', latest: true })).selector).toEqual({ kind: 'latest' });
    expect(restoreArgsOf(opts({ site: 'a', before: '2026-11-21 17:30' })).selector).toEqual({ kind: 'before', time: new Date('2026-11-21T14:30:00Z') });
    expect(restoreArgsOf(opts({ site: 'a', latest: true, components: ['tarantool:shard-1'], toSite: 'b', safetySnapshot: false }))).toEqual({
      site: 'a',
      selector: { kind: 'latest' },
      components: ['tarantool:shard-1'],
      toSite: 'b',
      noSafetySnapshot: true,
    });
  });

  it.each(['postgres:main', 'tarantool:shard-1', 'sf-api:api'])('component %s is accepted', (ref) => {
    expect(checkComponentRef(ref)).toBe(ref);
  });
});

const plan = (over: Partial<RestorePlan> = {}): RestorePlan => ({
  snapshot: snapshotSummary(),
  targetSite: 'msk-1',
  safetySnapshot: true,
  steps: [
    { host: 'db', component: 'postgres:main', action: 'restore database ffsecurity' },
    { host: 'tnt', component: 'tarantool:shard-1', action: 'place checkpoint 42' },
  ],
  ...over,
});

function restoreJob(api: FakeApi, outcome = ev.outcome(72_000, 'Completed'), detail: Record<string, unknown> = {}): void {
  api.plan = plan();
  api.job = {
    events: [
      ev.message(0, 'new', 'restore job j-1 started for site msk-1'),
      ev.message(10, 'safety-snapshot', 'taking a safety snapshot'),
      ev.progress(2000, 'restore', { component: 'tarantool:shard-1', bytesDone: 1024, bytesTotal: 2048, filesDone: 1, filesTotal: 2, etaSeconds: 3 }),
      outcome,
    ],
  };
  api.jobs = [jobRecord({ phase: outcome.outcome?.phase ?? 'Completed', detail })];
}

const GOOD_DETAIL = {
  snapshotId: 'c-20261121-1000',
  safetySnapshotId: 'c-safety-1',
  writersStoppedMs: 4200,
  integrity: { configured: true, ok: true, errors: 0, warnings: 1, summary: 'rows 1200, vectors 1200, files 1200\norphans 1' },
};

describe('restore', () => {
  it('prints the plan, asks, restores with progress and ends with the integrity report', async () => {
    const { deps, api, cap } = makeDeps({ interactive: true, answers: ['yes'] });
    restoreJob(api, undefined, GOOD_DETAIL);
    await runRestore(opts({ site: 'msk-1', latest: true }), deps);
    expect(api.names()).toEqual(['planRestore', 'restore', 'getJob']);
    expect(cap.questions).toEqual(["restore snapshot 'c-20261121-1000' into site 'msk-1'? [y/N] "]);
    expect(cap.out[0]).toBe(
      [
        "restore plan: snapshot c-20261121-1000 (taken 2026-11-21 13:00:00, 5.0 GiB) into its own site 'msk-1'",
        "safety snapshot: yes, the current state of 'msk-1' is snapshotted first",
        'steps:',
        'HOST  COMPONENT          ACTION',
        'db    postgres:main      restore database ffsecurity',
        'tnt   tarantool:shard-1  place checkpoint 42',
      ].join('\n'),
    );
    expect(cap.progress.join('')).toContain('[00:00] safety-snapshot: taking a safety snapshot\n');
    expect(cap.progress.join('')).toContain('[00:02] restore tarantool:shard-1  1.0 KiB/2.0 KiB 50%  1/2 files  ETA 3s\n');
    expect(cap.out[1]).toBe(
      [
        "restore job j-1 of site 'msk-1' Completed in 1m12s from snapshot c-20261121-1000",
        'safety snapshot: c-safety-1 (roll back with: ffkeeper restore --site msk-1 --snapshot c-safety-1)',
        'writers stopped for 4.2s of a 1m12s restore',
        'integrity: OK, 0 errors, 1 warnings',
        '  rows 1200, vectors 1200, files 1200',
        '  orphans 1',
      ].join('\n'),
    );
  });

  it('refuses without --yes when stdin is not a terminal, after printing the plan and before acting', async () => {
    const { deps, api, cap } = makeDeps({ interactive: false });
    restoreJob(api);
    const err = await runRestore(opts({ site: 'msk-1', snapshot: 'c-20261121-1000' }), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe(
      "refusing to restore snapshot 'c-20261121-1000' into site 'msk-1' without confirmation: stdin is not a terminal; pass --yes to confirm",
    );
    expect(cap.out[0]).toContain('restore plan: snapshot c-20261121-1000');
    expect(api.names()).toEqual(['planRestore']);
  });

  it('does nothing when the answer is no', async () => {
    const { deps, api } = makeDeps({ interactive: true, answers: [''] });
    restoreJob(api);
    await expect(runRestore(opts({ site: 'msk-1', latest: true }), deps)).rejects.toThrow(CancelledError);
    expect(api.names()).toEqual(['planRestore']);
  });

  it('warns in the plan when no safety snapshot is taken, and says where a cross-site restore goes', async () => {
    const { deps, api, cap } = makeDeps();
    restoreJob(api);
    api.plan = plan({ safetySnapshot: false, targetSite: 'spb-2' });
    await runRestore(opts({ site: 'msk-1', latest: true, toSite: 'spb-2', safetySnapshot: false, yes: true }), deps);
    expect(cap.out[0]).toContain("from site 'msk-1' into site 'spb-2'");
    expect(cap.out[0]).toContain("safety snapshot: NO (--no-safety-snapshot): the current state of 'spb-2' will be lost");
    expect(api.calls[0]?.args[0]).toMatchObject({ toSite: 'spb-2', noSafetySnapshot: true });
  });

  it('a failed restore prints what is known, exits with the job error code and says how to resume', async () => {
    const { deps, api, cap } = makeDeps();
    restoreJob(api, ev.outcome(5000, 'Failed', { code: 'UNAVAILABLE', message: "agent 'msk-1/tnt' unreachable" }), { safetySnapshotId: 'c-safety-1' });
    const err = await runRestore(opts({ site: 'msk-1', latest: true, yes: true }), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as Error).message).toBe(
      "restore job 'j-1' for site 'msk-1' ended Failed: agent 'msk-1/tnt' unreachable; continue it with: ffkeeper restore --resume j-1",
    );
    expect(exitCodeFor(err)).toBe(5);
    expect(cap.out[1]).toContain('safety snapshot: c-safety-1');
    expect(cap.out[1]).toContain('integrity: not reported');
  });

  it('a restore refused by validation does not offer --resume', async () => {
    const { deps, api } = makeDeps();
    restoreJob(api, ev.outcome(50, 'FailedValidation', { code: 'VALIDATION', message: "model face-v2 of snapshot differs from face-v1 of shard 'tnt'" }));
    const err = await runRestore(opts({ site: 'msk-1', latest: true, yes: true }), deps).catch((e: unknown) => e);
    expect((err as Error).message).toBe("restore job 'j-1' for site 'msk-1' ended FailedValidation: model face-v2 of snapshot differs from face-v1 of shard 'tnt'");
    expect(exitCodeFor(err)).toBe(2);
  });

  it('a stream lost mid-restore names the job, how to follow and resume it', async () => {
    const { deps, api } = makeDeps();
    restoreJob(api);
    api.job.events = api.job.events.slice(0, 2);
    api.job.error = new UnavailableError('controller 127.0.0.1:7700 unavailable');
    const err = await runRestore(opts({ site: 'msk-1', latest: true, yes: true }), deps).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      "controller 127.0.0.1:7700 unavailable; lost the events of job 'j-1', which may still run: follow it with: ffkeeper jobs logs j-1 --follow; continue it with: ffkeeper restore --resume j-1",
    );
    expect(exitCodeFor(err)).toBe(5);
    expect(api.names()).toEqual(['planRestore', 'restore']);
  });

  it('reports integrity errors per host', async () => {
    const { deps, api, cap } = makeDeps();
    const integrity = [
      { host: 'db', ok: false, errors: 3, warnings: 0, summary: '3 dangling references' },
      { host: 'tnt', configured: false, ok: true, errors: 0 },
    ];
    restoreJob(api, ev.outcome(5000, 'PartiallyFailed', { code: 'ILLEGAL_STATE', message: 'integrity check found 3 errors' }), { integrity });
    const err = await runRestore(opts({ site: 'msk-1', latest: true, yes: true }), deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(8);
    expect(cap.out[1]).toContain('integrity (db): FAILED, 3 errors, 0 warnings\n  3 dangling references\nintegrity (tnt): no check configured');
  });

  it('--json keeps stdout to one document and sends the plan to stderr', async () => {
    const { deps, api, cap } = makeDeps();
    restoreJob(api, undefined, GOOD_DETAIL);
    await runRestore(opts({ site: 'msk-1', latest: true, yes: true, json: true }), deps);
    expect(cap.err[0]).toContain('restore plan:');
    expect(cap.progress).toEqual([]);
    const doc = JSON.parse(cap.out.join('')) as { plan: { targetSite: string }; job: { detail: typeof GOOD_DETAIL }; durationMs: number };
    expect(doc.plan.targetSite).toBe('msk-1');
    expect(doc.job.detail.safetySnapshotId).toBe('c-safety-1');
    expect(doc.durationMs).toBe(72_000);
  });
});

describe('restore --resume', () => {
  it('shows where the job stopped, asks, and continues it', async () => {
    const { deps, api, cap } = makeDeps({ interactive: true, answers: ['y'] });
    restoreJob(api, undefined, GOOD_DETAIL);
    api.jobs = [jobRecord({ phase: 'Failed', step: 'restore-tarantool', error: { code: 'CANCELLED', message: 'controller restarted' }, detail: GOOD_DETAIL })];
    // once resumed, the record says Completed
    const original = api.getJob.bind(api);
    let n = 0;
    api.getJob = async (id) => (n++ === 0 ? original(id) : { ...(await original(id)), phase: 'Completed' });
    await runRestore(opts({ resume: 'j-1', site: 'msk-1' }), deps);
    expect(api.names()).toEqual(['getJob', 'resumeRestore', 'getJob']);
    expect(cap.out[0]).toBe("restore job j-1 of site 'msk-1' stopped at step 'restore-tarantool', phase Failed (CANCELLED: controller restarted)");
    expect(cap.questions).toEqual(["resume restore job 'j-1' of site 'msk-1'? [y/N] "]);
    expect(cap.out[1]).toContain('integrity: OK, 0 errors');
  });

  it.each([
    [jobRecord({ kind: 'snapshot', phase: 'Failed' }), {}, ValidationError, "job 'j-1' is a snapshot job: only restore jobs can be resumed"],
    [jobRecord({ phase: 'Failed' }), { site: 'spb-2' }, ValidationError, "job 'j-1' restores site 'msk-1', not --site 'spb-2'"],
    [jobRecord({ phase: 'Completed' }), {}, IllegalStateError, "restore job 'j-1' of site 'msk-1' already completed: nothing to resume"],
  ])('refuses %#', async (record, extra, cls, message) => {
    const { deps, api } = makeDeps();
    api.jobs = [record];
    const err = await runRestore(opts({ resume: 'j-1', yes: true, ...extra }), deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(cls);
    expect((err as Error).message).toBe(message);
    expect(api.names()).toEqual(['getJob']);
  });
});
