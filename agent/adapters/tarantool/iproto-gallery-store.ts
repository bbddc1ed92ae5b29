/**
 * `IprotoGalleryStore`: the `GalleryStore` port over iproto — gallery listing, batched export of
 * records as canonical JSON lines, idempotent batched import with its progress marker kept in the
 * shard (same transaction as the records), and per-gallery digests computed in Lua.
 */
import { ConflictError, ValidationError } from '../../../shared/errors.js';
import { GALLERY_BATCH_LUA, LIST_GALLERIES_LUA } from '../../../shared/tarantool/gallery-lua.js';
import { TarantoolError } from '../../../shared/tarantool/iproto.js';
import type {
  ExportBatch,
  GalleryDigest,
  GalleryInfo,
  GalleryStore,
  ImportProgress,
} from '../../domain/drivers/tarantool/ports.js';
import { Reply, ShardConnection, type ShardEndpoint } from './connection.js';
import {
  LUA_CLEAR_PROGRESS,
  LUA_DIGEST,
  LUA_ENSURE_GALLERY,
  LUA_IMPORT_BATCH,
  LUA_DELETE_KEYS,
  LUA_KEYS_AFTER,
  LUA_MAX_KEY,
  LUA_MIGRATE_BATCH,
  LUA_MISSING_KEYS,
  LUA_READ_MIGRATION,
  LUA_READ_PROGRESS,
  LUA_REPLACE_BATCH,
  LUA_TRUNCATE_GALLERY,
} from './lua.js';

/** Batches and digests of large galleries take a while; allow more than the default per request. */
const LONG_REQUEST_MS = 300_000;

export class IprotoGalleryStore implements GalleryStore {
  readonly address: string;
  private readonly conn: ShardConnection;

  constructor(endpoint: ShardEndpoint) {
    this.conn = new ShardConnection(endpoint);
    this.address = this.conn.address;
  }

  async listGalleries(): Promise<GalleryInfo[]> {
    const r = new Reply(this.address, 'list galleries');
    const [raw] = await this.conn.eval(LIST_GALLERIES_LUA);
    return r.arr(raw).map((g, i) => {
      const o = r.obj(g, `galleries[${i}]`);
      return { name: r.str(o.name, 'name'), model: r.str(o.model, 'model'), dim: r.num(o.dim, 'dim'), count: r.num(o.count, 'count') };
    });
  }

  async exportBatch(gallery: string, afterKey: string | undefined, limit: number): Promise<ExportBatch> {
    const r = new Reply(this.address, `export of gallery '${gallery}'`);
    const [b64, last, n] = await this.conn.eval(GALLERY_BATCH_LUA, [gallery, afterKey ?? null, limit], { timeoutMs: LONG_REQUEST_MS });
    const count = r.num(n, 'count');
    if (count === 0) return { lines: [], lastKey: undefined };
    const lines = splitLines(Buffer.from(r.str(b64, 'lines'), 'base64'));
    if (lines.length !== count) r.fail('line count', `${lines.length} lines, ${count} expected`);
    return { lines, lastKey: r.str(last, 'last key') };
  }

  async ensureGallery(gallery: { name: string; model: string; dim: number }): Promise<void> {
    try {
      await this.conn.eval(LUA_ENSURE_GALLERY, [gallery.name, gallery.model, gallery.dim]);
    } catch (err) {
      if (err instanceof TarantoolError && err.serverMessage.includes('holds vectors of model')) {
        throw new ValidationError(`tarantool ${this.address}: ${err.serverMessage}`, { cause: err, field: 'model' });
      }
      throw err;
    }
  }

  async readProgress(exportId: string): Promise<ImportProgress> {
    const r = new Reply(this.address, 'import progress');
    const [raw] = await this.conn.eval(LUA_READ_PROGRESS, [exportId]);
    const out: ImportProgress = {};
    for (const [gallery, v] of Object.entries(r.obj(raw))) {
      const o = r.obj(v, gallery);
      out[gallery] = { linesDone: r.num(o.lines, 'lines'), finished: r.bool(o.finished, 'finished') };
    }
    return out;
  }

  async importBatch(request: { exportId: string; gallery: string; linesDoneBefore: number; lines: Buffer[]; finished: boolean }): Promise<void> {
    const { exportId, gallery, linesDoneBefore, lines, finished } = request;
    try {
      await this.conn.eval(LUA_IMPORT_BATCH, [exportId, gallery, linesDoneBefore, lines, finished], { timeoutMs: LONG_REQUEST_MS });
    } catch (err) {
      if (err instanceof TarantoolError && err.serverMessage.includes('another import running')) {
        throw new ConflictError(`tarantool ${this.address}: ${err.serverMessage}`, { cause: err });
      }
      if (err instanceof TarantoolError && / line \d+/.test(err.serverMessage)) {
        throw new ValidationError(`tarantool ${this.address}: ${err.serverMessage}`, { cause: err });
      }
      throw err;
    }
  }

  async clearProgress(exportId: string): Promise<void> {
    await this.conn.eval(LUA_CLEAR_PROGRESS, [exportId]);
  }

  async truncate(gallery: string): Promise<number> {
    const [n] = await this.conn.eval(LUA_TRUNCATE_GALLERY, [gallery], { timeoutMs: LONG_REQUEST_MS });
    return new Reply(this.address, 'truncate gallery').num(n, 'records');
  }

  async replaceBatch(gallery: string, lines: Buffer[]): Promise<number> {
    try {
      const [n] = await this.conn.eval(LUA_REPLACE_BATCH, [gallery, lines], { timeoutMs: LONG_REQUEST_MS });
      return new Reply(this.address, 'replace batch').num(n, 'records');
    } catch (err) {
      if (err instanceof TarantoolError && (/ line \d+/.test(err.serverMessage) || err.serverMessage.includes('does not exist on this shard'))) {
        throw new ValidationError(`tarantool ${this.address}: ${err.serverMessage}`, { cause: err });
      }
      throw err;
    }
  }

  async digest(galleries?: readonly string[]): Promise<Record<string, GalleryDigest>> {
    const r = new Reply(this.address, 'gallery digest');
    const [raw] = await this.conn.eval(LUA_DIGEST, [galleries ? [...galleries] : null], { timeoutMs: LONG_REQUEST_MS });
    const out: Record<string, GalleryDigest> = {};
    for (const [name, v] of Object.entries(r.obj(raw))) {
      const o = r.obj(v, name);
      out[name] = { count: r.num(o.count, 'count'), sha256: r.str(o.sha256, 'sha256') };
    }
    return out;
  }

  /**
   * A model migration's batch into this (new) shard: the records, the faces that failed and the gallery's
   * new cursor in one transaction. ConflictError when the stored cursor is not `cursorBefore`.
   */
  async migrateBatch(b: { migration: string; gallery: string; cursorBefore: string; cursorAfter: string; lines: Buffer[]; failed: { id: string; reason: string }[]; done: boolean }): Promise<number> {
    try {
      const [n] = await this.conn.eval(LUA_MIGRATE_BATCH, [b.migration, b.gallery, b.cursorBefore, b.cursorAfter, b.lines, b.failed.map((f) => [f.id, f.reason]), b.done], { timeoutMs: LONG_REQUEST_MS });
      return new Reply(this.address, 'migration batch').num(n, 'records');
    } catch (err) {
      if (err instanceof TarantoolError && err.serverMessage.includes('another batch running')) throw new ConflictError(`tarantool ${this.address}: ${err.serverMessage}`, { cause: err });
      if (err instanceof TarantoolError && (/ line \d+/.test(err.serverMessage) || err.serverMessage.includes('does not exist on this shard'))) {
        throw new ValidationError(`tarantool ${this.address}: ${err.serverMessage}`, { cause: err });
      }
      throw err;
    }
  }

  /** Up to `limit` primary keys of a gallery (decimal text), in order, after `afterKey`. */
  async keysAfter(gallery: string, afterKey: string | undefined, limit: number): Promise<string[]> {
    const [raw] = await this.conn.eval(LUA_KEYS_AFTER, [gallery, afterKey ?? null, limit], { timeoutMs: LONG_REQUEST_MS });
    const r = new Reply(this.address, `keys of gallery '${gallery}'`);
    return r.arr(raw).map((k, i) => r.str(k, `keys[${i}]`));
  }

  async maxKey(gallery: string): Promise<string | undefined> {
    const [k] = await this.conn.eval(LUA_MAX_KEY, [gallery]);
    return k === null || k === undefined ? undefined : new Reply(this.address, `last key of gallery '${gallery}'`).str(k, 'key');
  }

  /** The keys of `keys` this gallery does not hold. */
  async missingKeys(gallery: string, keys: readonly string[]): Promise<string[]> {
    const [raw] = await this.conn.eval(LUA_MISSING_KEYS, [gallery, [...keys]], { timeoutMs: LONG_REQUEST_MS });
    const r = new Reply(this.address, `keys of gallery '${gallery}'`);
    return r.arr(raw).map((k, i) => r.str(k, `missing[${i}]`));
  }

  /** Deletes these records (one transaction); returns how many there were. */
  async deleteKeys(gallery: string, keys: readonly string[]): Promise<number> {
    const [n] = await this.conn.eval(LUA_DELETE_KEYS, [gallery, [...keys]], { timeoutMs: LONG_REQUEST_MS });
    return new Reply(this.address, `delete from gallery '${gallery}'`).num(n, 'deleted');
  }

  /** What this (new) shard keeps of a migration: each gallery's cursor and counts, and up to `maxFailed` failed faces. */
  async readMigration(migration: string, maxFailed: number): Promise<{ galleries: Record<string, { cursor: string; written: number; failed: number; done: boolean }>; failed: { gallery: string; id: string; reason: string }[] }> {
    const r = new Reply(this.address, 'migration progress');
    const [raw] = await this.conn.eval(LUA_READ_MIGRATION, [migration, maxFailed]);
    const o = r.obj(raw);
    const galleries: Record<string, { cursor: string; written: number; failed: number; done: boolean }> = {};
    for (const [name, v] of Object.entries(r.obj(o.galleries, 'galleries'))) {
      const g = r.obj(v, name);
      galleries[name] = { cursor: r.str(g.cursor, 'cursor'), written: r.num(g.written, 'written'), failed: r.num(g.failed, 'failed'), done: r.bool(g.done, 'done') };
    }
    const failed = (Array.isArray(o.failed) ? o.failed : []).map((f, i) => {
      const x = r.obj(f, `failed[${i}]`);
      return { gallery: r.str(x.gallery, 'gallery'), id: r.str(x.id, 'id'), reason: r.str(x.reason, 'reason') };
    });
    return { galleries, failed };
  }

  async close(): Promise<void> {
    this.conn.close();
  }
}

/** Splits on '\n' (JSON lines never contain a raw newline). */
function splitLines(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) {
      out.push(buf.subarray(start));
      return out;
    }
    out.push(buf.subarray(start, nl));
    start = nl + 1;
  }
}
