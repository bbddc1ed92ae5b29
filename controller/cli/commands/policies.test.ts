import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../../shared/exit-codes.js';
import { at, ev, makeDeps } from '../fakes.test-support.js';
import { runRetentionApply, runRetentionSet, runRetentionShow } from './retention.js';
import { runScheduleList, runScheduleRemove, runScheduleSet } from './schedule.js';

let savedTz: string | undefined;
beforeAll(() => {
  savedTz = process.env.TZ;
  process.env.TZ = 'UTC';
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

describe('schedule set / list / remove', () => {
  it('sets with defaults, lists, removes, and refuses a bad site or an unknown schedule', async () => {
    const { deps, api, cap } = makeDeps();
    await runScheduleSet({ site: 'msk-1', json: false }, deps);
    expect(api.calls[0]).toEqual({ method: 'setSchedule', args: [{ site: 'msk-1' }] });
    expect(cap.out[0]).toBe("snapshot schedule of site 'msk-1': '0 2 * * *' (UTC); next run never");
    await runScheduleSet({ site: 'msk-1', kind: 'retention', cron: '30 3 * * 0', timezone: 'Europe/Moscow', json: false }, deps);
    await runScheduleList({ json: false }, deps);
    expect(cap.out[2]).toMatch(/^SITE\s+KIND\s+CRON\s+TZ\s+NEXT\s+LAST\s+LAST JOB\s+OUTCOME\nmsk-1\s+snapshot\s+0 2 \* \* \*\s+UTC/);
    expect(cap.out[2]).toMatch(/msk-1\s+retention\s+30 3 \* \* 0\s+Europe\/Moscow/);
    await runScheduleRemove({ site: 'msk-1', kind: 'retention', json: false }, deps);
    expect(cap.out[3]).toBe("removed the retention schedule of site 'msk-1'");
    const gone = runScheduleRemove({ site: 'msk-1', kind: 'retention', json: false }, deps);
    await expect(gone).rejects.toThrow("site 'msk-1' has no retention schedule");
    await expect(runScheduleSet({ site: 'bad site', json: false }, deps)).rejects.toThrow(/--site 'bad site' is not a valid id/);
    await runScheduleList({ site: 'spb-1', json: false }, deps);
    expect(cap.out.at(-1)).toBe("no schedules for site 'spb-1'");
  });
});

describe('retention set / show / apply', () => {
  it('set parses counts and names a bad flag; show prints the policy', async () => {
    const { deps, api, cap } = makeDeps();
    await expect(runRetentionSet({ site: 'msk-1', keepLast: 'two', json: false }, deps)).rejects.toThrow("--keep-last 'two' must be a whole number ≥ 0");
    await runRetentionSet({ site: 'msk-1', keepLast: '2', keepDaily: '7', json: false }, deps);
    expect(api.calls.at(-1)).toEqual({ method: 'setRetention', args: [{ site: 'msk-1', keepLast: 2, keepDaily: 7, keepWeekly: 0, keepMonthly: 0, timezone: 'UTC' }] });
    expect(cap.out[0]).toBe("retention of site 'msk-1': keep last 2, daily 7 (days in UTC)");
    await runRetentionShow({ site: 'msk-1', json: false }, deps);
    expect(cap.out[1]).toMatch(/^retention of site 'msk-1': keep last 2, daily 7 \(days in UTC\) \(set /);
  });

  it('apply --dry-run lists what goes and what stays and why, and starts no job', async () => {
    const { deps, api, cap } = makeDeps();
    api.retentionPlan = {
      site: 'msk-1',
      policy: { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, timezone: 'UTC', updatedAt: at(0) },
      decisions: [
        { cutId: 'c-2', createdAt: at(2000), keep: true, reasons: ['last 1/1'] },
        { cutId: 'c-1', createdAt: at(1000), keep: false, reasons: ['kept by no rule'] },
      ],
    };
    await runRetentionApply({ site: 'msk-1', dryRun: true, yes: false, json: false }, deps);
    const out = cap.out.join('\n');
    expect(out).toContain('2 sealed snapshots: 1 stay, 1 go');
    expect(out).toMatch(/c-2\s+\S+ \S+\s+keep\s+last 1\/1/);
    expect(out).toMatch(/c-1\s+\S+ \S+\s+REMOVE\s+kept by no rule/);
    expect(out).toContain('dry run: nothing was removed');
    expect(api.names()).toEqual(['planRetention']);
  });

  it('apply without --yes off a terminal refuses before any job; with --yes reports what the job removed', async () => {
    const { deps, api, cap } = makeDeps();
    api.retentionPlan = {
      site: 'msk-1',
      policy: { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, timezone: 'UTC', updatedAt: at(0) },
      decisions: [
        { cutId: 'c-2', createdAt: at(2000), keep: true, reasons: ['last 1/1'] },
        { cutId: 'c-1', createdAt: at(1000), keep: false, reasons: ['kept by no rule'] },
      ],
    };
    const refused = runRetentionApply({ site: 'msk-1', dryRun: false, yes: false, json: false }, deps);
    await expect(refused).rejects.toThrow(/--yes/);
    expect(api.names()).toEqual(['planRetention']);
    api.job = { events: [ev.message(0, 'plan', 'plan'), ev.outcome(100, 'Completed')] };
    api.jobs = [{ id: 'j-1', kind: 'prune', site: 'msk-1', phase: 'Completed', createdAt: at(0), updatedAt: at(100), step: 'forget', detail: { removed: ['c-1'], kept: ['c-2'], repositorySnapshotsRemoved: 5 } }];
    await runRetentionApply({ site: 'msk-1', dryRun: false, yes: true, json: false }, deps);
    expect(cap.out.at(-1)).toBe('prune job j-1: removed 1 snapshot(s) (5 repository snapshots), kept 1');
  });

  it('a failed prune job exits with its error code', async () => {
    const { deps, api } = makeDeps();
    api.retentionPlan = { site: 'msk-1', policy: { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0, timezone: 'UTC', updatedAt: at(0) }, decisions: [] };
    api.job = { events: [ev.outcome(100, 'Failed', { code: 'CONFLICT', message: 'repository is locked' })] };
    const err = await runRetentionApply({ site: 'msk-1', dryRun: false, yes: true, json: false }, deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(4);
    expect(String(err)).toContain('prune job');
  });
});
