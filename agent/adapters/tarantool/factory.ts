/**
 * Wires a Tarantool shard driver from its agent config entry: iproto admin and gallery store on the
 * shard's `host:port` (with its credentials), the filesystem side of restores, and the host's
 * ServiceManager for the shard's unit.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { ComponentConfig } from '../../../shared/config/agent.js';
import type { Logger } from '../../../shared/logger.js';
import { TarantoolShardDriver, type TarantoolTimings } from '../../domain/drivers/tarantool/driver.js';
import type { ServiceManager } from '../../domain/ports.js';
import type { ShardEndpoint } from './connection.js';
import { FsShardFiles } from './fs-shard-files.js';
import { IprotoGalleryStore } from './iproto-gallery-store.js';
import { IprotoShardAdmin } from './iproto-shard-admin.js';
import { SpawnedScratchInstances } from './scratch-instances.js';

export type TarantoolComponentConfig = Extract<ComponentConfig, { kind: 'tarantool' }>;

/** iproto endpoint of a configured shard. */
export function shardEndpoint(config: TarantoolComponentConfig, timeoutMs?: number): ShardEndpoint {
  return {
    host: config.host,
    port: config.port,
    ...(config.user === undefined ? {} : { user: config.user }),
    ...(config.password === undefined ? {} : { password: config.password }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
}

/** Resolves symlinks; a directory that does not exist resolves to its absolute path. */
async function resolveDir(dir: string): Promise<string> {
  try {
    return await realpath(dir);
  } catch {
    return path.resolve(dir);
  }
}

/** The driver of one configured shard. Close it with `driver.close()`. */
export function createTarantoolDriver(
  config: TarantoolComponentConfig,
  deps: { services: ServiceManager; logger: Logger; timings?: Partial<TarantoolTimings>; env?: NodeJS.ProcessEnv },
): TarantoolShardDriver {
  const endpoint = shardEndpoint(config);
  return new TarantoolShardDriver(
    { name: config.name, unit: config.unit, memtxDir: config.memtxDir, walDir: config.walDir, ...(config.vinylDir ? { vinylDir: config.vinylDir } : {}) },
    {
      admin: new IprotoShardAdmin(endpoint),
      galleries: new IprotoGalleryStore(endpoint),
      sandboxGalleries: (host, port) => new IprotoGalleryStore({ ...endpoint, host, port }),
      files: new FsShardFiles(),
      services: deps.services,
      logger: deps.logger,
      realpath: resolveDir,
      ...(deps.timings ? { timings: deps.timings } : {}),
      scratch: new SpawnedScratchInstances({
        ...(config.user === undefined ? {} : { user: config.user }),
        ...(config.password === undefined ? {} : { password: config.password }),
        ...(deps.env ? { env: deps.env } : {}),
      }),
      ...(config.sandboxInitLua ? { sandboxInitLua: config.sandboxInitLua } : {}),
    },
  );
}

/** A gallery store (logical export/import, digests) on a configured shard. Close it when done. */
export function createGalleryStore(config: TarantoolComponentConfig): IprotoGalleryStore {
  return new IprotoGalleryStore(shardEndpoint(config));
}
