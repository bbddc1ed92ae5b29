import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../../shared/errors.js';
import type { AgentEntry, ComponentInfo } from '../../../shared/fleet.js';
import type { InspectRequest, InspectResult, ItemDigest } from '../../../shared/sync/inspect.js';
import type { SyncLink } from '../../../shared/sync/link.js';
import type { AgentClient } from '../ports.js';
import { checkLink } from './check.js';

const LINK: SyncLink = { id: 'm.1.s.2', number: 1, from: { site: 'm', list: 1 }, to: { site: 's', list: 2 }, mode: 'continuous', at: '03:00', timezone: 'UTC', paused: false, createdAt: '2026-12-01T00:00:00Z', models: {} };

function agent(site: string, host: string, kind: ComponentInfo['kind'], status: 'online' | 'offline' = 'online'): AgentEntry {
  const component = { kind, name: kind } as ComponentInfo;
  return { description: { site, host, version: 't', grpcAddress: `${site}-${host}`, roles: [], components: [component], startedAt: new Date(), heartbeatSeconds: 1, presenceTtlSeconds: 3, hostname: 'h', pid: 1 }, status, lastSeen: new Date() };
}

const row = (id: number, digest: string, records: number[]): ItemDigest => ({ key: `dossier:${id}`, digest, recordIds: records, files: records.map((r) => `ffupload:${r}.jpg`) });

/** Answers by address and request kind; records every request. */
function fakeAgents(answers: Record<string, (req: InspectRequest) => ItemDigest[]>): { client: AgentClient; requests: { address: string; req: InspectRequest }[] } {
  const requests: { address: string; req: InspectRequest }[] = [];
  const client = {
    inspectSync(address: string, req: InspectRequest): Promise<InspectResult> {
      requests.push({ address, req });
      const answer = answers[address];
      return answer ? Promise.resolve({ items: answer(req) }) : Promise.reject(new Error(`no agent at ${address}`));
    },
  } as unknown as AgentClient;
  return { client, requests };
}

const fleet = [agent('m', 'db', 'postgres'), agent('m', 'tnt', 'tarantool'), agent('m', 'files', 'uploads'), agent('s', 'db', 'postgres'), agent('s', 'tnt', 'tarantool'), agent('s', 'files', 'uploads')];

describe('sync check', () => {
  it('reports every difference by kind and has the master republish the dossiers they belong to', async () => {
    const { client, requests } = fakeAgents({
      'm-db': (r) => (r.what === 'rows' ? [row(1, 'a', [10]), row(2, 'b', [20]), row(3, 'c', [30])] : []),
      's-db': () => [row(1, 'a', [10]), row(2, 'CHANGED', [20]), row(4, 'd', [40])],
      'm-tnt': () => [{ key: 'record:10', digest: 'r10' }, { key: 'record:20', digest: 'r20' }],
      's-tnt': () => [{ key: 'record:10', digest: 'r10-other' }, { key: 'record:20', digest: 'r20' }],
      'm-files': () => ['10', '20', '30'].map((r) => ({ key: `file:ffupload:${r}.jpg`, digest: r })),
      's-files': () => ['10', '20'].map((r) => ({ key: `file:ffupload:${r}.jpg`, digest: r })),
    });
    const report = await checkLink({ agents: client, agentsOf: (site) => fleet.filter((a) => a.description.site === site), timeoutMs: 1000 }, LINK, { repair: true });
    expect(report.differences.map((d) => `${d.kind} ${d.key}`).sort()).toEqual([
      'different dossier:2',
      'different record:10',
      'extra-on-slave dossier:4',
      'missing-on-master record:30',
      'missing-on-slave dossier:3',
      'missing-on-slave file:ffupload:30.jpg',
    ]);
    expect(report).toMatchObject({ dossiers: 3, records: 3, files: 3, requeued: 4 });
    const requeue = requests.find((r) => r.req.what === 'requeue');
    expect(requeue?.address).toBe('m-db');
    expect(requeue?.req).toMatchObject({ list: 1 });
    expect([...(requeue?.req as { dossierIds: number[] }).dossierIds].sort()).toEqual([1, 2, 3, 4]);
    // The slave is asked with the link's replica mapping; the master without.
    expect(requests.find((r) => r.address === 's-tnt')?.req).toMatchObject({ what: 'records', ids: [10, 20, 30], replica: { number: 1, masterSite: 'm' } });
    expect(requests.find((r) => r.address === 'm-tnt')?.req).not.toHaveProperty('replica');
  });

  it('does not repair unless asked, and reports 0 differences for equal ends', async () => {
    const same = (): ItemDigest[] => [row(1, 'a', [])];
    const { client, requests } = fakeAgents({ 'm-db': same, 's-db': same, 'm-tnt': () => [], 's-tnt': () => [], 'm-files': () => [], 's-files': () => [] });
    const report = await checkLink({ agents: client, agentsOf: (site) => fleet.filter((a) => a.description.site === site), timeoutMs: 1000 }, LINK, { repair: true });
    expect(report.differences).toEqual([]);
    expect(requests.some((r) => r.req.what === 'requeue')).toBe(false);
  });

  it('refuses when an agent it needs is offline, naming it', async () => {
    const { client } = fakeAgents({});
    const offline = fleet.map((a) => (a.description.site === 's' && a.description.host === 'tnt' ? { ...a, status: 'offline' as const } : a));
    const run = checkLink({ agents: client, agentsOf: (site) => offline.filter((a) => a.description.site === site), timeoutMs: 1000 }, LINK, { repair: false });
    await expect(run).rejects.toThrow(UnavailableError);
  });
});
