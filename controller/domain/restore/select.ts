/**
 * Picks the snapshot a restore restores: by id (it must belong to the asked site), the newest sealed
 * snapshot created strictly before a time, or the latest. Only sealed snapshots (catalog entries)
 * exist for a restore. A snapshot of another site is refused with the flags that would restore it.
 */
import { IllegalStateError, NotFoundError, ValidationError } from '../../../shared/errors.js';
import type { Manifest } from '../../../shared/manifest.js';
import type { CatalogStore } from '../ports.js';
import type { SnapshotSelector } from './types.js';

/** Returns the selected manifest or throws NotFoundError / ValidationError naming site, snapshot or time. */
export async function selectSnapshot(catalog: CatalogStore, site: string, selector: SnapshotSelector): Promise<Manifest> {
  if (!site) throw new ValidationError('a restore needs the snapshot\'s site (--site)', { field: 'site' });
  switch (selector.kind) {
    case 'id':
      return selectById(catalog, site, selector.id);
    case 'before':
      return selectBefore(catalog, site, selector.time);
    case 'latest':
      return selectLatest(catalog, site);
  }
}

async function selectById(catalog: CatalogStore, site: string, id: string): Promise<Manifest> {
  if (!id) throw new ValidationError('snapshot id is empty (--snapshot)', { field: 'snapshot' });
  const own = await catalog.get(site, id);
  if (own) return own;
  const elsewhere = await catalog.find(id);
  if (elsewhere && elsewhere.site !== site) {
    throw new ValidationError(
      `snapshot '${id}' belongs to site '${elsewhere.site}', not '${site}'; to restore it into site '${site}' ` +
        `use --site ${elsewhere.site} --to-site ${site}`,
      { field: 'site' },
    );
  }
  throw new NotFoundError(`snapshot '${id}' not found for site '${site}'`);
}

async function selectBefore(catalog: CatalogStore, site: string, time: Date): Promise<Manifest> {
  if (Number.isNaN(time.getTime())) throw new ValidationError('--before is not a valid time', { field: 'before' });
  const candidates = (await catalog.list(site)).filter((m) => m.createdAt.getTime() < time.getTime());
  const newest = newestOf(candidates);
  if (!newest) {
    throw new NotFoundError(`no sealed snapshot of site '${site}' was created before ${time.toISOString()}`);
  }
  return newest;
}

async function selectLatest(catalog: CatalogStore, site: string): Promise<Manifest> {
  const newest = newestOf(await catalog.list(site));
  if (!newest) throw new NotFoundError(`site '${site}' has no sealed snapshot to restore`);
  return newest;
}

/**
 * A read-only catalog over manifests read elsewhere (a secondary repository's copies), so a restore picks
 * among them exactly as among the catalog's.
 */
export function catalogOf(manifests: readonly Manifest[]): CatalogStore {
  const readOnly = (): Promise<never> => Promise.reject(new IllegalStateError('this catalog of copies is read-only'));
  return {
    put: readOnly,
    delete: readOnly,
    get: (site, cutId) => Promise.resolve(manifests.find((m) => m.site === site && m.cutId === cutId)),
    list: (site) => Promise.resolve(manifests.filter((m) => m.site === site).sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())),
    find: (cutId) => Promise.resolve(manifests.find((m) => m.cutId === cutId)),
  };
}

/** The newest by creation time (the catalog's order is not relied on). */
export function newestOf(manifests: readonly Manifest[]): Manifest | undefined {
  let best: Manifest | undefined;
  for (const m of manifests) if (!best || m.createdAt.getTime() > best.createdAt.getTime()) best = m;
  return best;
}
