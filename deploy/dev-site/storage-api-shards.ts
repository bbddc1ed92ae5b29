/**
 * The shards the storage-api tools work on, as FindFace's own tools find them: the sf-api config's
 * `storage-api.shards[].master` URLs in order, each resolved to the site's Tarantool shard whose instance
 * file has that `FindFace.start` HTTP port (as the sf-api stand-in does, sfapi.ts) and reached over iproto.
 * A record's shard is its position `id % N` in this list.
 */
import { readFileSync } from 'node:fs';
import { describeError, NotFoundError, UnavailableError, ValidationError } from '../../shared/errors.js';
import { parseSfApiConfig, portOfUrl } from '../../shared/findface/sf-api-ini.js';
import { TarantoolClient } from '../../shared/tarantool/iproto.js';
import { instanceShards, shardAtUrl } from './instances.js';
import { shardIndexOf, type ShardState, type SiteState } from './state.js';
import { LIST_GALLERIES_LUA } from '../../shared/tarantool/gallery-lua.js';

/** One listed shard: its URL in the config, the site's shard behind it, a connection to it. */
export interface StorageShard {
  master: string;
  shard: ShardState;
  client: TarantoolClient;
}

/** A gallery as one shard's `ffk_galleries` registry describes it. */
export interface ShardGallery {
  name: string;
  model: string;
  dim: number;
  count: number;
}

/** Requests that read or write a whole batch of a large gallery may take a while. */
export const LONG_REQUEST_MS = 300_000;

export class StorageShards {
  private constructor(readonly shards: readonly StorageShard[]) {}

  /** Reads the config, resolves every listed shard and connects to each; fails naming the URL or shard. */
  static open(state: SiteState, configFile: string): Promise<StorageShards> {
    return StorageShards.openMasters(state, readConfigShards(configFile), configFile);
  }

  /** Resolves and connects the shards at these URLs (`configFile` names where they were listed). */
  static async openMasters(state: SiteState, masters: readonly string[], configFile: string): Promise<StorageShards> {
    const known = instanceShards(state);
    const resolved = masters.map((master) => {
      const shard = shardAtUrl(known, master);
      if (!shard) {
        throw new ValidationError(`storage-api shard ${master} (${configFile}): no Tarantool instance file of dev site '${state.site}' has FindFace.start port ${portOfUrl(master)}`, { field: 'storage-api.shards' });
      }
      return { master, shard };
    });
    const opened: StorageShard[] = [];
    try {
      for (const { master, shard } of resolved) {
        const client = await TarantoolClient.connect({ port: shard.port, timeoutMs: 10_000 }).catch((err: unknown) => {
          throw new UnavailableError(`storage-api shard ${master} (${shard.name}, iproto port ${shard.port}) does not answer: ${describeError(err)}`, { cause: err });
        });
        opened.push({ master, shard, client });
      }
    } catch (err) {
      for (const s of opened) s.client.close();
      throw err;
    }
    return new StorageShards(opened);
  }

  /** Index of the shard holding record `id` (the dev site's rule, over the config's order). */
  shardOf(id: bigint): number {
    const n = this.shards.length;
    return id <= BigInt(Number.MAX_SAFE_INTEGER) ? shardIndexOf(Number(id), n) : Number(id % BigInt(n));
  }

  /** The galleries registered on each shard, in the config's order. */
  async galleries(): Promise<ShardGallery[][]> {
    return Promise.all(this.shards.map(async (s) => (await s.client.eval(LIST_GALLERIES_LUA))[0] as ShardGallery[]));
  }

  /** `shard-001 (http://127.0.0.1:8101/v2/)`: how messages name a shard. */
  label(index: number): string {
    const s = this.shards[index];
    return s ? `${s.shard.name} (${s.master})` : `shard #${index}`;
  }

  close(): void {
    for (const s of this.shards) s.client.close();
  }
}

function readConfigShards(configFile: string): string[] {
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (err) {
    throw new NotFoundError(`cannot read the sf-api config ${configFile}: ${describeError(err)}`, { cause: err });
  }
  return parseSfApiConfig(text, configFile).shards;
}
