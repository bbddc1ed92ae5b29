import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { exitCodeFor } from '../../../shared/exit-codes.js';
import { JobFailedError } from '../job-outcome.js';
import { at, ev, jobRecord, makeDeps } from '../fakes.test-support.js';
import { runCatalogRebuild } from './catalog.js';
import { eventLine, runJobsList, runJobsLogs, runJobsShow } from './jobs.js';

let savedTz: string | undefined;
beforeAll(() => {
  savedTz = process.env.TZ;
  process.env.TZ = 'UTC';
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

const failed = jobRecord({
  id: 'j-2',
  kind: 'snapshot',
  phase: 'Failed',
  step: 'upload',
  updatedAt: at(9500),
  error: { code: 'UNAVAILABLE', message: "agent 'msk-1/db' stopped answering during upload of postgres:main after 3 retries" },
});
const running = jobRecord({ id: 'j-3', phase: 'InProgress', step: 'restore', createdAt: at(40_000), updatedAt: at(41_000) });

describe('jobs list', () => {
  it('prints a table, durations of running jobs counted to now', async () => {
    const { deps, api, cap } = makeDeps({ now: at(100_000) });
    api.jobs = [running, failed, jobRecord()];
    await runJobsList({ site: 'msk-1', limit: 3, json: false }, deps);
    expect(api.calls).toEqual([{ method: 'listJobs', args: [{ site: 'msk-1', limit: 3 }] }]);
    expect(cap.out.join('\n')).toBe(
      [
        'ID   KIND      SITE   PHASE       STEP     CREATED              DURATION  ERROR',
        'j-3  restore   msk-1  InProgress  restore  2026-11-21 10:00:40  1m00s+',
        "j-2  snapshot  msk-1  Failed      upload   2026-11-21 10:00:00  9.5s      UNAVAILABLE: agent 'msk-1/db' stopped answering during uplo…",
        'j-1  restore   msk-1  Completed   done     2026-11-21 10:00:00  1m12s',
      ].join('\n'),
    );
  });

  it('--json prints the records; an empty list says so', async () => {
    const a = makeDeps();
    a.api.jobs = [failed];
    await runJobsList({ json: true }, a.deps);
    expect(JSON.parse(a.cap.out.join(''))).toMatchObject([{ id: 'j-2', error: { code: 'UNAVAILABLE' } }]);
    expect(a.api.calls[0]?.args).toEqual([{}]);
    const b = makeDeps();
    await runJobsList({ site: 'msk-1', json: false }, b.deps);
    expect(b.cap.out).toEqual(["no jobs for site 'msk-1'"]);
  });
});

describe('jobs show', () => {
  it('prints the record and its detail', async () => {
    const { deps, api, cap } = makeDeps();
    api.jobs = [{ ...failed, detail: { cutId: 'c-1', agents: ['db'] } }];
    await runJobsShow({ id: 'j-2', json: false }, deps);
    expect(cap.out.join('\n')).toBe(
      [
        "job j-2 (snapshot) of site 'msk-1'",
        'phase:    Failed',
        'step:     upload',
        'created:  2026-11-21 10:00:00',
        'updated:  2026-11-21 10:00:09',
        'duration: 9.5s',
        `error:    UNAVAILABLE: ${failed.error?.message ?? ''}`,
        'detail:',
        '  {',
        '    "cutId": "c-1",',
        '    "agents": [',
        '      "db"',
        '    ]',
        '  }',
      ].join('\n'),
    );
  });

  it('rejects a malformed job id', async () => {
    const { deps, api } = makeDeps();
    const err = await runJobsShow({ id: '../x', json: false }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe("job id '../x' is not a valid id (1-63 letters, digits, '-' or '_')");
    expect(api.calls).toEqual([]);
  });
});

describe('jobs logs', () => {
  it.each([
    [ev.message(1234, 'freeze', 'pausing pgbouncer'), '2026-11-21 10:00:01.234  freeze  pausing pgbouncer'],
    [
      ev.progress(2000, 'upload', { component: 'uploads:media', bytesDone: 512, bytesTotal: 1024, filesDone: 1, filesTotal: 2, etaSeconds: 2 }),
      '2026-11-21 10:00:02.000  upload  uploads:media  512 B/1.0 KiB 50%  1/2 files  ETA 2s',
    ],
    [ev.outcome(3000, 'Completed'), '2026-11-21 10:00:03.000  done  outcome: Completed'],
    [ev.outcome(3000, 'Failed', { code: 'TIMEOUT', message: 'freeze lease expired' }), '2026-11-21 10:00:03.000  done  outcome: Failed (TIMEOUT: freeze lease expired)'],
  ])('line of %o', (e, line) => {
    expect(eventLine(e)).toBe(line);
  });

  it('prints every event; without --follow a failed job is not an error of the command', async () => {
    const { deps, api, cap } = makeDeps();
    api.job = { events: [ev.message(0, 'new', 'started'), ev.outcome(10, 'Failed', { code: 'TIMEOUT', message: 'lease expired' })] };
    await runJobsLogs({ id: 'j-1', follow: false, json: false }, deps);
    expect(api.calls).toEqual([{ method: 'watchJob', args: ['j-1', false] }]);
    expect(cap.out).toHaveLength(2);
  });

  it('--follow exits with the job error code when it fails', async () => {
    const { deps, api } = makeDeps();
    api.job = { events: [ev.message(0, 'new', 'started'), ev.outcome(10, 'Failed', { code: 'TIMEOUT', message: 'lease expired' })] };
    const err = await runJobsLogs({ id: 'j-1', follow: true, json: false }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as Error).message).toBe("job 'j-1' for site 'msk-1' ended Failed: lease expired");
    expect(exitCodeFor(err)).toBe(6);
  });

  it('--follow of a completed job succeeds; --json prints one object per line', async () => {
    const { deps, api, cap } = makeDeps();
    api.job = { events: [ev.message(0, 'new', 'started'), ev.outcome(10, 'Completed')] };
    await runJobsLogs({ id: 'j-1', follow: true, json: true }, deps);
    expect(cap.out.map((l) => JSON.parse(l) as { time: string })).toMatchObject([
      { message: 'started', time: '2026-11-21T10:00:00.000Z' },
      { outcome: { phase: 'Completed' } },
    ]);
  });

  it('says so when a job has no events', async () => {
    const { deps, cap } = makeDeps();
    await runJobsLogs({ id: 'j-9', follow: false, json: false }, deps);
    expect(cap.err).toEqual(["job 'j-9' has no events yet"]);
  });
});

describe('catalog rebuild', () => {
  it('prints what was found, added and removed', async () => {
    const { deps, api, cap } = makeDeps();
    await runCatalogRebuild({ site: 'msk-1', json: false }, deps);
    expect(api.calls).toEqual([{ method: 'rebuildCatalog', args: ['msk-1'] }]);
    expect(cap.out).toEqual(["catalog of site 'msk-1' rebuilt from its repository: 4 snapshots found, 1 added, 2 removed"]);
  });

  it('--json prints the counts', async () => {
    const { deps, cap } = makeDeps();
    await runCatalogRebuild({ site: 'msk-1', json: true }, deps);
    expect(JSON.parse(cap.out.join(''))).toEqual({ site: 'msk-1', snapshots: 4, added: 1, removed: 2, flagged: [] });
  });

  it('warns on stderr about each stored manifest it left out', async () => {
    const { deps, api, cap } = makeDeps();
    api.rebuilt = { ...api.rebuilt, flagged: ["repository snapshot 1a2b3c4d (cut c-1, stored 2027-01-01T00:00:00.000Z by host 'db'): its seal does not match"] };
    await runCatalogRebuild({ site: 'msk-1', json: false }, deps);
    expect(cap.err).toEqual([
      'WARNING: 1 stored manifest(s) left out, not trusted (a host with append credentials may have forged them):',
      "  repository snapshot 1a2b3c4d (cut c-1, stored 2027-01-01T00:00:00.000Z by host 'db'): its seal does not match",
    ]);
  });
});
