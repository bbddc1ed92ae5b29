import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { exitCodeFor } from '../../../shared/exit-codes.js';
import { syncLinkFromProto, syncLinkToProto } from '../../transport/convert-sync.js';
import { makeDeps } from '../fakes.test-support.js';
import { runSyncLink, runSyncList, runSyncPause, runSyncRun, runSyncShow, runSyncUnlink } from './sync.js';

let savedTz: string | undefined;
beforeAll(() => {
  savedTz = process.env.TZ;
  process.env.TZ = 'UTC';
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

describe('sync link', () => {
  it.each([
    ['--from', { from: 'msk-1', to: 'spb-1:1' }, "--from 'msk-1' must be SITE:LIST, a site and a watch-list id (e.g. msk-1:1)"],
    ['--to', { from: 'msk-1:1', to: 'spb-1:x' }, "--to 'spb-1:x' must be SITE:LIST, a site and a watch-list id (e.g. msk-1:1)"],
    ['--to', { from: 'msk-1:1', to: 'spb-1:0' }, "--to 'spb-1:0' must be SITE:LIST, a site and a watch-list id (e.g. msk-1:1)"],
  ])('a bad %s exits 2 naming the flag and the form, before any call', async (_flag, ends, message) => {
    const { deps, api } = makeDeps();
    const err = await runSyncLink({ ...ends, safetySnapshot: true, json: false }, deps).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe(message);
    expect(exitCodeFor(err)).toBe(2);
    expect(api.calls).toEqual([]);
  });

  it('creates the link and prints its id, the safety snapshot and the models', async () => {
    const { deps, api, cap } = makeDeps();
    await runSyncLink({ from: 'msk-1:1', to: 'spb-1:2', at: '04:30', safetySnapshot: true, json: false }, deps);
    expect(api.calls[0]).toEqual({ method: 'createSyncLink', args: [{ from: { site: 'msk-1', list: 1 }, to: { site: 'spb-1', list: 2 }, noSafetySnapshot: false, at: '04:30' }] });
    expect(cap.out[0]).toBe(
      [
        "linked msk-1:1 → spb-1:2: link 'msk-1.1.spb-1.2' (number 1, continuous, nightly comparison at 04:30 UTC)",
        "safety snapshot of site 'spb-1': c-safety",
        'models: ffsec_face_objects face-v1',
      ].join('\n'),
    );
    expect(cap.progress[0]).toContain("a safety snapshot of site 'spb-1'");
  });

  it('--no-safety-snapshot is passed on and said', async () => {
    const { deps, api, cap } = makeDeps();
    await runSyncLink({ from: 'msk-1:1', to: 'spb-1:2', safetySnapshot: false, json: false }, deps);
    expect(api.calls[0]?.args[0]).toMatchObject({ noSafetySnapshot: true });
    expect(cap.out[0]).toContain("no safety snapshot of site 'spb-1' was taken");
  });
});

describe('sync list / show / pause / resume / unlink', () => {
  it('lists in a table, shows, pauses, resumes and unlinks', async () => {
    const { deps, api, cap } = makeDeps();
    await runSyncLink({ from: 'msk-1:1', to: 'spb-1:2', safetySnapshot: true, json: true }, deps);
    expect(JSON.parse(cap.out[0] ?? '')).toMatchObject({ id: 'msk-1.1.spb-1.2', safetySnapshot: 'c-safety' });
    await runSyncList({ json: false }, deps);
    expect(cap.out[1]).toMatch(/^LINK\s+MODE\s+STATE\s+LAG\s+LAST APPLIED\s+PENDING\s+APPLIED\s+ERRORS\nmsk-1\.1\.spb-1\.2\s+continuous\s+starting\s+0s\s+-\s+0\s+0\s+0$/);
    await runSyncShow({ link: 'msk-1.1.spb-1.2', json: false }, deps);
    expect(cap.out[2]).toContain('link msk-1.1.spb-1.2 (number 1): msk-1:1 → spb-1:2');
    expect(cap.out[2]).toContain('no part has reported yet');
    await runSyncPause({ link: 'msk-1.1.spb-1.2', paused: true, json: false }, deps);
    expect(cap.out[3]).toBe("paused sync link 'msk-1.1.spb-1.2': changes of msk-1:1 wait on the master until it is resumed");
    await runSyncPause({ link: 'msk-1.1.spb-1.2', paused: false, json: false }, deps);
    expect(cap.out[4]).toBe("resumed sync link 'msk-1.1.spb-1.2'");
    await runSyncUnlink({ link: 'msk-1.1.spb-1.2', json: false }, deps);
    expect(cap.out[5]).toBe("removed sync link 'msk-1.1.spb-1.2': the slave's watch list keeps what was replicated, and it is writable there");
    await runSyncList({ site: 'spb-1', json: false }, deps);
    expect(cap.out[6]).toBe("no sync links of site 'spb-1'");
    expect(api.names()).toEqual(['createSyncLink', 'listSyncLinks', 'getSyncLink', 'setSyncLinkPaused', 'setSyncLinkPaused', 'deleteSyncLink', 'listSyncLinks']);
  });

  it("shows each part's row, and how the slave's files agent gets the files (as it came over the wire)", async () => {
    const { deps, api, cap } = makeDeps();
    await runSyncLink({ from: 'msk-1:1', to: 'spb-1:2', safetySnapshot: true, json: true }, deps);
    const link = api.syncLinks[0] as (typeof api.syncLinks)[0];
    const part = { link: link.id, site: 'spb-1', host: 'files', state: 'running' as const, position: 7, pending: 0, handled: 7, errors: 0, resyncs: 0, updatedAt: '2026-12-04T05:00:00.000Z', stale: false };
    link.parts = [
      { ...part, role: 'apply-files', filesPath: 'direct' },
      { ...part, role: 'apply-records', host: 'tnt' },
    ];
    api.syncLinks[0] = syncLinkFromProto(syncLinkToProto(link));
    await runSyncShow({ link: link.id, json: false }, deps);
    const table = (cap.out[1] ?? '').split('\n').slice(-3);
    expect(table[0]).toMatch(/^PART\s+HOST\s+STATE\s+POSITION\s+PENDING\s+HANDLED\s+ERRORS\s+REPORTED\s+FILES VIA\s+LAST ERROR$/);
    expect(table[1]).toMatch(/^apply-files\s+spb-1\/files\s+running\s+7\s+0\s+7\s+0\s+.+\s+direct$/);
    expect(table[2]).toMatch(/^apply-records\s+spb-1\/tnt\s+running\s+7\s+0\s+7\s+0\s+\S.*\S$/);
    expect(table[2]).not.toMatch(/direct|nats/);
  });

  it('refuses a malformed LINK before any call', async () => {
    const { deps, api } = makeDeps();
    const err = await runSyncShow({ link: 'msk-1:1', json: false }, deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(2);
    expect((err as Error).message).toMatch(/^link 'msk-1:1' is not a sync link id/);
    expect(api.calls).toEqual([]);
  });
});

describe('sync run', () => {
  const report = { link: 'msk-1.1.spb-1.2', checkedAt: '2026-12-02T03:00:00.000Z', dossiers: 10, records: 12, files: 36, differences: [], requeued: 0, durationMs: 2100 };
  it("runs a nightly link's window and prints what the closing comparison found", async () => {
    const { deps, api, cap } = makeDeps();
    api.checkReports.set('msk-1.1.spb-1.2', report);
    await runSyncRun({ link: 'msk-1.1.spb-1.2', json: false }, deps);
    expect(api.calls).toEqual([{ method: 'runSyncLink', args: ['msk-1.1.spb-1.2'] }]);
    expect(cap.out).toEqual(['apply window of link msk-1.1.spb-1.2 closed: 10 dossiers, 12 gallery records, 36 files compared in 2.1s', '0 differences']);
  });

  it('exits 8 when differences remain after the window', async () => {
    const { deps, api, cap } = makeDeps();
    api.checkReports.set('msk-1.1.spb-1.2', { ...report, differences: [{ kind: 'different', key: 'dossier:7', detail: 'comment' }] });
    const err = await runSyncRun({ link: 'msk-1.1.spb-1.2', json: false }, deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(8);
    expect((err as Error).message).toBe("sync link 'msk-1.1.spb-1.2': 1 differences remain after its apply window");
    expect(cap.out.at(-1)).toBe('1 differences');
  });

  it('refuses a malformed link id before any call', async () => {
    const { deps, api } = makeDeps();
    const err = await runSyncRun({ link: 'msk-1', json: false }, deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(2);
    expect(api.calls).toEqual([]);
  });
});
