import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, FfkError, InternalError, NotFoundError, UnavailableError, ValidationError } from '../../../shared/errors.js';
import { exitCodeFor } from '../../../shared/exit-codes.js';
import { encodeManifest } from '../../../shared/manifest-codec.js';
import { JobFailedError } from '../job-outcome.js';
import { type FakeApi, at, ev, makeDeps, manifest, snapshotSummary } from '../fakes.test-support.js';
import { runSnapshotCreate, runSnapshotDelete, runSnapshotList, runSnapshotShow } from './snapshot.js';

const MiB = 1024 * 1024;
let savedTz: string | undefined;
beforeAll(() => {
  savedTz = process.env.TZ;
  process.env.TZ = 'UTC';
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

function snapshotJob(api: FakeApi, outcome = ev.outcome(72_000, 'Completed')): void {
  api.job = {
    events: [
      ev.message(0, 'new', 'snapshot job j-1 started for site msk-1'),
      ev.message(50, 'freeze', 'freeze'),
      ev.progress(1000, 'upload', { component: 'postgres:main', bytesDone: 1 * MiB, bytesTotal: 2 * MiB, filesDone: 0, filesTotal: 1, etaSeconds: 4 }),
      ev.progress(3000, 'upload', { component: 'postgres:main', bytesDone: 2 * MiB, bytesTotal: 2 * MiB, filesDone: 1, filesTotal: 1, etaSeconds: 0 }),
      outcome,
    ],
  };
}

describe('snapshot create', () => {
  it('without --wait prints the job id and how to follow it, after the first event', async () => {
    const { deps, api, cap } = makeDeps();
    snapshotJob(api);
    const res = await runSnapshotCreate({ site: 'msk-1', wait: false, json: false }, deps);
    expect(res).toEqual({ jobId: 'j-1', detached: true });
    expect(cap.out.join('\n')).toBe("snapshot job j-1 started for site 'msk-1'\nfollow it with: ffkeeper jobs logs j-1 --follow");
    expect(cap.progress).toEqual([]);
    expect(api.calls[0]).toEqual({ method: 'createSnapshot', args: [{ site: 'msk-1', reason: 'manual' }] });
  });

  it('without --wait and --json prints the job id as JSON', async () => {
    const { deps, api, cap } = makeDeps();
    snapshotJob(api);
    await runSnapshotCreate({ site: 'msk-1', wait: false, json: true, leaseMs: 3000 }, deps);
    expect(JSON.parse(cap.out.join(''))).toEqual({ jobId: 'j-1', site: 'msk-1', phase: 'InProgress' });
    expect(api.calls[0]?.args[0]).toEqual({ site: 'msk-1', leaseMs: 3000, reason: 'manual' });
  });

  it('without --wait fails when the stream fails before the job starts', async () => {
    const { deps, api } = makeDeps();
    api.job = { events: [], error: new NotFoundError("site 'nope' has no agents") };
    await expect(runSnapshotCreate({ site: 'nope', wait: false, json: false }, deps)).rejects.toThrow(new NotFoundError("site 'nope' has no agents"));
  });

  it('with --wait shows progress and ends with the summary', async () => {
    const { deps, api, cap } = makeDeps();
    snapshotJob(api);
    api.snapshots = [snapshotSummary({ jobId: 'j-0', id: 'c-old' }), snapshotSummary()];
    const res = await runSnapshotCreate({ site: 'msk-1', wait: true, json: false }, deps);
    expect(res).toEqual({ jobId: 'j-1', detached: false });
    expect(cap.progress.join('')).toContain('[00:01] upload postgres:main  1.0 MiB/2.0 MiB 50%  0/1 files  ETA 4s\n');
    expect(cap.progress.join('')).toContain('[00:03] upload postgres:main  2.0 MiB/2.0 MiB 100%  1/1 files  done\n');
    expect(cap.out.join('\n')).toBe(
      [
        "snapshot c-20261121-1000 of site 'msk-1' sealed",
        '  size:        5.0 GiB',
        '  added:       12.0 MiB',
        '  freeze:      23ms',
        '  duration:    1m12s',
        '  components:  postgres:main, tarantool:shard-1, uploads:media',
        '  job:         j-1',
      ].join('\n'),
    );
  });

  it('with --wait --json prints one JSON document and no progress', async () => {
    const { deps, api, cap } = makeDeps();
    snapshotJob(api);
    api.snapshots = [snapshotSummary()];
    await runSnapshotCreate({ site: 'msk-1', wait: true, json: true }, deps);
    expect(cap.progress).toEqual([]);
    const doc = JSON.parse(cap.out.join('')) as { jobId: string; durationMs: number; snapshot: { id: string } };
    expect(doc).toMatchObject({ jobId: 'j-1', durationMs: 72_000, snapshot: { id: 'c-20261121-1000' } });
  });

  it.each([
    ['UNAVAILABLE', 5],
    ['ILLEGAL_STATE', 8],
    ['TIMEOUT', 6],
  ] as const)('with --wait, a job failed with %s exits with code %d and its reason', async (code, exit) => {
    const { deps, api } = makeDeps();
    snapshotJob(api, ev.outcome(9000, 'Failed', { code, message: 'agent msk-1/db stopped answering during upload' }));
    const err = await runSnapshotCreate({ site: 'msk-1', wait: true, json: false }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobFailedError);
    expect((err as JobFailedError).message).toBe("snapshot job 'j-1' for site 'msk-1' ended Failed: agent msk-1/db stopped answering during upload");
    expect(exitCodeFor(err)).toBe(exit);
    expect(api.names()).not.toContain('listSnapshots');
  });

  it('a FailedValidation job without an error code exits with the validation code', async () => {
    const { deps, api } = makeDeps();
    snapshotJob(api, ev.outcome(10, 'FailedValidation'));
    const err = await runSnapshotCreate({ site: 'msk-1', wait: true, json: false }, deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(2);
    expect((err as Error).message).toBe("snapshot job 'j-1' for site 'msk-1' ended FailedValidation: no reason recorded");
  });

  it('with --wait, a stream lost after the start names the job and how to follow it, keeping the code', async () => {
    const { deps, api } = makeDeps();
    api.job = { events: [ev.message(0, 'new', 'started')], error: new UnavailableError('controller 127.0.0.1:7700 unavailable: connection reset') };
    const err = await runSnapshotCreate({ site: 'msk-1', wait: true, json: false }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfkError);
    expect((err as Error).message).toBe(
      "controller 127.0.0.1:7700 unavailable: connection reset; lost the events of job 'j-1', which may still run: follow it with: ffkeeper jobs logs j-1 --follow",
    );
    expect(exitCodeFor(err)).toBe(5);
  });

  it('rejects a bad site before calling the controller', async () => {
    const { deps, api } = makeDeps();
    await expect(runSnapshotCreate({ site: 'msk 1', wait: true, json: false }, deps)).rejects.toThrow(ValidationError);
    await expect(runSnapshotCreate({ site: 'msk 1', wait: true, json: false }, deps)).rejects.toThrow("--site 'msk 1' is not a valid id");
    expect(api.calls).toEqual([]);
  });
});

describe('snapshot list', () => {
  it('prints a table of the sealed snapshots', async () => {
    const { deps, api, cap } = makeDeps();
    const verified = { site: 'msk-1', snapshotId: 'c-2', jobId: 'j-v', time: at(3_700_000), ok: true, readData: false, durationMs: 9000, steps: [] };
    api.snapshots = [
      snapshotSummary(),
      snapshotSummary({ id: 'c-2', createdAt: at(3_600_000), bytes: 1536, dataAddedBytes: 0, freezeWindowMs: 1260, components: ['postgres:main'], verification: verified }),
      snapshotSummary({ id: 'c-3', createdAt: at(3_600_000), verification: { ...verified, snapshotId: 'c-3', ok: false } }),
    ];
    await runSnapshotList({ site: 'msk-1', json: false }, deps);
    expect(cap.out.join('\n')).toBe(
      [
        'ID               CREATED              SIZE     ADDED     FREEZE  COMPONENTS  STATUS  VERIFIED',
        'c-20261121-1000  2026-11-21 10:00:00  5.0 GiB  12.0 MiB  23ms    3           sealed  -',
        'c-2              2026-11-21 11:00:00  1.5 KiB  0 B       1.2s    1           sealed  ok 11-21 11:01',
        'c-3              2026-11-21 11:00:00  5.0 GiB  12.0 MiB  23ms    3           sealed  FAILED 11-21 11:01',
      ].join('\n'),
    );
  });

  it('--json prints the summaries', async () => {
    const { deps, api, cap } = makeDeps();
    api.snapshots = [snapshotSummary()];
    await runSnapshotList({ site: 'msk-1', json: true }, deps);
    expect(JSON.parse(cap.out.join(''))).toEqual([{ ...snapshotSummary(), createdAt: '2026-11-21T10:00:00.000Z', sealedAt: '2026-11-21T10:00:05.000Z' }]);
  });

  it('says so when a site has none', async () => {
    const { deps, cap } = makeDeps();
    await runSnapshotList({ site: 'msk-1', json: false }, deps);
    expect(cap.out).toEqual(["no snapshots for site 'msk-1'"]);
  });
});

describe('snapshot show', () => {
  it('prints the summary and the components of the manifest', async () => {
    const { deps, api, cap } = makeDeps();
    api.snapshots = [snapshotSummary()];
    api.manifests.set('c-20261121-1000', encodeManifest(manifest()));
    await runSnapshotShow({ id: 'c-20261121-1000', site: 'msk-1', json: false }, deps);
    expect(cap.out.join('\n')).toBe(
      [
        "snapshot c-20261121-1000 of site 'msk-1': sealed",
        'created:  2026-11-21 10:00:00',
        'sealed:   2026-11-21 10:00:05',
        'freeze:   23ms (db 21ms)',
        'size:     3.0 MiB in 3 files, 1.0 KiB added to the repository',
        'job:      j-1 (manual)',
        'models:   ffsec_face_objects: face-v1',
        'verified: never (ffkeeper verify --site msk-1 --snapshot c-20261121-1000)',
        '',
        'COMPONENT          HOST  SNAPSHOT IDS  SIZE     FILES  CUT POINT',
        'postgres:main      db    aa11          2.0 KiB  1      lsn 0/1A2B3C4, exported snapshot 00000003-1B-1',
        'tarantool:shard-1  tnt   bb22,cc33     3.0 MiB  2      signature 42, vclock {1:42}',
      ].join('\n'),
    );
    expect(api.calls).toEqual([{ method: 'getSnapshot', args: ['c-20261121-1000', 'msk-1'] }]);
  });

  it('shows the latest verification, step by step', async () => {
    const { deps, api, cap } = makeDeps();
    const steps = [
      { name: 'repository-check', ok: true, durationMs: 800, detail: 'no errors' },
      { name: 'drill postgres:main', host: 'db', ok: false, durationMs: 1500, detail: 'load failed' },
    ];
    const verification = { site: 'msk-1', snapshotId: 'c-20261121-1000', jobId: 'j-v', time: at(60_000), ok: false, readData: true, durationMs: 2500, steps, error: 'drill failed' };
    api.snapshots = [snapshotSummary({ verification })];
    api.manifests.set('c-20261121-1000', encodeManifest(manifest()));
    await runSnapshotShow({ id: 'c-20261121-1000', site: 'msk-1', json: false }, deps);
    const out = cap.out.join('\n');
    expect(out).toContain('verified: FAILED 11-21 10:01');
    expect(out).toContain("verification of snapshot c-20261121-1000 (site 'msk-1'): FAILED at 2026-11-21 10:01:00 in 2.5s, read data: yes, job j-v");
    expect(out).toMatch(/drill postgres:main\s+db\s+FAILED\s+1\.5s\s+load failed/);
    expect(out).toContain('error: drill failed');
  });

  it('--json prints the manifest', async () => {
    const { deps, api, cap } = makeDeps();
    api.snapshots = [snapshotSummary()];
    api.manifests.set('c-20261121-1000', encodeManifest(manifest()));
    await runSnapshotShow({ id: 'c-20261121-1000', json: true }, deps);
    expect(JSON.parse(cap.out.join(''))).toEqual(JSON.parse(encodeManifest(manifest())));
  });

  it('names the snapshot when the controller sends an unreadable manifest', async () => {
    const { deps, api } = makeDeps();
    api.snapshots = [snapshotSummary()];
    api.manifests.set('c-20261121-1000', '{"version": 1}');
    const err = await runSnapshotShow({ id: 'c-20261121-1000', json: false }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as Error).message).toMatch(/^the controller returned an unreadable manifest for snapshot 'c-20261121-1000': manifest from snapshot 'c-20261121-1000' is invalid: site:/);
  });
});

describe('snapshot delete', () => {
  it('refuses without --yes when stdin is not a terminal, and deletes nothing', async () => {
    const { deps, api } = makeDeps({ interactive: false });
    const err = await runSnapshotDelete({ id: 'c-1', site: 'msk-1', yes: false, json: false }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe("refusing to delete snapshot 'c-1' of site 'msk-1' without confirmation: stdin is not a terminal; pass --yes to confirm");
    expect(api.calls).toEqual([]);
  });

  it('asks on a terminal and deletes on yes', async () => {
    const { deps, api, cap } = makeDeps({ interactive: true, answers: ['y'] });
    await runSnapshotDelete({ id: 'c-1', site: 'msk-1', yes: false, json: false }, deps);
    expect(cap.questions).toEqual(["delete snapshot 'c-1' of site 'msk-1'? [y/N] "]);
    expect(api.calls).toEqual([{ method: 'deleteSnapshot', args: ['msk-1', 'c-1'] }]);
    expect(cap.out).toEqual(["deleted snapshot 'c-1' of site 'msk-1' (3 repository snapshots removed)"]);
  });

  it('cancels on any other answer', async () => {
    const { deps, api } = makeDeps({ interactive: true, answers: ['n'] });
    const err = await runSnapshotDelete({ id: 'c-1', site: 'msk-1', yes: false, json: false }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(exitCodeFor(err)).toBe(7);
    expect(api.calls).toEqual([]);
  });

  it('--yes deletes without asking; --json prints the result', async () => {
    const { deps, api, cap } = makeDeps({ interactive: true });
    await runSnapshotDelete({ id: 'c-1', site: 'msk-1', yes: true, json: true }, deps);
    expect(cap.questions).toEqual([]);
    expect(api.names()).toEqual(['deleteSnapshot']);
    expect(JSON.parse(cap.out.join(''))).toEqual({ site: 'msk-1', id: 'c-1', repositorySnapshotsRemoved: 3 });
  });
});
