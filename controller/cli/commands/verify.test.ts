/** `ffkeeper verify`: the request it sends, the result per step, and the exit code of a failed verification. */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/errors.js';
import { EXIT_CODES, exitCodeFor } from '../../../shared/exit-codes.js';
import { at, ev, jobRecord, makeDeps } from '../fakes.test-support.js';
import { runVerify, verifiedCell } from './verify.js';

const steps = [
  { name: 'repository-check', ok: true, durationMs: 800, detail: 'no errors' },
  { name: 'drill postgres:main', host: 'db', ok: true, durationMs: 4200, detail: '4 steps; database ffk_drill_1 on 127.0.0.1:5432' },
  { name: 'integrity-check', host: 'db', ok: true, durationMs: 900, detail: 'consistent: 0 error(s), 0 warning(s)' },
];
const verification = {
  site: 'msk-1', snapshotId: 'c-1', jobId: 'j-1', time: at(7000).toISOString(), ok: true, readData: false, durationMs: 6000, steps,
  integrity: { errors: 0, warnings: 0, summary: 'consistent', host: 'db' },
};

describe('verify', () => {
  it('streams the job, then prints the result per step', async () => {
    const { deps, api, cap } = makeDeps();
    api.job = { events: [ev.message(0, 'select', 'selecting'), ev.message(500, 'drill', 'drill'), ev.outcome(7000, 'Completed')] };
    api.jobs = [jobRecord({ kind: 'verify', detail: { verification } })];
    await runVerify({ site: 'msk-1', snapshot: 'c-1', readData: true, json: false }, deps);
    expect(api.calls[0]).toEqual({ method: 'verify', args: [{ site: 'msk-1', snapshotId: 'c-1', readData: true }] });
    const out = cap.out.join('\n');
    expect(out).toContain("verification of snapshot c-1 (site 'msk-1'): OK at 2026-11-21 10:00:07 in 6.0s, read data: no, job j-1");
    expect(out).toMatch(/drill postgres:main\s+db\s+ok\s+4\.2s\s+4 steps; database ffk_drill_1/);
    expect(out).toContain('integrity (db): 0 errors, 0 warnings');
  });

  it.each([
    ['ILLEGAL_STATE', EXIT_CODES.ILLEGAL_STATE],
    ['UNAVAILABLE', EXIT_CODES.UNAVAILABLE],
  ] as const)('a verification that failed with %s exits %i, naming the snapshot', async (code, exit) => {
    const { deps, api, cap } = makeDeps();
    const message = "snapshot 'c-1' of site 'msk-1': repository check failed: Pack ID does not match";
    api.job = { events: [ev.message(0, 'select', 'selecting'), ev.outcome(2000, 'Failed', { code, message })] };
    api.jobs = [jobRecord({ kind: 'verify', phase: 'Failed', detail: { verification: { ...verification, ok: false, error: message, steps: [{ ...steps[0], ok: false, detail: message }] } } })];
    const err = await runVerify({ site: 'msk-1', readData: true, json: false }, deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(exit);
    expect((err as Error).message).toContain(message);
    expect(cap.out.join('\n')).toMatch(/repository-check\s+FAILED/);
  });

  it('rejects a bad snapshot id before calling the controller', async () => {
    const { deps, api } = makeDeps();
    await expect(runVerify({ site: 'msk-1', snapshot: 'c 1', readData: false, json: false }, deps)).rejects.toThrow(ValidationError);
    expect(api.calls).toEqual([]);
  });

  it('the VERIFIED cell: ok or FAILED with the time, - when never verified', () => {
    const v = { site: 's', snapshotId: 'c', jobId: 'j', time: at(61_000), ok: true, readData: false, durationMs: 1, steps: [] };
    expect(verifiedCell(v)).toBe('ok 11-21 10:01');
    expect(verifiedCell({ ...v, ok: false })).toBe('FAILED 11-21 10:01');
    expect(verifiedCell(undefined)).toBe('-');
  });
});
