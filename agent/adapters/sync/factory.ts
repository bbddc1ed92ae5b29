/** What this agent can do for sync links, from its components (see agent/domain/sync/manager.ts). */
import path from 'node:path';
import type { AgentConfig } from '../../../shared/config/agent.js';
import type { InspectDeps } from '../../domain/sync/inspect.js';
import type { SyncResources } from '../../domain/sync/manager.js';
import { FsFilesAccess, uploadRoots } from './fs-files.js';
import { PgChangeSource } from './pg-capture.js';
import { PgRowsTarget } from './pg-apply.js';
import { PgListAccess } from './pg-list.js';
import { FileAppliedFiles } from './applied-files.js';
import { FilePositionStore } from './position-file.js';
import { IprotoRecordsAccess } from './tnt-records.js';
import { FsSecurityConfigFile, HttpSecuritySyncApi } from './security-api.js';
import type { NativeSyncDeps, UnitRestarter } from '../../domain/sync/native.js';
import type { Logger } from '../../../shared/logger.js';

export function syncResources(config: AgentConfig): SyncResources & InspectDeps {
  const pg = config.components.find((c) => c.kind === 'postgres');
  const shards = config.components.flatMap((c) => (c.kind === 'tarantool' ? [c] : []));
  const uploads = config.components.find((c) => c.kind === 'uploads');
  const dir = path.join(config.cacheDir, 'sync');
  const out: SyncResources & InspectDeps = { positions: new FilePositionStore(path.join(dir, 'positions')), applied: new FileAppliedFiles(path.join(dir, 'applied-files')) };
  if (pg) {
    const endpoint = { host: pg.host, port: pg.port, user: pg.user, ...(pg.password === undefined ? {} : { password: pg.password }) };
    out.changeSource = (onNotify) => new PgChangeSource(endpoint, pg.database, onNotify);
    out.rowsTarget = () => new PgRowsTarget(endpoint, pg.database);
    out.rows = () => new PgListAccess(endpoint, pg.database);
  }
  if (shards.length > 0) {
    const endpoints = shards.map((s) => ({ host: s.host, port: s.port, ...(s.user === undefined ? {} : { user: s.user }), ...(s.password === undefined ? {} : { password: s.password }) }));
    out.records = () => new IprotoRecordsAccess(endpoints);
  }
  if (uploads) {
    const roots = uploadRoots(uploads.paths);
    out.files = () => new FsFilesAccess(roots);
  }
  return out;
}

/** What the native sync needs when this host runs findface-security (`findfaceSecurity` configured). */
export function nativeSyncDeps(config: AgentConfig, services: UnitRestarter, logger: Logger): NativeSyncDeps | undefined {
  const ff = config.findfaceSecurity;
  if (!ff) return undefined;
  return { config: new FsSecurityConfigFile(ff.configPath), api: new HttpSecuritySyncApi(ff.url), services, unit: ff.unit, logger };
}
