/**
 * A connection to every shard of a site and the gallery operations the writer, loader and checker
 * need: records are routed to shard `id % N`; batches are split per shard and sent in parallel.
 */
import { TarantoolClient } from '../../shared/tarantool/iproto.js';
import { shardIndexOf, type GalleryName, type ShardState } from './state.js';

/** One gallery record as the dev site writes it. */
export interface GalleryRecord {
  id: number;
  /** float32 vector bytes. */
  feat: Uint8Array;
  /** Normalized image id: its path inside the ffupload directory. */
  norm: string;
  meta: Record<string, string | number | boolean>;
}

/** What a gallery scan returns: ids in ascending order with their normalized-image ids. */
export interface ScanResult {
  ids: number[];
  norms: string[];
}

export interface GalleryInfo {
  name: string;
  model: string;
  dim: number;
  count: number;
}

const SCAN_PAGE = 50_000;

/** A record as RECORDS_LUA returns it: the vector base64-encoded (its bytes are no UTF-8 string). */
type RawRecord = [number, string, string, Record<string, string | number | boolean>];

/** Full records of the given ids on one shard, vectors in base64. */
const RECORDS_LUA = `
local name, ids = ...
local digest = require('digest')
local sp = box.space[name]
if sp == nil then error(string.format("gallery '%s' does not exist on this shard", tostring(name)), 0) end
local out = {}
for _, id in ipairs(ids) do
  local t = sp:get(id)
  if t ~= nil then out[#out + 1] = {t[1], digest.base64_encode(t[2], {nowrap = true}), t[3], t[4]} end
end
return out`;

export class ShardSet {
  private constructor(
    readonly shards: readonly ShardState[],
    private readonly clients: TarantoolClient[],
  ) {}

  static async connect(shards: readonly ShardState[], timeoutMs = 30_000): Promise<ShardSet> {
    const results = await Promise.allSettled(shards.map((s) => TarantoolClient.connect({ port: s.port, timeoutMs })));
    const clients = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const c of clients) c.close();
      throw failed.reason;
    }
    return new ShardSet(shards, clients);
  }

  /** The client of shard `index` (0-based). */
  client(index: number): TarantoolClient {
    const c = this.clients[index];
    if (!c) throw new RangeError(`no shard ${index}`);
    return c;
  }

  /** True while every connection is open. */
  get healthy(): boolean {
    return this.clients.every((c) => c.connected);
  }

  shardOf(id: number): number {
    return shardIndexOf(id, this.shards.length);
  }

  /** Inserts records, each on its shard; a shard's batch is all or nothing. */
  async insert(gallery: GalleryName, model: string, records: readonly GalleryRecord[]): Promise<void> {
    await Promise.all(
      this.split(records, (r) => r.id).map((batch, i) =>
        batch.length === 0 ? undefined : this.client(i).call('ffk_insert', [gallery, model, batch.map((r) => [r.id, r.feat, r.norm, r.meta])]),
      ),
    );
  }

  /** Deletes records by id, each on its shard; returns how many existed. */
  async delete(gallery: GalleryName, ids: readonly number[]): Promise<number> {
    const counts = await Promise.all(
      this.split(ids, (id) => id).map((batch, i) => (batch.length === 0 ? [0] : this.client(i).call('ffk_delete', [gallery, batch]))),
    );
    return counts.reduce((sum: number, r) => sum + Number(r[0]), 0);
  }

  /** All records of a gallery on shard `index`. */
  async scan(gallery: GalleryName, index: number): Promise<ScanResult> {
    const out: ScanResult = { ids: [], norms: [] };
    let after = -1;
    for (;;) {
      const [ids, norms] = (await this.client(index).call('ffk_scan', [gallery, after, SCAN_PAGE], { timeoutMs: 120_000 })) as [number[], string[]];
      for (let i = 0; i < ids.length; i++) {
        out.ids.push(ids[i] as number);
        out.norms.push(norms[i] as string);
      }
      if (ids.length < SCAN_PAGE) return out;
      after = ids[ids.length - 1] as number;
    }
  }

  /** Which of `ids` exist on shard `index`. */
  async get(gallery: GalleryName, index: number, ids: readonly number[]): Promise<ScanResult> {
    if (ids.length === 0) return { ids: [], norms: [] };
    const [found, norms] = (await this.client(index).call('ffk_get', [gallery, ids])) as [number[], string[]];
    return { ids: found, norms };
  }

  /** Full records of `ids` (each read from its shard); ids without a record are left out. */
  async records(gallery: GalleryName, ids: readonly number[]): Promise<GalleryRecord[]> {
    const found = await Promise.all(
      this.split(ids, (id) => id).map(async (batch, i) =>
        batch.length === 0 ? [] : ((await this.client(i).eval(RECORDS_LUA, [gallery, batch]))[0] as RawRecord[]),
      ),
    );
    return found.flat().map(([id, feat, norm, meta]) => ({ id, feat: new Uint8Array(Buffer.from(feat, 'base64')), norm, meta }));
  }

  /** Galleries of shard `index` with model, dimension and record count. */
  async galleries(index: number): Promise<GalleryInfo[]> {
    const [list] = (await this.client(index).call('ffk_galleries', [])) as [GalleryInfo[]];
    return list;
  }

  close(): void {
    for (const c of this.clients) c.close();
  }

  private split<T>(items: readonly T[], idOf: (item: T) => number): T[][] {
    const batches: T[][] = this.shards.map(() => []);
    for (const item of items) (batches[this.shardOf(idOf(item))] as T[]).push(item);
    return batches;
  }
}

/** A random unit-length float32 vector of `dim` dimensions, as bytes. */
export function randomVector(dim: number): Uint8Array {
  const v = new Float32Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    const x = Math.random() * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  for (let i = 0; i < dim; i++) v[i] = (v[i] as number) * scale;
  return new Uint8Array(v.buffer);
}
