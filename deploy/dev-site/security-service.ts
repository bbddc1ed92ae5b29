/**
 * What the dev site's findface-security unit serves besides its writes: the native-sync HTTP API
 * (security-api.ts) on the site's security port and the nightly sync job (native-sync-job.ts). config.py
 * is read once here, at start — like Django, a change takes effect when the unit restarts.
 */
import { once } from 'node:events';
import pg from 'pg';
import type { Logger } from '../../shared/logger.js';
import { NightlySync } from './native-sync-job.js';
import { createSecurityServer } from './security-api.js';
import { loadSecurityConfig, requireSecurity } from './security-config.js';
import { servingShards } from './instances.js';
import { ShardSet } from './shards.js';
import type { SiteState } from './state.js';
import { ImageWriter } from './uploads.js';

export interface SecurityService {
  close: () => Promise<void>;
}

/** Reads config.py, starts the API (listening when this resolves) and the nightly job. */
export async function startSecurityService(state: SiteState, logger: Logger): Promise<SecurityService> {
  const { port } = requireSecurity(state);
  const config = loadSecurityConfig(state);
  logger.info({ configPath: config.configPath, syncConfigured: config.settings.syncToken !== undefined, syncTime: config.settings.syncTime, timeZone: config.timeZone }, 'findface-security settings read');
  const { pgbouncer, postgres } = state;
  const pool = new pg.Pool({ host: pgbouncer.host, port: pgbouncer.port, user: postgres.owner, database: postgres.database, max: 4 });
  pool.on('error', () => undefined); // an idle connection dropped by pgbouncer; the next checkout reconnects
  let shardSet: ShardSet | undefined;
  const shards = async (): Promise<ShardSet> => {
    if (!shardSet?.healthy) {
      shardSet?.close();
      shardSet = await ShardSet.connect(servingShards(state), 5_000);
    }
    return shardSet;
  };
  const deps = { state, pool, shards, config, logger, images: new ImageWriter(state.uploads) };
  const server = createSecurityServer(deps);
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const job = new NightlySync(deps);
  job.start();
  logger.info({ port }, 'findface-security API listening');
  return {
    close: async () => {
      await job.stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      shardSet?.close();
      await pool.end().catch(() => undefined);
    },
  };
}
