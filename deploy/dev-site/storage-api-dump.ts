/**
 * `findface-storage-api-dump` for the dev site: every gallery registered on the listed shards is written
 * to `<outputDir>/<gallery>.json`, one JSON line per record (storage-api-lua.ts), the records of shard 0
 * in ascending id order, then shard 1's, and so on. A file is written under a temporary name and renamed
 * when complete, so a dump that fails leaves no partial `<gallery>.json`.
 */
import { mkdirSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ValidationError } from '../../shared/errors.js';
import { GALLERY_BATCH_LUA } from '../../shared/tarantool/gallery-lua.js';
import { LONG_REQUEST_MS, type ShardGallery, type StorageShard, type StorageShards } from './storage-api-shards.js';

/** Records per iproto request. */
const DUMP_PAGE = 2_000;

/** What was written for one gallery. */
export interface DumpedGallery {
  gallery: string;
  file: string;
  /** Records by shard, in the config's order (0 where the shard lacks the gallery). */
  records: number[];
}

/** Dumps every gallery; `say` gets one line per gallery written. */
export async function dumpGalleries(shards: StorageShards, outputDir: string, say: (line: string) => void): Promise<DumpedGallery[]> {
  mkdirSync(outputDir, { recursive: true });
  const perShard = await shards.galleries();
  const names = [...new Set(perShard.flat().map((g) => g.name))].sort();
  const out: DumpedGallery[] = [];
  for (const gallery of names) {
    // A gallery name becomes a file name: nothing but what FindFace's gallery names are made of.
    if (!/^[A-Za-z0-9_.-]+$/.test(gallery) || gallery.startsWith('.')) throw new ValidationError(`gallery '${gallery}' cannot be dumped: its name is no file name`);
    const dumped = await dumpGallery(shards, gallery, perShard, outputDir);
    const split = dumped.records.map((n, i) => `${shards.shards[i]?.shard.name ?? i} ${n}`).join(', ');
    say(`${gallery}: ${dumped.records.reduce((a, b) => a + b, 0)} records (${split}) → ${dumped.file}`);
    out.push(dumped);
  }
  return out;
}

async function dumpGallery(shards: StorageShards, gallery: string, perShard: ShardGallery[][], outputDir: string): Promise<DumpedGallery> {
  const file = path.join(outputDir, `${gallery}.json`);
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  const records: number[] = [];
  try {
    for (let i = 0; i < shards.shards.length; i++) {
      const has = perShard[i]?.some((g) => g.name === gallery) ?? false;
      records.push(has ? await dumpShard(shards, i, gallery, (chunk) => fh.write(chunk).then(() => undefined)) : 0);
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
  return { gallery, file, records };
}

/** Writes one shard's records of the gallery, page by page; returns how many. */
async function dumpShard(shards: StorageShards, index: number, gallery: string, write: (chunk: Buffer) => Promise<void>): Promise<number> {
  const { client } = shards.shards[index] as StorageShard;
  let after: string | null = null;
  let total = 0;
  for (;;) {
    const [b64, last, n] = (await client.eval(GALLERY_BATCH_LUA, [gallery, after, DUMP_PAGE], { timeoutMs: LONG_REQUEST_MS })) as [string, string | null, number];
    if (n === 0) return total;
    await write(Buffer.concat([Buffer.from(b64, 'base64'), Buffer.from('\n')]));
    total += n;
    if (n < DUMP_PAGE || last === null) return total;
    after = last;
  }
}
