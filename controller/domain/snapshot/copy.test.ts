import { describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';
import type { JobRunner } from '../jobs.js';
import type { SiteLeases } from '../leases.js';
import { FakeCatalog, FakeRepositories, manifest } from '../restore/fakes.test-support.js';
import { catalogOf } from '../restore/select.js';
import { CopyService, parseRepositorySide, translateManifest } from './copy.js';

describe('copies in a secondary repository', () => {
  it("rewrites a manifest's component snapshot ids to the copies' ids, and names a component that was not copied", () => {
    const m = manifest('msk-1', 'c-1', '2026-12-01T10:00:00Z');
    const copies = Object.fromEntries(m.components.flatMap((c) => c.snapshotIds.map((id) => [id, `copy-of-${id}`])));
    const t = translateManifest(m, copies);
    expect(t.components.flatMap((c) => c.snapshotIds)).toEqual(m.components.flatMap((c) => c.snapshotIds.map((id) => `copy-of-${id}`)));
    expect({ ...t, components: [] }).toEqual({ ...m, components: [] });
    const [first] = m.components;
    const partial = { ...copies, [first!.snapshotIds[0]!]: undefined } as Record<string, string>;
    expect(() => translateManifest(m, partial)).toThrow(NotFoundError);
    expect(() => translateManifest(m, partial)).toThrow(`of cut 'c-1' (component ${first!.component}) was not copied`);
  });

  it('a site without a secondary repository is refused before any job, naming the config entry', async () => {
    const service = new CopyService({
      catalog: new FakeCatalog(),
      repositories: new FakeRepositories([]),
      jobs: {} as JobRunner,
      leases: {} as SiteLeases,
      sealer: { sign: () => 's', verify: () => true },
      logger: silentLogger(),
    });
    await expect(service.copy('msk-1', [])).rejects.toThrow(ValidationError);
    await expect(service.copy('msk-1', [])).rejects.toThrow('add repositories.sites.msk-1.secondary');
  });

  it('names the repository to read from: primary (or nothing) and secondary; anything else is refused', () => {
    expect(parseRepositorySide('')).toBeUndefined();
    expect(parseRepositorySide('primary')).toBeUndefined();
    expect(parseRepositorySide('secondary')).toBe('secondary');
    expect(() => parseRepositorySide('backup')).toThrow("'backup' is not a repository to read from");
  });

  it('a catalog of copies picks like the catalog and is read-only', async () => {
    const a = manifest('msk-1', 'c-1', '2026-12-01T10:00:00Z');
    const b = manifest('msk-1', 'c-2', '2026-12-02T10:00:00Z');
    const c = catalogOf([a, b, manifest('spb-1', 'c-3', '2026-12-03T10:00:00Z')]);
    expect((await c.list('msk-1')).map((m) => m.cutId)).toEqual(['c-2', 'c-1']);
    expect((await c.get('msk-1', 'c-3'))).toBeUndefined();
    expect((await c.find('c-3'))?.site).toBe('spb-1');
    await expect(c.delete('msk-1', 'c-1')).rejects.toThrow('read-only');
  });
});
