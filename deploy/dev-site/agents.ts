/**
 * Agent configurations describing a dev site, one per host of the default layout: `db` (PostgreSQL and
 * its pgbouncer), `tnt` (every Tarantool shard and sf-api), `files` (the upload directories). Each is
 * validated against the agent's own schema before it is written to `<siteDir>/agents/<host>.yaml`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { agentConfigSchema } from '../../shared/config/agent.js';
import { ConfigError } from '../../shared/errors.js';
import { natsSeedOf } from '../../shared/security/tls-files.js';
import { INTEGRITY_CHECK_SHIM } from './shims.js';
import type { SiteState } from './state.js';

/** Raw (pre-schema) agent configs of a site, by host. */
export function agentConfigsOf(state: SiteState): Record<string, Record<string, unknown>> {
  const base = (host: string): Record<string, unknown> => ({
    site: state.site,
    host,
    grpc: { listen: '127.0.0.1:0' },
    // All agents of a dev site share one machine: any free port (the agent logs where it listens).
    metrics: { listen: '127.0.0.1:0' },
    nats: {
      servers: state.nats,
      name: `ffkeeper-agent ${state.site}/${host}`,
      ...(state.agentTls?.[host] ? { seedFile: natsSeedOf(state.agentTls[host]) } : {}),
    },
    presence: { heartbeatSeconds: 1, ttlSeconds: 3 },
    pathPrepend: [state.binDir],
    // Inside the site directory, so `down` removes the agents' caches too.
    cacheDir: path.join(state.siteDir, 'agents', `cache-${host}`),
    log: { level: 'info' },
    ...(state.agentTls?.[host] ? { tls: state.agentTls[host] } : { insecure: true }),
  });
  const { postgres: p, pgbouncer: b } = state;
  return {
    db: {
      ...base('db'),
      integrityCheck: { command: [path.join(state.binDir, INTEGRITY_CHECK_SHIM)] },
      // FindFace's native master/slave sync: config.py, the API and the unit that reads it at start.
      ...(state.security ? { findfaceSecurity: { configPath: state.security.configPath, url: `http://127.0.0.1:${state.security.port}`, unit: 'findface-security' } } : {}),
      components: [
        {
          kind: 'postgres',
          name: 'ffsecurity',
          database: p.database,
          host: p.host,
          port: p.port,
          user: p.superuser,
          owner: p.owner,
          pgbouncer: { host: b.host, port: b.port, adminUser: b.adminUser, database: p.database },
          units: { app: 'findface-security', pgbouncer: 'pgbouncer' },
        },
      ],
    },
    tnt: {
      ...base('tnt'),
      // A model migration reads and edits its config, and restarts it.
      ...(state.extractionApi ? { extractionApi: { configPath: state.extractionApi.configPath, unit: state.extractionApi.unit } } : {}),
      components: [
        ...state.shards.map((s) => ({
          kind: 'tarantool',
          name: s.name,
          host: '127.0.0.1',
          port: s.port,
          httpPort: s.httpPort,
          memtxDir: s.memtxDir,
          walDir: s.walDir,
          vinylDir: s.vinylDir,
          unit: s.unit,
          instanceFile: s.instanceFile,
          // A verify drill's scratch instance gets the galleries' procedures the checker calls.
          sandboxInitLua: path.join(state.siteDir, 'tarantool', 'ffk_galleries.lua'),
        })),
        { kind: 'sf-api', name: 'sf-api', configPath: state.sfApi.configPath, unit: state.sfApi.unit },
      ],
    },
    files: {
      ...base('files'),
      components: [{ kind: 'uploads', name: 'uploads', paths: [state.uploads.uploadsDir, state.uploads.ffuploadDir] }],
    },
  };
}

export const AGENT_HOSTS = ['db', 'tnt', 'files'] as const;

/**
 * Certificates of the site's agents signed by the fleet CA in `pkiDir`, with their NATS seeds (accepted by
 * the nats-servers registered with that CA when this returns): `<siteDir>/agents/tls-<host>/`.
 */
export async function issueAgentCertificates(state: SiteState, pkiDir: string, natsRegistry?: string): Promise<Record<string, { ca: string; cert: string; key: string }>> {
  // Loaded here only: the site's shims (systemctl, findface-security) run this module's importers often.
  const { issueInto } = await import('../../shared/security/pki.js');
  const { issueNatsCredentials } = await import('../../shared/security/nats-users.js');
  const out: Record<string, { ca: string; cert: string; key: string }> = {};
  for (const host of AGENT_HOSTS) {
    const dir = path.join(state.siteDir, 'agents', `tls-${host}`);
    const identity = { kind: 'agent', site: state.site, host } as const;
    out[host] = await issueInto(pkiDir, dir, identity);
    if (natsRegistry) await issueNatsCredentials(natsRegistry, identity, natsSeedOf(out[host]));
  }
  return out;
}

/** Validates and writes every agent config; returns the file of each host. */
export function writeAgentConfigs(state: SiteState): Record<string, string> {
  const dir = path.join(state.siteDir, 'agents');
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {};
  for (const [host, raw] of Object.entries(agentConfigsOf(state))) {
    const file = path.join(dir, `${host}.yaml`);
    const parsed = agentConfigSchema.safeParse(raw);
    if (!parsed.success) {
      throw new ConfigError(file, parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
    }
    writeFileSync(file, `# agent '${host}' of dev site ${state.site} (generated by ffkeeper-devsite)\n${stringify(raw)}`);
    files[host] = file;
  }
  return files;
}
