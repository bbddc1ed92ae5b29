/** Builds what an agent says about itself from its config and where it was bound. */
import os from 'node:os';
import type { AgentConfig } from '../../shared/config/agent.js';
import { describeComponent, rolesOf, type AgentDescription } from '../../shared/fleet.js';
import { VERSION } from '../../shared/version.js';
import { FINDFACE_SECURITY_ROLE } from '../../shared/sync/native.js';
import { EXTRACTION_API_ROLE } from '../../shared/migration/survey.js';

export interface DescribeInput {
  config: AgentConfig;
  grpcAddress: string;
  startedAt: Date;
}

export function buildDescription({ config, grpcAddress, startedAt }: DescribeInput): AgentDescription {
  const components = config.components.map(describeComponent);
  return {
    site: config.site,
    host: config.host,
    version: VERSION,
    grpcAddress,
    // The native sync (shared/sync/native.ts) and a migration (shared/migration/survey.ts) find the agents
    // that run findface-security and findface-extraction-api by these roles.
    roles: [...rolesOf(components), ...(config.findfaceSecurity ? [FINDFACE_SECURITY_ROLE] : []), ...(config.extractionApi ? [EXTRACTION_API_ROLE] : [])],
    components,
    startedAt,
    heartbeatSeconds: config.presence.heartbeatSeconds,
    presenceTtlSeconds: config.presence.ttlSeconds,
    hostname: os.hostname(),
    pid: process.pid,
  };
}

/**
 * The address the controller should dial: the configured `advertise`, else the bound address, with a
 * wildcard host (0.0.0.0 / ::) replaced by this machine's host name.
 */
export function advertisedAddress(listen: string, boundPort: number, advertise?: string): string {
  if (advertise) return advertise;
  const host = listen.slice(0, listen.lastIndexOf(':'));
  const reachable = host === '0.0.0.0' || host === '::' || host === '[::]' ? os.hostname() : host;
  return `${reachable}:${boundPort}`;
}
