/**
 * The export service against the restore tests' fakes: which calls each host gets (a sandbox only for
 * what the export reads from one, the dump from the repository), the files it records, sandboxes always
 * dropped, and the error naming the host that failed.
 */
import { describe, expect, it } from 'vitest';
import { NotFoundError, UnavailableError, ValidationError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';
import type { RepositoryAccess, SiteRepositories } from '../ports.js';
import { FakeAgents, FakeCatalog, TestFleet, addressOf, fakeContext, manifest, pg, shard, standardSite, uploads } from '../restore/fakes.test-support.js';
import { ExportService, type HostExport } from './service.js';

const repositories = {
  access: async (site: string): Promise<RepositoryAccess> => ({ url: `/srv/repos/${site}`, password: 'pw', env: {} }),
} as unknown as SiteRepositories;

function world(offline?: string) {
  const calls: string[] = [];
  const agents = new FakeAgents(calls);
  const fleet = offline
    ? new TestFleet().add('msk-1', 'db', [pg()]).add('msk-1', 't1', [shard('shard-1')]).add('msk-1', 't2', [shard('shard-2')], { offline: offline === 't2' }).add('msk-1', 'up', [uploads()])
    : standardSite(new TestFleet(), 'msk-1');
  const cut = manifest('msk-1', 'c-1', '2026-12-01T10:00:00Z');
  const service = new ExportService({
    catalog: new FakeCatalog(cut),
    fleet: fleet.inventory,
    agents,
    repositories,
    jobs: undefined as never,
    deadlines: { protocolMs: 1000, prepareMs: 5000, unitControlMs: 5000, checkMs: 5000, transferMs: 5000, agentReturnMs: 5000 },
    logger: silentLogger(),
  });
  return { calls, agents, fleet, cut, service };
}

const sorted = (calls: string[], address: string): string[] => calls.filter((c) => c.includes(` ${address} `) || c.endsWith(` ${address}`) || c.includes(`${address} `));

describe('ExportService', () => {
  it('restores into a sandbox what is read from one, exports every host, records the files, drops every sandbox', async () => {
    const { calls, cut, service } = world();
    const { ctx, rec } = fakeContext({}, 'j-export-1');
    const hosts = await service.run(ctx, cut, '/srv/export');
    expect(hosts.map((h: HostExport) => h.host).sort()).toEqual(['db', 't1', 't2', 'up']);
    // The database host: no sandbox (its dump comes from the repository), no drop.
    expect(sorted(calls, addressOf('msk-1', 'db'))).toEqual([`export ${addressOf('msk-1', 'db')} postgres:main /srv/export (sandbox: none)`]);
    // A shard host: restored into the sandbox, exported from it, the sandbox dropped.
    expect(sorted(calls, addressOf('msk-1', 't1'))).toEqual([
      `sandbox ${addressOf('msk-1', 't1')} tarantool:shard-1`,
      `export ${addressOf('msk-1', 't1')} tarantool:shard-1 /srv/export (sandbox: tarantool:shard-1)`,
      `drop ${addressOf('msk-1', 't1')} j-export-1`,
    ]);
    expect((ctx.detail.hosts as HostExport[]).flatMap((h) => h.files.map((f) => f.name)).sort()).toEqual(['postgres-main.out', 'tarantool-shard-1.out', 'tarantool-shard-2.out', 'uploads-uploads.out']);
    expect(rec.messages.at(-1)).toMatch(/^snapshot 'c-1' of site 'msk-1' exported: 4 file\(s\), 40 bytes into \/srv\/export on /);
  });

  it('a host that fails fails the job naming it; the other hosts finish and every sandbox is dropped', async () => {
    const { calls, agents, cut, service } = world();
    agents.exportFailures.set(addressOf('msk-1', 'up'), new UnavailableError('disk full'));
    const { ctx } = fakeContext({}, 'j-export-2');
    await expect(service.run(ctx, cut, '/srv/export')).rejects.toThrow("export of snapshot 'c-1' of site 'msk-1' failed: host 'up': disk full");
    expect(calls).toContain(`drop ${addressOf('msk-1', 'up')} j-export-2`);
    expect((ctx.detail.hosts as HostExport[]).map((h) => h.host).sort()).toEqual(['db', 't1', 't2']);
  });

  it('an agent offline fails its host before anything runs there', async () => {
    const { calls, cut, service } = world('t2');
    const { ctx } = fakeContext({}, 'j-export-3');
    await expect(service.run(ctx, cut, '/srv/export')).rejects.toThrow("host 't2': the agent on host 't2' of site 'msk-1' is offline (needed for its part of the export)");
    expect(calls.filter((c) => c.includes(addressOf('msk-1', 't2')))).toEqual([]);
  });

  it('refuses a relative directory and an unknown snapshot before any job exists', async () => {
    const { service } = world();
    await expect(service.start({ site: 'msk-1', snapshotId: 'c-1', toDir: 'export' })).rejects.toThrow(ValidationError);
    await expect(service.start({ site: 'msk-1', snapshotId: 'c-1', toDir: '/srv/../etc' })).rejects.toThrow(ValidationError);
    await expect(service.start({ site: 'msk-1', snapshotId: 'c-9', toDir: '/srv/export' })).rejects.toThrow(NotFoundError);
  });
});
