/** `ffkeeper sites list`. */
import type { ControllerApi } from '../api.js';
import { renderTable, toJson } from '../format.js';
import type { CliIo } from '../io.js';

export interface SitesListOptions {
  json: boolean;
}

export async function runSitesList(opts: SitesListOptions, deps: { api: ControllerApi; io: CliIo }): Promise<void> {
  const sites = await deps.api.listSites();
  if (opts.json) {
    deps.io.out(toJson(sites));
    return;
  }
  if (sites.length === 0) {
    deps.io.out('no sites: no agent has announced itself to this controller yet');
    return;
  }
  const rows = sites.map((s) => [s.site, `${s.agentsOnline}/${s.agentsTotal}`, s.componentKinds.join(',')]);
  deps.io.out(renderTable(['SITE', 'ONLINE', 'COMPONENTS'], rows));
}
