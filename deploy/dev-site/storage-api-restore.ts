/**
 * `findface-storage-api-restore` for the dev site: each `<gallery>.json` file (one JSON record per line,
 * as the dump writes it) is loaded into the gallery its base name names, every record upserted
 * (`replace`) on the shard `id % N` of the config's list, in batches of lines.
 *
 * Resumable. Each shard keeps, per gallery, how many lines of the file it has taken and the SHA-256 of
 * those lines (storage-api-lua.ts), moved in the same transaction as the batch's records. A run first
 * reads every shard's progress and hashes the file's first lines: a shard whose stored hash matches takes
 * only the lines after its point, any other starts from line 1 (upserts make redoing lines harmless). So
 * an interrupted run (killed, a shard down, a broken line) resumes when launched again with the same
 * file, or with one whose tail was fixed. A run that restores all its files forgets their progress at
 * the end, so a later restore of the same files (into emptied galleries, say) loads them in full.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { ConflictError, describeError, InternalError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { TarantoolError } from '../../shared/tarantool/iproto.js';
import { CLEAR_PROGRESS_LUA, READ_PROGRESS_LUA, RESTORE_BATCH_LUA } from './storage-api-lua.js';
import { LONG_REQUEST_MS, type ShardGallery, type StorageShards } from './storage-api-shards.js';

/** Lines per batch unless told otherwise. */
export const DEFAULT_BATCH_LINES = 1_000;

/** A shard's progress on a gallery: lines of the file taken and the SHA-256 of those lines. */
interface Progress {
  lines: number;
  sha256: string;
}

/** One line of a file: `raw` with its '\n' (what the progress hash covers), `text` without. */
interface FileLine {
  no: number;
  raw: Buffer;
  text: Buffer;
}

/** What a run did with one file. */
export interface RestoredFile {
  file: string;
  gallery: string;
  lines: number;
  /** Records sent to the shards by this run. */
  restored: number;
  /** Records an interrupted run had restored already, skipped. */
  skipped: number;
}

/** A file to restore and its gallery as each shard (in the config's order) has it. */
interface PlannedFile {
  file: string;
  gallery: string;
  onShards: ShardGallery[];
}

/** What restoring any file needs: the shards, the batch size, where progress lines go. */
export interface RestoreContext {
  shards: StorageShards;
  batchLines: number;
  say: (line: string) => void;
}

/** Restores every file (all checked first); `say` gets a line per file (and per resumed file). */
export async function restoreFiles(ctx: RestoreContext, files: readonly string[]): Promise<RestoredFile[]> {
  const plan = await planRestore(ctx.shards, files);
  const out: RestoredFile[] = [];
  for (const item of plan) {
    const r = await restoreFile(ctx, item);
    ctx.say(`${r.file} → ${r.gallery}: ${r.restored} records restored${r.skipped > 0 ? `, ${r.skipped} skipped (restored by an interrupted run)` : ''}`);
    out.push(r);
  }
  // Every file is in: the next run of these files is a new restore, not a resumption.
  for (const { gallery } of plan) await Promise.all(ctx.shards.shards.map((s) => s.client.eval(CLEAR_PROGRESS_LUA, [gallery])));
  return out;
}

/** Each file readable, named `<gallery>.json`, one file per gallery, the gallery on every shard. */
async function planRestore(shards: StorageShards, files: readonly string[]): Promise<PlannedFile[]> {
  const named = files.map((file) => {
    try {
      if (!statSync(file).isFile()) throw new Error('not a regular file');
      accessSync(file, constants.R_OK);
    } catch (err) {
      throw new NotFoundError(`cannot read ${file}: ${describeError(err)}`, { cause: err });
    }
    if (path.extname(file) !== '.json') throw new ValidationError(`${file}: not a <gallery>.json file of a storage-api dump (the base name names the gallery)`);
    return { file, gallery: path.basename(file, '.json') };
  });
  for (const [i, p] of named.entries()) {
    const other = named.findIndex((q) => q.gallery === p.gallery);
    if (other !== i) throw new ValidationError(`${named[other]?.file} and ${p.file} both restore gallery '${p.gallery}': give one file per gallery`);
  }
  const registered = await shards.galleries();
  return named.map(({ file, gallery }) => {
    const onShards = registered.map((list) => list.find((g) => g.name === gallery));
    const missing = onShards.findIndex((g) => g === undefined);
    if (missing >= 0) throw new NotFoundError(`gallery '${gallery}' (${file}) does not exist on ${shards.label(missing)}: create the site's galleries first`);
    return { file, gallery, onShards: onShards as ShardGallery[] };
  });
}

async function restoreFile(ctx: RestoreContext, item: PlannedFile): Promise<RestoredFile> {
  const { shards } = ctx;
  const { file, gallery } = item;
  const prev = await Promise.all(shards.shards.map(async (s) => ((await s.client.eval(READ_PROGRESS_LUA, [gallery]))[0] ?? undefined) as Progress | undefined));
  const start = await resumePoints(file, prev);
  if (start.some((n) => n > 0)) ctx.say(`${file}: resuming (${start.map((n, i) => `${shards.shards[i]?.shard.name} after line ${n}`).join(', ')})`);
  const outcome: RestoredFile = { file, gallery, lines: 0, restored: 0, skipped: 0 };
  const hash = createHash('sha256');
  let batch: FileLine[] = [];
  const flush = async (): Promise<void> => {
    const done = { lines: outcome.lines, sha256: hash.copy().digest('hex') };
    const sent = await sendBatch({ shards, file, gallery, batch, start, prev, done, galleries: item.onShards });
    outcome.restored += sent;
    outcome.skipped += batch.filter((l) => l.text.length > 0).length - sent;
    batch = [];
  };
  for await (const line of linesOf(file)) {
    hash.update(line.raw);
    outcome.lines = line.no;
    batch.push(line);
    if (batch.length >= ctx.batchLines) await flush();
  }
  if (batch.length > 0) await flush();
  return outcome;
}

/**
 * Where each shard resumes: after its stored line count when the file's first lines still hash to what
 * it stored, else from the start.
 */
async function resumePoints(file: string, prev: ReadonlyArray<Progress | undefined>): Promise<number[]> {
  const wanted = new Set(prev.flatMap((p) => (p && p.lines > 0 ? [p.lines] : [])));
  const seen = new Map<number, string>();
  if (wanted.size > 0) {
    const hash = createHash('sha256');
    for await (const line of linesOf(file)) {
      hash.update(line.raw);
      if (wanted.has(line.no)) seen.set(line.no, hash.copy().digest('hex'));
      if (seen.size === wanted.size) break;
    }
  }
  return prev.map((p) => (p && seen.get(p.lines) === p.sha256 ? p.lines : 0));
}

interface BatchRequest {
  shards: StorageShards;
  file: string;
  gallery: string;
  batch: readonly FileLine[];
  /** Per shard: lines it had taken before this run (those are not sent again). */
  start: readonly number[];
  /** Per shard: its stored progress; advanced here as batches commit. */
  prev: Array<Progress | undefined>;
  /** The progress every shard reaches with this batch. */
  done: Progress;
  /** The gallery as each shard has it (its model and dimension). */
  galleries: readonly ShardGallery[];
}

/** Sends each shard its lines of the batch (those after its start) with the new progress; returns records sent. */
async function sendBatch(req: BatchRequest): Promise<number> {
  const { shards, file, gallery, batch, start, prev, done } = req;
  const todo = shards.shards.map((_, i) => (start[i] ?? 0) < done.lines);
  if (!todo.some(Boolean)) return 0;
  const entries: Array<Array<[number, Buffer]>> = shards.shards.map(() => []);
  for (const line of batch) {
    if (line.text.length === 0) continue;
    const { id, featBytes } = parseLine(line, file);
    const i = shards.shardOf(id);
    if (line.no <= (start[i] ?? 0)) continue;
    const g = req.galleries[i] as ShardGallery;
    if (featBytes !== g.dim * 4) {
      throw new ValidationError(`${file} line ${line.no} (id ${id}): vector of ${featBytes} bytes, gallery '${gallery}' (model '${g.model}', ${g.dim}-dim) on ${shards.label(i)} expects ${g.dim * 4}`);
    }
    (entries[i] as Array<[number, Buffer]>).push([line.no, line.text]);
  }
  const results = await Promise.allSettled(
    shards.shards.map(async (s, i) => {
      if (!todo[i]) return;
      await s.client.eval(RESTORE_BATCH_LUA, [gallery, file, entries[i], prev[i] ?? null, done.lines, done.sha256], { timeoutMs: LONG_REQUEST_MS });
      prev[i] = done;
    }),
  );
  const failed = results.findIndex((r) => r.status === 'rejected');
  if (failed >= 0) throw restoreError((results[failed] as PromiseRejectedResult).reason, shards.label(failed), file);
  return entries.reduce((sum, e, i) => sum + (todo[i] ? e.length : 0), 0);
}

const ID_AT_START = /^\{"id":(\d+)[,}]/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Checks a line as the shard will (so a bad line stops the batch before any shard takes it): a JSON
 * object with an unsigned `id`, a base64 `feat`, a string `norm`, an object `meta` (or none). Returns
 * the id, exact even beyond 2^53, and the vector's size in bytes.
 */
function parseLine(line: FileLine, file: string): { id: bigint; featBytes: number } {
  const where = `${file} line ${line.no}`;
  let r: unknown;
  try {
    r = JSON.parse(line.text.toString('utf8'));
  } catch (err) {
    throw new ValidationError(`${where}: not a JSON record: ${describeError(err)}`, { cause: err });
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new ValidationError(`${where}: not a JSON record (an object per line)`);
  const rec = r as Record<string, unknown>;
  const m = ID_AT_START.exec(line.text.subarray(0, 40).toString('latin1'));
  const id = m ? BigInt(m[1] as string) : typeof rec.id === 'number' && Number.isSafeInteger(rec.id) && rec.id >= 0 ? BigInt(rec.id) : undefined;
  if (id === undefined) throw new ValidationError(`${where}: id ${JSON.stringify(rec.id)} is not an unsigned integer`);
  const what = `${where} (id ${id})`;
  if (typeof rec.feat !== 'string' || !BASE64.test(rec.feat)) throw new ValidationError(`${what}: feat is not a base64 string`);
  if (typeof rec.norm !== 'string') throw new ValidationError(`${what}: norm is not a string`);
  if (rec.meta != null && (typeof rec.meta !== 'object' || Array.isArray(rec.meta))) throw new ValidationError(`${what}: meta is not an object`);
  return { id, featBytes: Buffer.byteLength(rec.feat, 'base64') };
}

function restoreError(err: unknown, shard: string, file: string): Error {
  if (!(err instanceof TarantoolError)) return err instanceof Error ? err : new Error(String(err));
  const detail = `${err.serverMessage} (on ${shard})`;
  if (/another restore running/.test(err.serverMessage)) return new ConflictError(detail, { cause: err });
  if (err.serverMessage.startsWith(`${file} line `)) return new ValidationError(detail, { cause: err });
  return new InternalError(`restore of ${file} on ${shard}: ${err.serverMessage}`, { cause: err });
}

/** The file's lines, split on '\n' (the last one may lack it), numbered from 1. */
async function* linesOf(file: string): AsyncGenerator<FileLine> {
  let carry: Buffer = Buffer.alloc(0);
  let no = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    let from = 0;
    for (let nl = buf.indexOf(0x0a, from); nl >= 0; nl = buf.indexOf(0x0a, from)) {
      yield { no: ++no, raw: buf.subarray(from, nl + 1), text: buf.subarray(from, nl) };
      from = nl + 1;
    }
    carry = Buffer.from(buf.subarray(from));
  }
  if (carry.length > 0) yield { no: ++no, raw: carry, text: carry };
}
