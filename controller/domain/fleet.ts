/**
 * The fleet inventory: every agent the controller knows, online or offline. Presence updates feed it;
 * an agent is online while its last heartbeat is younger than the TTL it advertised and it has not said
 * goodbye. Time comes from an injected clock so the rules are testable without waiting.
 */
import { UnavailableError } from '../../shared/errors.js';
import type { AgentEntry, SiteSummary } from '../../shared/fleet.js';
import type { FleetRecord, PresenceUpdate } from './ports.js';

export type Clock = () => Date;

/** TTL assumed for a description that does not advertise one. */
export const FALLBACK_TTL_SECONDS = 15;

function keyOf(site: string, host: string): string {
  return `${site}/${host}`;
}

export class FleetInventory {
  private readonly records = new Map<string, FleetRecord>();

  constructor(private readonly clock: Clock = () => new Date()) {}

  /** Seeds the inventory from durable records (controller start-up); newer information wins. */
  restore(records: readonly FleetRecord[]): void {
    for (const r of records) this.merge(r);
  }

  /**
   * Applies a presence update. Returns the record when something an operator would care about changed
   * (new agent, changed description, came back, went away) — the caller persists those.
   */
  apply(update: PresenceUpdate): FleetRecord | undefined {
    if (update.kind === 'seen') {
      const key = keyOf(update.description.site, update.description.host);
      const before = this.records.get(key);
      const wasOnline = before !== undefined && this.isOnline(before);
      const record: FleetRecord = { description: update.description, lastSeen: update.seenAt };
      if (before && before.lastSeen > update.seenAt) return undefined;
      this.records.set(key, record);
      const changed = !before || !wasOnline || JSON.stringify(before.description) !== JSON.stringify(record.description);
      return changed ? record : undefined;
    }
    const key = keyOf(update.site, update.host);
    const before = this.records.get(key);
    if (!before || before.goneAt) return undefined;
    const record: FleetRecord = { ...before, goneAt: update.at };
    this.records.set(key, record);
    return record;
  }

  list(site?: string): AgentEntry[] {
    return [...this.records.values()]
      .filter((r) => site === undefined || site === '' || r.description.site === site)
      .sort((a, b) => keyOf(a.description.site, a.description.host).localeCompare(keyOf(b.description.site, b.description.host)))
      .map((r) => this.entry(r));
  }

  get(site: string, host: string): AgentEntry | undefined {
    const r = this.records.get(keyOf(site, host));
    return r ? this.entry(r) : undefined;
  }

  sites(): SiteSummary[] {
    const bySite = new Map<string, SiteSummary>();
    for (const e of this.list()) {
      const s = bySite.get(e.description.site) ?? {
        site: e.description.site,
        agentsTotal: 0,
        agentsOnline: 0,
        componentKinds: [],
      };
      s.agentsTotal += 1;
      if (e.status === 'online') s.agentsOnline += 1;
      for (const c of e.description.components) if (!s.componentKinds.includes(c.kind)) s.componentKinds.push(c.kind);
      bySite.set(s.site, s);
    }
    return [...bySite.values()].sort((a, b) => a.site.localeCompare(b.site));
  }

  private merge(r: FleetRecord): void {
    const key = keyOf(r.description.site, r.description.host);
    const before = this.records.get(key);
    if (!before || before.lastSeen < r.lastSeen) this.records.set(key, r);
  }

  private isOnline(r: FleetRecord): boolean {
    if (r.goneAt && r.goneAt >= r.lastSeen) return false;
    const ttl = r.description.presenceTtlSeconds > 0 ? r.description.presenceTtlSeconds : FALLBACK_TTL_SECONDS;
    return this.clock().getTime() - r.lastSeen.getTime() <= ttl * 1000;
  }

  private entry(r: FleetRecord): AgentEntry {
    return { description: r.description, status: this.isOnline(r) ? 'online' : 'offline', lastSeen: r.lastSeen };
  }
}

/** The gRPC address of a site's agent on `host`; `UnavailableError` naming it and `purpose` when it is offline or unknown. */
export function onlineAgentAddress(fleet: Pick<FleetInventory, 'get'>, site: string, host: string, purpose: string): string {
  const entry = fleet.get(site, host);
  if (!entry || entry.status !== 'online') {
    throw new UnavailableError(`the agent on host '${host}' of site '${site}' is ${entry ? 'offline' : 'unknown'} (needed for ${purpose})`);
  }
  return entry.description.grpcAddress;
}
