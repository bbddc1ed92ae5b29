/** Which agents take part in a site's cut, and the checks before anything is asked of them. */
import { NotFoundError, UnavailableError } from '../../../shared/errors.js';
import type { AgentEntry } from '../../../shared/fleet.js';
import { checkSiteId } from '../../../shared/ids.js';
import type { FleetInventory } from '../fleet.js';

/** Component kinds that hold data (sf-api is described but holds none). */
const DATA_KINDS = new Set(['postgres', 'tarantool', 'uploads']);

export interface Participant {
  host: string;
  address: string;
  components: string[];
}

/** The site's agents with data components; refuses when any of them is offline. */
export function planParticipants(fleet: FleetInventory, site: string): Participant[] {
  checkSiteId(site);
  const agents = fleet.list(site).filter((a) => a.description.components.some((c) => DATA_KINDS.has(c.kind)));
  if (agents.length === 0) throw new NotFoundError(`no agents with data components known for site '${site}'`);
  const offline = agents.filter((a) => a.status !== 'online');
  if (offline.length > 0) {
    const names = offline.map((a: AgentEntry) => `${site}/${a.description.host}`).join(', ');
    throw new UnavailableError(`agent ${names} is offline; a snapshot of site '${site}' needs every agent online`);
  }
  return agents.map((a) => ({
    host: a.description.host,
    address: a.description.grpcAddress,
    components: a.description.components.filter((c) => DATA_KINDS.has(c.kind)).map((c) => `${c.kind}:${c.name}`),
  }));
}
