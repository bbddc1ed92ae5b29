/** Conversions between shared fleet types and their proto messages — only at the transport edge. */
import type { AgentDescription as PbAgentDescription, Component as PbComponent } from '../../proto/gen/ffkeeper/v1/common.js';
import type { AgentEntry as PbAgentEntry, SiteSummary as PbSiteSummary } from '../../proto/gen/ffkeeper/v1/controller.js';
import { AgentStatus as PbAgentStatus } from '../../proto/gen/ffkeeper/v1/controller.js';
import type { AgentDescription, AgentEntry, ComponentInfo, SiteSummary } from '../fleet.js';

export function componentToProto(c: ComponentInfo): PbComponent {
  switch (c.kind) {
    case 'postgres':
      return {
        kind: c.kind,
        name: c.name,
        detail: {
          $case: 'postgres',
          value: {
            database: c.database,
            host: c.host,
            port: c.port,
            pgbouncerAddress: c.pgbouncerAddress,
            appUnit: c.appUnit,
            pgbouncerUnit: c.pgbouncerUnit,
          },
        },
      };
    case 'tarantool':
      return {
        kind: c.kind,
        name: c.name,
        detail: {
          $case: 'tarantool',
          value: {
            host: c.host,
            port: c.port,
            httpPort: c.httpPort ?? 0,
            memtxDir: c.memtxDir,
            walDir: c.walDir,
            vinylDir: c.vinylDir ?? '',
            unit: c.unit,
          },
        },
      };
    case 'uploads':
      return { kind: c.kind, name: c.name, detail: { $case: 'uploads', value: { paths: c.paths } } };
    case 'sf-api':
      return {
        kind: c.kind,
        name: c.name,
        detail: { $case: 'sfApi', value: { configPath: c.configPath, unit: c.unit } },
      };
  }
}

export function componentFromProto(c: PbComponent): ComponentInfo | undefined {
  const d = c.detail;
  switch (d?.$case) {
    case 'postgres':
      return { kind: 'postgres', name: c.name, ...d.value };
    case 'tarantool': {
      const { httpPort, vinylDir, ...rest } = d.value;
      return {
        kind: 'tarantool',
        name: c.name,
        ...rest,
        ...(httpPort ? { httpPort } : {}),
        ...(vinylDir ? { vinylDir } : {}),
      };
    }
    case 'uploads':
      return { kind: 'uploads', name: c.name, paths: d.value.paths };
    case 'sfApi':
      return { kind: 'sf-api', name: c.name, ...d.value };
    default:
      return undefined;
  }
}

export function descriptionToProto(d: AgentDescription): PbAgentDescription {
  return { ...d, components: d.components.map(componentToProto) };
}

export function descriptionFromProto(d: PbAgentDescription): AgentDescription {
  return {
    ...d,
    startedAt: d.startedAt ?? new Date(0),
    components: d.components.map(componentFromProto).filter((c): c is ComponentInfo => c !== undefined),
  };
}

export function entryToProto(e: AgentEntry): PbAgentEntry {
  return {
    description: descriptionToProto(e.description),
    status: e.status === 'online' ? PbAgentStatus.AGENT_STATUS_ONLINE : PbAgentStatus.AGENT_STATUS_OFFLINE,
    lastSeen: e.lastSeen,
  };
}

export function entryFromProto(e: PbAgentEntry): AgentEntry | undefined {
  if (!e.description) return undefined;
  return {
    description: descriptionFromProto(e.description),
    status: e.status === PbAgentStatus.AGENT_STATUS_ONLINE ? 'online' : 'offline',
    lastSeen: e.lastSeen ?? new Date(0),
  };
}

export function siteToProto(s: SiteSummary): PbSiteSummary {
  return { ...s };
}
