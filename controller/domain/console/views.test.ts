import { describe, expect, it } from 'vitest';
import type { JobEvent, JobRecord } from '../../../shared/jobs.js';
import type { SnapshotSummary } from '../../../shared/manifest.js';
import type { SyncLinkView } from '../sync/view.js';
import { fleetRow, freshness, jobState, restoreReport, siteState, syncLinkRow, syncLinkState, syncListState } from './views.js';

const daily = { cron: '0 2 * * *', timezone: 'UTC', updatedAt: new Date('2026-01-01T00:00:00Z') };
const at = (iso: string): Date => new Date(iso);

describe('freshness: the newest snapshot against the snapshot schedule', () => {
  it.each([
    ['no schedule', undefined, '2026-01-10T01:00:00Z', '2026-01-10T12:00:00Z', 'none'],
    ['taken after the last scheduled time', daily, '2026-01-10T02:00:05Z', '2026-01-10T12:00:00Z', 'ok'],
    ['scheduled time passed a moment ago (the run is going)', daily, '2026-01-09T02:00:05Z', '2026-01-10T02:10:00Z', 'ok'],
    ['one scheduled time passed beyond the grace', daily, '2026-01-09T02:00:05Z', '2026-01-10T03:00:00Z', 'late'],
    ['two scheduled times passed', daily, '2026-01-08T02:00:05Z', '2026-01-10T03:00:00Z', 'missed'],
    ['never taken, schedule set yesterday and due twice', daily, undefined, '2026-01-03T03:00:00Z', 'missed'],
    ['never taken, schedule not due yet', daily, undefined, '2026-01-01T01:00:00Z', 'ok'],
  ] as const)('%s → %s', (_name, schedule, newest, now, expected) => {
    expect(freshness(newest ? at(newest) : undefined, schedule, at(now))).toBe(expected);
  });
});

const snapshot = (id: string, createdAt: string, ok?: boolean): SnapshotSummary => ({
  id,
  site: 'msk-1',
  createdAt: at(createdAt),
  sealedAt: at(createdAt),
  freezeWindowMs: 12,
  bytes: 1000,
  dataAddedBytes: 100,
  components: ['postgres:main'],
  status: 'sealed',
  jobId: `j-${id}`,
  reason: 'test',
  ...(ok === undefined ? {} : { verification: { site: 'msk-1', snapshotId: id, jobId: 'v', time: at(createdAt), ok, readData: false, durationMs: 1, steps: [] } }),
});
const job = (id: string, phase: JobRecord['phase'], kind: JobRecord['kind'] = 'snapshot'): JobRecord => ({ id, kind, site: 'msk-1', phase, createdAt: at('2026-01-10T00:00:00Z'), updatedAt: at('2026-01-10T00:00:00Z'), step: 'upload', detail: {} });
const summary = { site: 'msk-1', agentsOnline: 2, agentsTotal: 3, componentKinds: ['postgres'] };

describe('console rows', () => {
  it('a fleet row: agents, newest snapshot and its verify, running jobs only', () => {
    const row = fleetRow({ summary, snapshots: [snapshot('c2', '2026-01-10T02:00:05Z', false), snapshot('c1', '2026-01-09T02:00:05Z', true)], snapshotSchedule: { ...daily, site: 'msk-1', kind: 'snapshot' }, jobs: [job('j2', 'InProgress'), job('j1', 'Completed')] }, at('2026-01-10T12:00:00Z'));
    expect(row).toEqual({ site: 'msk-1', agentsOnline: 2, agentsTotal: 3, newestSnapshotAt: '2026-01-10T02:00:05.000Z', freshness: 'ok', schedule: '0 2 * * * UTC', lastVerify: 'failed', runningJobs: ['snapshot'] });
  });

  it('a site page: header with the refusal, one key per snapshot and job', () => {
    const state = siteState({ summary, snapshots: [snapshot('c1', '2026-01-09T02:00:05Z')], jobs: [job('j1', 'Completed')] }, [], { snapshot: 'operator vera (viewer) may not call createSnapshot: it needs operator' }, at('2026-01-10T12:00:00Z'));
    expect(Object.keys(state).sort()).toEqual(['job:j1', 'site', 'snapshot:c1']);
    expect(state.site).toMatchObject({ freshness: 'none', snapshotDenied: 'operator vera (viewer) may not call createSnapshot: it needs operator' });
  });
});

describe('jobState: the job page', () => {
  const job = (phase: JobRecord['phase']): JobRecord => ({ id: 'j-1', kind: 'snapshot', site: 'msk-1', phase, step: 'upload', createdAt: at('2026-01-10T02:00:00Z'), updatedAt: at('2026-01-10T02:00:09Z'), detail: {} });
  const ev = (s: number, e: Partial<JobEvent>): JobEvent => ({ jobId: 'j-1', site: 'msk-1', time: at(`2026-01-10T02:00:0${s}Z`), phase: 'InProgress', step: 'upload', ...e });
  const progress = (s: number, component: string, bytesDone: number, filesDone: number): JobEvent =>
    ev(s, { progress: { component, bytesDone, bytesTotal: 1000, filesDone, filesTotal: 10, etaSeconds: 5 } });
  const events = [ev(0, { step: 'plan', message: 'planning' }), ev(1, { step: 'freeze' }), ev(2, {}), progress(3, 'uploads:uploads', 250, 2), progress(4, 'uploads:uploads', 600, 6), progress(5, 'postgres:ffsecurity', 0, 0)];

  it('keeps each component\'s latest progress and a log of step changes and messages', () => {
    const state = jobState(job('InProgress'), events);
    expect(state['progress:uploads:uploads']).toMatchObject({ bytesDone: 600, filesDone: 6, percent: 60, etaSeconds: 5 });
    expect(state['progress:postgres:ffsecurity']).toMatchObject({ percent: 0 });
    expect(Object.keys(state).filter((k) => k.startsWith('log:'))).toEqual(['log:0', 'log:1', 'log:2']);
    expect(state['log:0']).toMatchObject({ step: 'plan', message: 'planning' });
    expect(state['log:2']).toMatchObject({ step: 'upload', message: '' });
    expect(state.job).toMatchObject({ id: 'j-1', site: 'msk-1', phase: 'InProgress' });
  });

  it('a completed job shows every component done and its outcome; a failed one its error', () => {
    const done = jobState(job('Completed'), [...events, ev(6, { phase: 'Completed', step: 'done', outcome: { phase: 'Completed' } })]);
    expect(done['progress:uploads:uploads']).toMatchObject({ percent: 100, bytesDone: 1000, filesDone: 10, etaSeconds: 0 });
    expect(done.job).toMatchObject({ outcome: { phase: 'Completed' } });
    const failed = jobState({ ...job('Failed'), error: { code: 'UNAVAILABLE', message: 'agent db gone' } }, [...events, ev(6, { phase: 'Failed', step: 'done', outcome: { phase: 'Failed', error: { code: 'UNAVAILABLE', message: 'agent db gone' } } })]);
    expect(failed['progress:uploads:uploads']).toMatchObject({ percent: 60 });
    expect(failed.job).toMatchObject({ error: 'agent db gone', outcome: { phase: 'Failed', error: 'agent db gone' } });
    expect(failed['log:6']).toMatchObject({ message: 'Failed: agent db gone' });
  });
});

describe('a restore job on the job page: its report', () => {
  it('reads the snapshot, the safety snapshot, the downtime and the integrity check from the job detail', () => {
    const done: JobRecord = {
      ...job('r1', 'Completed', 'restore'),
      detail: { snapshotId: 'c1', safetySnapshotId: 'c9', writersStoppedMs: 1650, integrity: { configured: true, ok: true, errors: 0, warnings: 2, summary: 'consistent', host: 'db', extra: 'not shown' } },
    };
    expect(jobState(done, []).job).toMatchObject({ restore: { snapshotId: 'c1', safetySnapshotId: 'c9', writersStoppedMs: 1650, integrity: { configured: true, ok: true, errors: 0, warnings: 2, summary: 'consistent', host: 'db' } } });
  });

  it('while running: the plan\'s snapshot and the progress so far, no integrity check yet; other kinds have no report', () => {
    const running: JobRecord = { ...job('r2', 'InProgress', 'restore'), detail: { plan: { snapshot: { cutId: 'c2' } }, progress: { safetySnapshotId: 'c8', writersStoppedMs: 0 } } };
    expect(restoreReport(running.detail)).toEqual({ snapshotId: 'c2', safetySnapshotId: 'c8', writersStoppedMs: 0 });
    expect(jobState(job('s1', 'Completed'), []).job).not.toHaveProperty('restore');
  });

  it('a site page says why this operator may not restore', () => {
    const state = siteState({ summary, snapshots: [], jobs: [] }, [], { restore: 'operator otto (operator) may not call restore: it needs admin' }, at('2026-01-10T12:00:00Z'));
    expect(state.site).toMatchObject({ restoreDenied: 'operator otto (operator) may not call restore: it needs admin' });
    expect(state.site).not.toHaveProperty('snapshotDenied');
  });
});

describe('the sync pages', () => {
  const view: SyncLinkView = {
    id: 'msk-1.1.spb-1.2',
    number: 1,
    from: { site: 'msk-1', list: 1 },
    to: { site: 'spb-1', list: 2 },
    mode: 'continuous',
    at: '03:00',
    timezone: 'UTC',
    paused: false,
    createdAt: '2026-01-10T00:00:00Z',
    safetySnapshot: 'c9',
    replacedDossiers: 50,
    models: { ffsec_face_objects: 'face-mango-320' },
    state: 'running',
    lagSeconds: 0.4,
    pending: 3,
    appliedTotal: 1200,
    errors: 0,
    resyncs: 0,
    parts: [{ link: 'msk-1.1.spb-1.2', role: 'apply-files', site: 'spb-1', host: 'files', state: 'running', position: 9, pending: 1, handled: 40, errors: 0, resyncs: 0, filesPath: 'direct', updatedAt: '2026-01-10T00:01:00Z', stale: false }],
    lastCheck: {
      link: 'msk-1.1.spb-1.2',
      checkedAt: '2026-01-10T03:00:00Z',
      dossiers: 300,
      records: 390,
      files: 1170,
      differences: Array.from({ length: 250 }, (_, i) => ({ kind: 'missing-on-slave' as const, key: `file:uploads:${i}`, detail: 'not on the slave' })),
      requeued: 0,
      durationMs: 900,
    },
  };

  it("a link's row: ends as site:list, the last comparison summed up, the pause refusal", () => {
    expect(syncLinkRow(view, 'operator vera (viewer) may not call setSyncLinkPaused: it needs operator')).toEqual({
      id: 'msk-1.1.spb-1.2', from: 'msk-1:1', to: 'spb-1:2', mode: 'continuous', state: 'running', paused: false, lagSeconds: 0.4, pending: 3, appliedTotal: 1200, errors: 0, resyncs: 0,
      lastCheck: { checkedAt: '2026-01-10T03:00:00Z', dossiers: 300, records: 390, files: 1170, differences: 250, requeued: 0 },
      pauseDenied: 'operator vera (viewer) may not call setSyncLinkPaused: it needs operator',
    });
  });

  it("a link's page: header, one key per part, the first 200 differences (the count stays whole)", () => {
    const state = syncLinkState(view, undefined);
    expect(state.link).toMatchObject({ safetySnapshot: 'c9', replacedDossiers: 50, lastCheck: { differences: 250 } });
    expect(state.link).not.toHaveProperty('pauseDenied');
    expect(state['part:apply-files@spb-1/files']).toMatchObject({ handled: 40, filesPath: 'direct', stale: false });
    expect(Object.keys(state).filter((k) => k.startsWith('difference:'))).toHaveLength(200);
    expect(Object.keys(syncListState([{ link: view }]))).toEqual(['link:msk-1.1.spb-1.2']);
  });
});

describe("the fleet page's sync cell", () => {
  const link = (id: string, state: SyncLinkView['state'], lagSeconds: number): SyncLinkView =>
    ({ id, state, lagSeconds, from: { site: 'msk-1', list: 1 }, to: { site: 'spb-1', list: 2 } }) as unknown as SyncLinkView;

  it('sums up the links of the site: how many, the largest lag, the worst state', () => {
    const row = fleetRow({ summary, snapshots: [], jobs: [], syncLinks: [link('a', 'running', 0.2), link('b', 'paused', 40), link('c', 'running', 3)] }, at('2026-01-10T12:00:00Z'));
    expect(row.sync).toEqual({ links: 3, lagSeconds: 40, state: 'paused' });
    expect(fleetRow({ summary, snapshots: [], jobs: [], syncLinks: [link('a', 'running', 1), link('d', 'error', 0)] }, at('2026-01-10T12:00:00Z')).sync?.state).toBe('error');
    expect(fleetRow({ summary, snapshots: [], jobs: [] }, at('2026-01-10T12:00:00Z'))).not.toHaveProperty('sync');
  });
});
