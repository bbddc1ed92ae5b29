/** `ffkeeper catalog rebuild --site S`: rebuilds a site's snapshot catalog from its repository alone. */
import { toJson } from '../format.js';
import type { JobCommandDeps } from '../terminal.js';
import { checkId } from '../validate.js';

export interface CatalogRebuildOptions {
  site: string;
  json: boolean;
}

/** Runs `catalog rebuild`: prints how many sealed snapshots the repository holds, and what changed. */
export async function runCatalogRebuild(opts: CatalogRebuildOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  const r = await deps.api.rebuildCatalog(opts.site);
  if (opts.json) {
    deps.io.out(toJson({ site: opts.site, ...r }));
    return;
  }
  deps.io.out(
    `catalog of site '${opts.site}' rebuilt from its repository: ${r.snapshots} snapshots found, ${r.added} added, ${r.removed} removed`,
  );
  if (r.flagged.length > 0) {
    deps.io.err(`WARNING: ${r.flagged.length} stored manifest(s) left out, not trusted (a host with append credentials may have forged them):`);
    for (const line of r.flagged) deps.io.err(`  ${line}`);
  }
}
