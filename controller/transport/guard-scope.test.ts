import { describe, expect, it } from 'vitest';
import type { AccessConfig } from '../domain/access/policy.js';
import { answerRefusal, scopeToGrant } from './guard.js';

const access = { operators: { sam: { role: 'operator', sites: ['spb-1'] }, vera: { role: 'viewer' } }, scratchSites: [] } as unknown as AccessConfig;

describe('listings as an operator limited to some sites sees them', () => {
  it('keeps the rows of its sites only: a sync link needs both of its sites, an audit record every site it names', () => {
    expect(scopeToGrant(access, 'sam', 'listSites', { sites: [{ site: 'msk-1' }, { site: 'spb-1' }] })).toEqual({ sites: [{ site: 'spb-1' }] });
    expect(scopeToGrant(access, 'sam', 'listAgents', { agents: [{ description: { site: 'msk-1' } }, { description: { site: 'spb-1' } }] })).toEqual({ agents: [{ description: { site: 'spb-1' } }] });
    const links = { links: [{ fromSite: 'spb-1', toSite: 'msk-1' }, { fromSite: 'spb-1', toSite: 'spb-1' }] };
    expect(scopeToGrant(access, 'sam', 'listSyncLinks', links)).toEqual({ links: [{ fromSite: 'spb-1', toSite: 'spb-1' }] });
    const audit = { entriesJson: JSON.stringify([{ seq: 1, sites: [] }, { seq: 2, sites: ['spb-1'] }, { seq: 3, sites: ['spb-1', 'msk-1'] }]) };
    expect(JSON.parse((scopeToGrant(access, 'sam', 'listAudit', audit) as { entriesJson: string }).entriesJson)).toEqual([{ seq: 2, sites: ['spb-1'] }]);
  });

  it('leaves every other answer alone: an operator of all sites, an unknown caller, a call that is not a listing', () => {
    const sites = { sites: [{ site: 'msk-1' }] };
    expect(scopeToGrant(access, 'vera', 'listSites', sites)).toBe(sites);
    expect(scopeToGrant(access, undefined, 'listSites', sites)).toBe(sites);
    expect(scopeToGrant(access, 'sam', 'getJob', { site: 'msk-1' })).toEqual({ site: 'msk-1' });
  });
});

describe('answers about one object as an operator limited to some sites sees them', () => {
  it("refuses another site's job, snapshot or job event, naming the site; lets its own sites' through", () => {
    expect(answerRefusal(access, 'sam', 'getJob', { id: 'j-1', site: 'msk-1' })?.message).toBe("operator sam (operator of spb-1) may not call getJob for site 'msk-1'");
    expect(answerRefusal(access, 'sam', 'getSnapshot', { summary: { id: 'c-1', site: 'msk-1' } })?.message).toBe("operator sam (operator of spb-1) may not call getSnapshot for site 'msk-1'");
    expect(answerRefusal(access, 'sam', 'watchJob', { jobId: 'j-1', site: 'msk-1' })?.message).toBe("operator sam (operator of spb-1) may not call watchJob for site 'msk-1'");
    expect(answerRefusal(access, 'sam', 'getJob', { id: 'j-2', site: 'spb-1' })).toBeUndefined();
    expect(answerRefusal(access, 'sam', 'watchJob', { jobId: 'j-2', site: 'spb-1' })).toBeUndefined();
  });

  it('leaves an operator of every site, an unknown caller and other calls alone', () => {
    expect(answerRefusal(access, 'vera', 'getJob', { site: 'msk-1' })).toBeUndefined();
    expect(answerRefusal(access, undefined, 'getJob', { site: 'msk-1' })).toBeUndefined();
    expect(answerRefusal(access, 'sam', 'listJobs', { jobs: [{ site: 'msk-1' }] })).toBeUndefined();
  });
});
