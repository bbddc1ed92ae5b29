/**
 * The import service against the restore tests' fakes: every host of the base snapshot imports its
 * components from the directory, the manifest is sealed with the export's own time and source; a host
 * that fails leaves no snapshot and the partial repository snapshots are removed; a site without a sealed
 * snapshot, or a relative directory, is refused before any job exists.
 */
import { describe, expect, it } from 'vitest';
import { NotFoundError, UnavailableError, ValidationError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';
import { cutTag } from '../../../shared/tags.js';
import type { RepositoryAccess, SiteRepositories } from '../ports.js';
import { FakeAgents, FakeCatalog, TestFleet, addressOf, fakeContext, manifest, standardSite } from '../restore/fakes.test-support.js';
import { ImportService } from './service.js';

const NOW = new Date('2026-12-03T12:00:00Z');

function world(options: { empty?: boolean } = {}) {
  const calls: string[] = [];
  const agents = new FakeAgents(calls);
  const fleet = standardSite(new TestFleet(), 'msk-1');
  const base = manifest('msk-1', 'c-1', '2026-12-01T10:00:00Z');
  const catalog = options.empty ? new FakeCatalog() : new FakeCatalog(base);
  const stored: string[] = [];
  const forgotten: string[][] = [];
  const repositories = {
    access: async (site: string): Promise<RepositoryAccess> => ({ url: `/srv/repos/${site}`, password: 'pw', env: {} }),
    open: async () => ({
      backupStream: async (r: { tags: string[] }) => {
        stored.push(r.tags.join(','));
        return { snapshotId: 'm1' };
      },
      listSnapshots: async (f: { tags: string[] }) => [{ id: `left-by-${f.tags.join(',')}` }],
      forget: async (r: { snapshotIds: string[] }) => {
        forgotten.push(r.snapshotIds);
      },
    }),
  } as unknown as SiteRepositories;
  const service = new ImportService({
    catalog,
    fleet: fleet.inventory,
    agents,
    repositories,
    jobs: undefined as never,
    sealer: { sign: () => 'seal', verify: () => true },
    deadlines: { protocolMs: 1000, prepareMs: 5000, unitControlMs: 5000, checkMs: 5000, transferMs: 5000, agentReturnMs: 5000 },
    logger: silentLogger(),
    now: () => NOW,
  });
  return { calls, agents, base, catalog, stored, forgotten, service };
}

describe('ImportService', () => {
  it("imports every host's components of the base snapshot and seals them as a new snapshot dated by the export", async () => {
    const { calls, agents, base, catalog, stored, service } = world();
    const exportedAt = new Date('2026-11-30T08:00:00Z');
    for (const host of ['db', 't1', 't2', 'up']) agents.importSources.set(addressOf('msk-1', host), { site: 'msk-9', cutId: 'c-77', time: exportedAt });
    const { ctx, rec } = fakeContext({}, 'j-import-1');
    const m = await service.run(ctx, base, { site: 'msk-1', fromDir: '/srv/export' });
    expect(calls.filter((c) => c.startsWith('import ')).sort()).toEqual(
      [
        `import ${addressOf('msk-1', 'db')} postgres:main /srv/export as ${m.cutId}`,
        `import ${addressOf('msk-1', 't1')} tarantool:shard-1 /srv/export as ${m.cutId}`,
        `import ${addressOf('msk-1', 't2')} tarantool:shard-2 /srv/export as ${m.cutId}`,
        `import ${addressOf('msk-1', 'up')} uploads:uploads /srv/export as ${m.cutId}`,
      ].sort(),
    );
    expect(m.cutId).not.toBe(base.cutId);
    expect(m.createdAt).toEqual(exportedAt);
    expect(m.sealedAt).toEqual(NOW);
    expect(m.reason).toBe('import of /srv/export (snapshot c-77 of site msk-9)');
    expect(m.components.map((c) => `${c.host} ${c.component}`).sort()).toEqual(base.components.map((c) => `${c.host} ${c.component}`).sort());
    expect(m.components.every((c) => c.snapshotIds[0] === `${m.cutId}-${c.component}`)).toBe(true);
    expect(m.totals.bytes).toBe(base.components.reduce((s, c) => s + c.bytes, 0));
    expect(await catalog.get('msk-1', m.cutId)).toEqual(m);
    expect(stored).toHaveLength(1);
    expect(ctx.detail.snapshotId).toBe(m.cutId);
    expect(rec.messages.at(-1)).toMatch(new RegExp(`^snapshot '${m.cutId}' of site 'msk-1' sealed: 4 component\\(s\\)`));
  });

  it('dates an export without a manifest by its files, never later than now', async () => {
    const { agents, base, service } = world();
    agents.importSources.set(addressOf('msk-1', 'db'), { site: '', cutId: '', time: new Date('2027-01-01T00:00:00Z') });
    const { ctx } = fakeContext({}, 'j-import-2');
    const m = await service.run(ctx, base, { site: 'msk-1', fromDir: '/srv/export', reason: 'vendor backup of Nov 30' });
    expect(m.createdAt.getTime()).toBeLessThanOrEqual(NOW.getTime());
    expect(m.reason).toBe('vendor backup of Nov 30');
  });

  it('a host that fails fails the job naming it: no snapshot appears and what the others stored is removed', async () => {
    const { agents, base, catalog, forgotten, service } = world();
    agents.importFailures.set(addressOf('msk-1', 'up'), new NotFoundError('uploads:uploads: the export has no var_lib_ffupload.tar.gz (upload root /var/lib/ffupload) in /srv/export'));
    const { ctx } = fakeContext({}, 'j-import-3');
    await expect(service.run(ctx, base, { site: 'msk-1', fromDir: '/srv/export' })).rejects.toThrow(
      "import of /srv/export into site 'msk-1' failed: host 'up': uploads:uploads: the export has no var_lib_ffupload.tar.gz",
    );
    expect(catalog.manifests).toEqual([base]);
    expect(forgotten).toHaveLength(1);
    expect(forgotten[0]?.[0]).toBe(`left-by-${cutTag(String(ctx.detail.snapshotId))}`);
  });

  it('refuses exports of two different snapshots on different hosts', async () => {
    const { agents, base, catalog, service } = world();
    agents.importSources.set(addressOf('msk-1', 'db'), { site: 'msk-1', cutId: 'c-1', time: new Date('2026-11-30T08:00:00Z') });
    agents.importSources.set(addressOf('msk-1', 't1'), { site: 'msk-1', cutId: 'c-2', time: new Date('2026-11-30T09:00:00Z') });
    const { ctx } = fakeContext({}, 'j-import-4');
    await expect(service.run(ctx, base, { site: 'msk-1', fromDir: '/srv/export' })).rejects.toThrow(/are of different snapshots \(msk-1\/c-1, msk-1\/c-2\)/);
    expect(catalog.manifests).toEqual([base]);
  });

  it('an agent offline fails its host', async () => {
    const { agents, base, service } = world();
    agents.importFailures.set(addressOf('msk-1', 't2'), new UnavailableError('connection refused'));
    const { ctx } = fakeContext({}, 'j-import-5');
    await expect(service.run(ctx, base, { site: 'msk-1', fromDir: '/srv/export' })).rejects.toThrow("host 't2': connection refused");
  });

  it('refuses a relative directory, and a site without a sealed snapshot, before any job exists', async () => {
    await expect(world().service.start({ site: 'msk-1', fromDir: 'export' })).rejects.toThrow(ValidationError);
    await expect(world().service.start({ site: 'msk-1', fromDir: '/srv/../etc' })).rejects.toThrow(ValidationError);
    await expect(world({ empty: true }).service.start({ site: 'msk-1', fromDir: '/srv/export' })).rejects.toThrow(/has no sealed snapshot: an import takes/);
  });
});
