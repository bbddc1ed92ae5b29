/**
 * Fleet types both sides share: what an agent says about itself (published to the presence bucket and
 * returned by Agent.Describe) and how the controller sees it. Descriptions never carry secrets.
 */
import type { ComponentConfig } from './config/agent.js';

export type ComponentInfo =
  | {
      kind: 'postgres';
      name: string;
      database: string;
      host: string;
      port: number;
      pgbouncerAddress: string;
      appUnit: string;
      pgbouncerUnit: string;
    }
  | {
      kind: 'tarantool';
      name: string;
      host: string;
      port: number;
      httpPort?: number;
      memtxDir: string;
      walDir: string;
      vinylDir?: string;
      unit: string;
    }
  | { kind: 'uploads'; name: string; paths: string[] }
  | { kind: 'sf-api'; name: string; configPath: string; unit: string };

export interface AgentDescription {
  site: string;
  host: string;
  version: string;
  grpcAddress: string;
  roles: string[];
  components: ComponentInfo[];
  startedAt: Date;
  heartbeatSeconds: number;
  presenceTtlSeconds: number;
  hostname: string;
  pid: number;
}

export type AgentStatus = 'online' | 'offline';

/** An agent as the controller's inventory knows it. */
export interface AgentEntry {
  description: AgentDescription;
  status: AgentStatus;
  lastSeen: Date;
}

export interface SiteSummary {
  site: string;
  agentsTotal: number;
  agentsOnline: number;
  componentKinds: string[];
}

/** `<kind>:<name>`, the way components are named in tags, progress and messages. */
export function componentRef(c: { kind: string; name: string }): string {
  return `${c.kind}:${c.name}`;
}

/** The public (secret-free) description of a configured component. */
export function describeComponent(c: ComponentConfig): ComponentInfo {
  switch (c.kind) {
    case 'postgres':
      return {
        kind: 'postgres',
        name: c.name,
        database: c.database,
        host: c.host,
        port: c.port,
        pgbouncerAddress: `${c.pgbouncer.host}:${c.pgbouncer.port}`,
        appUnit: c.units.app,
        pgbouncerUnit: c.units.pgbouncer,
      };
    case 'tarantool':
      return {
        kind: 'tarantool',
        name: c.name,
        host: c.host,
        port: c.port,
        ...(c.httpPort === undefined ? {} : { httpPort: c.httpPort }),
        memtxDir: c.memtxDir,
        walDir: c.walDir,
        ...(c.vinylDir === undefined ? {} : { vinylDir: c.vinylDir }),
        unit: c.unit,
      };
    case 'uploads':
      return { kind: 'uploads', name: c.name, paths: [...c.paths] };
    case 'sf-api':
      return { kind: 'sf-api', name: c.name, configPath: c.configPath, unit: c.unit };
  }
}

/** Roles of a host, derived from its components (one per kind, in a stable order). */
export function rolesOf(components: readonly ComponentInfo[]): string[] {
  const order = ['postgres', 'tarantool', 'uploads', 'sf-api'];
  return order.filter((kind) => components.some((c) => c.kind === kind));
}

/** Parses a presence value (JSON) back into a description; undefined when it is not one. */
export function parseDescription(json: string): AgentDescription | undefined {
  try {
    const raw = JSON.parse(json) as Partial<AgentDescription> & { startedAt?: string };
    if (typeof raw.site !== 'string' || typeof raw.host !== 'string' || typeof raw.grpcAddress !== 'string') {
      return undefined;
    }
    return {
      site: raw.site,
      host: raw.host,
      version: raw.version ?? '',
      grpcAddress: raw.grpcAddress,
      roles: raw.roles ?? [],
      components: raw.components ?? [],
      startedAt: new Date(raw.startedAt ?? 0),
      heartbeatSeconds: raw.heartbeatSeconds ?? 0,
      presenceTtlSeconds: raw.presenceTtlSeconds ?? 0,
      hostname: raw.hostname ?? '',
      pid: raw.pid ?? 0,
    };
  } catch {
    return undefined;
  }
}
