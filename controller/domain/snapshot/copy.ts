/**
 * Copies of sealed snapshots in a site's secondary repository (issue 20: a site's backups survive the loss
 * of one storage location). `snapshot copy` runs as a `copy` job under the site's lease (no prune may
 * remove data it is reading): the cuts' repository snapshots are copied by the engine (restic gives the
 * copies new ids), then each cut's manifest is rewritten with the ids of the copies and stored, sealed, in
 * the secondary repository — last, so a copy cut short leaves no cut there. The secondary repository is
 * thereby self-contained: restore and verify read it (`--from secondary`) exactly as they read the primary.
 */
import { NotFoundError, ValidationError } from '../../../shared/errors.js';
import { checkSiteId } from '../../../shared/ids.js';
import type { Logger } from '../../../shared/logger.js';
import type { Manifest } from '../../../shared/manifest.js';
import type { JobRunner, RunningJob } from '../jobs.js';
import type { LeaseMode, SiteLeases } from '../leases.js';
import type { CatalogStore, SecondaryRepository, SiteRepositories } from '../ports.js';
import type { ManifestSealer } from './seal.js';
import { manifestTags, readStoredManifests, storeManifest } from './stored-manifests.js';
import type { Repository } from '../../../shared/repository/repository.js';
import { parseSnapshotTags, sealOf } from '../../../shared/tags.js';

/** Which repository of a site a restore or verification reads. */
export type RepositorySide = 'primary' | 'secondary';

/** A side as the API and CLI name it: '' or 'primary' → the primary (undefined), 'secondary'. */
export function parseRepositorySide(text: string): RepositorySide | undefined {
  if (text === '' || text === 'primary') return undefined;
  if (text === 'secondary') return 'secondary';
  throw new ValidationError(`'${text}' is not a repository to read from: use primary or secondary`, { field: 'from' });
}

/** What a copy job did (also its detail). */
export interface CopyOutcome {
  /** Cuts copied by this job, oldest first. */
  copied: string[];
  /** Asked-for cuts the secondary repository already held. */
  alreadyCopied: string[];
  /** Repository snapshots (components) copied. */
  repositorySnapshots: number;
  secondary: string;
}

/** The manifest of a copy: the same cut, its components pointing at the copies' ids. */
export function translateManifest(m: Manifest, copies: Record<string, string>): Manifest {
  return {
    ...m,
    components: m.components.map((c) => ({
      ...c,
      snapshotIds: c.snapshotIds.map((id) => {
        const copy = copies[id];
        if (copy === undefined) throw new NotFoundError(`repository snapshot ${id.slice(0, 8)} of cut '${m.cutId}' (component ${c.component}) was not copied`);
        return copy;
      }),
    })),
  };
}

export class CopyService {
  constructor(
    private readonly deps: {
      catalog: CatalogStore;
      repositories: SiteRepositories;
      jobs: JobRunner;
      leases: SiteLeases;
      sealer: ManifestSealer;
      logger: Logger;
      now?: () => Date;
    },
  ) {}

  /** The site's secondary repository; a ValidationError naming the config entry when it has none. */
  async secondary(site: string): Promise<SecondaryRepository> {
    const s = await this.deps.repositories.secondary(checkSiteId(site));
    if (!s) {
      throw new ValidationError(`site '${site}' has no secondary repository: add repositories.sites.${site}.secondary (url, env, …) to the controller config`, { field: 'site' });
    }
    return s;
  }

  /**
   * The sealed snapshots stored in the site's secondary repository (of one cut, with `cutId`), read from it
   * (not from the catalog: it serves when the primary is lost). Manifests without this fleet's seal are left
   * out and logged.
   */
  async stored(site: string, o: { cutId?: string | undefined; signal?: AbortSignal } = {}): Promise<Manifest[]> {
    const { repository } = await this.secondary(site);
    const now = (this.deps.now ?? (() => new Date()))();
    const { manifests, flagged } = await readStoredManifests(repository, site, {
      sealer: this.deps.sealer,
      acceptUnsealed: false,
      now,
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.cutId !== undefined ? { cutId: o.cutId } : {}),
    });
    if (flagged.length > 0) this.deps.logger.warn({ site, flagged }, 'the secondary repository holds manifests that are not trusted: left out');
    return manifests;
  }

  /**
   * The cuts whose sealed manifest the secondary repository holds, from one listing (a copy job's plan does
   * not read every manifest back: only the controller writes there).
   */
  private async copiedCuts(repository: Repository, site: string, signal: AbortSignal): Promise<Set<string>> {
    const stored = await repository.listSnapshots({ tags: manifestTags(site) }, { signal });
    return new Set(stored.filter((s) => sealOf(s.tags) !== undefined).map((s) => parseSnapshotTags(s.tags)?.cutId ?? ''));
  }

  /**
   * Starts a `copy` job: the sealed snapshots `ids` of the site (none given: every one the secondary
   * repository does not hold yet). Unknown ids and a site without a secondary repository are refused
   * before any job exists.
   */
  async copy(site: string, ids: string[], mode: LeaseMode = { wait: false }): Promise<RunningJob> {
    const secondary = await this.secondary(site);
    const wanted = [...new Set(ids)];
    for (const id of wanted) {
      if (!(await this.deps.catalog.get(site, id))) throw new NotFoundError(`snapshot '${id}' not found for site '${site}'`);
    }
    return this.deps.jobs.start(
      'copy',
      site,
      async (ctx) => {
        ctx.step('plan', `comparing the catalog of site '${site}' with its secondary repository ${secondary.repository.displayUrl}`);
        const there = await this.copiedCuts(secondary.repository, site, ctx.signal);
        const catalog = await this.deps.catalog.list(site);
        const asked = wanted.length > 0 ? catalog.filter((m) => wanted.includes(m.cutId)) : catalog;
        const todo = asked.filter((m) => !there.has(m.cutId)).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
        const outcome: CopyOutcome = { copied: [], alreadyCopied: asked.filter((m) => there.has(m.cutId)).map((m) => m.cutId), repositorySnapshots: 0, secondary: secondary.repository.displayUrl };
        Object.assign(ctx.detail, outcome, { toCopy: todo.map((m) => m.cutId) });
        await ctx.save();
        ctx.message(`${asked.length} sealed snapshot(s) asked for: ${outcome.alreadyCopied.length} already in the secondary repository, ${todo.length} to copy`);
        if (todo.length === 0) return;
        const ids = todo.flatMap((m) => m.components.flatMap((c) => c.snapshotIds));
        ctx.step('copy', `copying ${ids.length} repository snapshot(s) of ${todo.length} cut(s) to ${secondary.repository.displayUrl}`);
        const primary = await this.deps.repositories.open(site);
        const copies = await secondary.repository.copyFrom(primary, ids, { signal: ctx.signal });
        outcome.repositorySnapshots = ids.length;
        ctx.step('seal', `storing the sealed manifests of ${todo.length} cut(s) in the secondary repository`);
        for (const m of todo) {
          await storeManifest(secondary.repository, translateManifest(m, copies), this.deps.sealer, { signal: ctx.signal });
          outcome.copied.push(m.cutId);
          Object.assign(ctx.detail, outcome);
          await ctx.save();
        }
        ctx.message(`copied ${outcome.copied.length} cut(s) (${ids.length} repository snapshots) to ${secondary.repository.displayUrl}`);
      },
      {},
      this.deps.leases.forJob(site, 'copy', mode),
    );
  }
}
