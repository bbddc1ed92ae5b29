/**
 * Where each of this host's shards stands among the site's shards: its position in findface-sf-api.ini's
 * `storage-api.shards` list (the storage-api at the shard's HTTP port), which decides the shard of a
 * record when findface-storage-api-restore loads a gallery file (a snapshot import places records so).
 * Read when asked: the file may change between imports.
 */
import { readFile } from 'node:fs/promises';
import { NotFoundError, ValidationError } from '../../../shared/errors.js';
import type { AgentConfig } from '../../../shared/config/agent.js';
import { parseSfApiConfig, portOfUrl } from '../../../shared/findface/sf-api-ini.js';

export type ShardPlacement = Map<string, { index: number; of: number }>;

/** Reads the sf-api config of this host's agent config and places every Tarantool component in it. */
export async function shardPlacement(config: Pick<AgentConfig, 'components'>): Promise<ShardPlacement> {
  const sfApi = config.components.find((c) => c.kind === 'sf-api');
  const shards = config.components.flatMap((c) => (c.kind === 'tarantool' ? [c] : []));
  if (shards.length === 0) return new Map();
  if (!sfApi || sfApi.kind !== 'sf-api') {
    throw new ValidationError("this agent has no 'sf-api' component: the order of the site's shards (findface-sf-api.ini) is unknown", { field: 'components' });
  }
  const text = await readFile(sfApi.configPath, 'utf8').catch((err: unknown) => {
    throw new NotFoundError(`${sfApi.configPath} (findface-sf-api's config) cannot be read: ${(err as Error).message}`, { cause: err });
  });
  const list = parseSfApiConfig(text, sfApi.configPath).shards.map(portOfUrl);
  const out: ShardPlacement = new Map();
  for (const s of shards) {
    const index = s.httpPort === undefined ? -1 : list.indexOf(s.httpPort);
    if (index >= 0) out.set(`tarantool:${s.name}`, { index, of: list.length });
  }
  return out;
}
