import { describe, expect, it } from 'vitest';
import { applyDiff, StateTracker } from './diff.js';

describe('StateTracker: a console stream sends only what changed', () => {
  const a = { site: 'msk-1', agentsOnline: 2, agentsTotal: 2 };

  it('sends nothing when the state is the same, however often it is computed', () => {
    const t = new StateTracker();
    t.full({ 'site:msk-1': a });
    expect(t.diff({ 'site:msk-1': { ...a } })).toBeUndefined();
    expect(t.diff({ 'site:msk-1': { ...a } })).toBeUndefined();
  });

  it.each([
    ['a changed row', { 'site:msk-1': { ...a, agentsOnline: 1 } }, { upsert: { 'site:msk-1': { ...a, agentsOnline: 1 } }, remove: [] }],
    ['a new row', { 'site:msk-1': a, 'site:spb-1': a }, { upsert: { 'site:spb-1': a }, remove: [] }],
    ['a row gone', {}, { upsert: {}, remove: ['site:msk-1'] }],
  ])('%s', (_name, next, expected) => {
    const t = new StateTracker();
    t.full({ 'site:msk-1': a });
    expect(t.diff(next)).toEqual(expected);
    // Remembered as sent: the same state again is no change.
    expect(t.diff(next)).toBeUndefined();
  });

  it('a diff applied to the first state gives the new state', () => {
    const t = new StateTracker();
    const first = t.full({ 'site:msk-1': a, 'job:j1': { phase: 'InProgress' } });
    const next = { 'site:msk-1': a, 'job:j1': { phase: 'Completed' }, 'snapshot:c1': { id: 'c1' } };
    const diff = t.diff(next);
    expect(diff).toEqual({ upsert: { 'job:j1': { phase: 'Completed' }, 'snapshot:c1': { id: 'c1' } }, remove: [] });
    expect(applyDiff(first, diff ?? { upsert: {}, remove: [] })).toEqual(next);
  });
});
