/** Fleet use cases the Controller service exposes: list sites, list agents, show one agent live. */
import { describeError, NotFoundError, ValidationError } from '../../shared/errors.js';
import type { AgentDescription, AgentEntry, SiteSummary } from '../../shared/fleet.js';
import { isValidId } from '../../shared/ids.js';
import { deadlineFor, type AgentDeadlines } from './deadlines.js';
import type { FleetInventory } from './fleet.js';
import type { AgentClient } from './ports.js';

export interface AgentDetails {
  entry: AgentEntry;
  live?: AgentDescription;
  liveError?: string;
}

export class FleetService {
  constructor(
    private readonly inventory: FleetInventory,
    private readonly agents: AgentClient,
    private readonly deadlines: AgentDeadlines,
  ) {}

  listSites(): SiteSummary[] {
    return this.inventory.sites();
  }

  listAgents(site?: string): AgentEntry[] {
    if (site) checkId('site', site);
    return this.inventory.list(site);
  }

  /** The inventory entry plus the agent's live answer to Describe (or why there is none). */
  async getAgent(site: string, host: string): Promise<AgentDetails> {
    checkId('site', site);
    checkId('host', host);
    const entry = this.inventory.get(site, host);
    if (!entry) throw new NotFoundError(`agent '${site}/${host}' not found in the fleet inventory`);
    if (entry.status === 'offline') {
      return { entry, liveError: `agent '${site}/${host}' is offline (last seen ${entry.lastSeen.toISOString()})` };
    }
    try {
      const live = await this.agents.describe(entry.description.grpcAddress, deadlineFor(this.deadlines, 'protocolMs', `Describe of agent '${site}/${host}'`));
      return { entry, live };
    } catch (err) {
      return { entry, liveError: describeError(err) };
    }
  }
}

function checkId(field: string, value: string): void {
  if (!isValidId(value)) throw new ValidationError(`${field} '${value}' is not a valid id`, { field });
}
