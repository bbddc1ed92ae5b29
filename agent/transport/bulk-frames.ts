/**
 * Frames of the direct files channel between a link's files agents (agent/transport/bulk-files.ts).
 * The slave sends requests — `u32 length` then JSON `{ id, list, dossierId, root, rel }` — as many as it
 * likes without waiting; the master answers each, in any order, with `u32 id, u8 status, u32 length` and
 * `length` bytes: the file (ok), nothing (missing), or a UTF-8 reason (error, refused, too large: the
 * file is there but bigger than the channel sends whole, so the slave gets it another way). Id 0 is the
 * connection's own frame: the master's first frame says whether it serves this peer at all.
 */
import { ValidationError } from '../../shared/errors.js';
import type { FileRequest } from '../domain/sync/ports.js';

/** What the handshake offers and the frames speak; a slave that knows another version uses NATS. */
export const BULK_PROTOCOL = 1;
export const BULK_OK = 0;
export const BULK_MISSING = 1;
export const BULK_ERROR = 2;
export const BULK_REFUSED = 3;
export const BULK_TOO_LARGE = 4;
export type BulkStatus = typeof BULK_OK | typeof BULK_MISSING | typeof BULK_ERROR | typeof BULK_REFUSED | typeof BULK_TOO_LARGE;
/** The connection's own frame (hello or refusal). */
export const CONNECTION_ID = 0;
const REPLY_HEADER = 9;
/** A request is a few hundred bytes; anything near this is not one. */
const MAX_REQUEST = 64 * 1024;

export interface BulkRequest extends FileRequest {
  id: number;
  list: number;
}

export interface BulkReply {
  id: number;
  status: BulkStatus;
  payload: Buffer;
}

export function encodeRequest(r: BulkRequest): Buffer {
  const json = Buffer.from(JSON.stringify({ id: r.id, list: r.list, dossierId: r.dossierId, root: r.root, rel: r.rel }));
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(json.length, 0);
  return Buffer.concat([head, json]);
}

/** The header of a reply carrying `length` bytes. */
export function replyHeader(id: number, status: BulkStatus, length: number): Buffer {
  const head = Buffer.allocUnsafe(REPLY_HEADER);
  head.writeUInt32BE(id, 0);
  head.writeUInt8(status, 4);
  head.writeUInt32BE(length, 5);
  return head;
}

/** A whole reply with a UTF-8 text (missing, error, refused, hello). */
export function textReply(id: number, status: BulkStatus, text = ''): Buffer {
  const body = Buffer.from(text);
  return Buffer.concat([replyHeader(id, status, body.length), body]);
}

/** Bytes received and not yet framed; taken in pieces without copying when one chunk holds them. */
class ByteQueue {
  private chunks: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  /** The first `n` bytes as one buffer (the caller checked `length`). */
  peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    if (first.length >= n) return first.subarray(0, n);
    const all = Buffer.concat(this.chunks);
    this.chunks = [all];
    return all.subarray(0, n);
  }

  take(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      // Spread over chunks (a file's bytes arrive in TLS records of 16 KB): copied into a buffer of its
      // own, which the sync file worker can then be handed without another copy.
      out = Buffer.allocUnsafeSlow(n);
      let got = 0;
      while (got < n) {
        const c = this.chunks[0] as Buffer;
        const k = Math.min(c.length, n - got);
        c.copy(out, got, 0, k);
        got += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.length -= n;
    return out;
  }
}

function isRequest(v: unknown): v is BulkRequest {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  const int = (x: unknown): boolean => Number.isSafeInteger(x) && (x as number) >= 0;
  return int(r.id) && (r.id as number) > 0 && int(r.list) && int(r.dossierId) && (r.root === 'uploads' || r.root === 'ffupload') && typeof r.rel === 'string' && r.rel.length > 0;
}

/** Requests out of the bytes a slave sent; throws a ValidationError on anything that is not one. */
export class RequestReader {
  private readonly q = new ByteQueue();

  push(b: Buffer): BulkRequest[] {
    this.q.push(b);
    const out: BulkRequest[] = [];
    while (this.q.length >= 4) {
      const n = this.q.peek(4).readUInt32BE(0);
      if (n === 0 || n > MAX_REQUEST) throw new ValidationError(`a request frame of ${n} bytes is not a file request`);
      if (this.q.length < 4 + n) break;
      this.q.take(4);
      let v: unknown;
      try {
        v = JSON.parse(this.q.take(n).toString('utf8'));
      } catch (err) {
        throw new ValidationError('a request frame is not JSON', { cause: err });
      }
      if (!isRequest(v)) throw new ValidationError(`a request frame is not a file request: ${JSON.stringify(v).slice(0, 200)}`);
      out.push({ id: v.id, list: v.list, dossierId: v.dossierId, root: v.root, rel: v.rel });
    }
    return out;
  }
}

/** Replies out of the bytes the master sent. */
export class ReplyReader {
  private readonly q = new ByteQueue();
  private head: { id: number; status: BulkStatus; length: number } | undefined;

  push(b: Buffer): BulkReply[] {
    this.q.push(b);
    const out: BulkReply[] = [];
    for (;;) {
      if (!this.head) {
        if (this.q.length < REPLY_HEADER) break;
        const h = this.q.take(REPLY_HEADER);
        const status = h.readUInt8(4);
        if (status > BULK_TOO_LARGE) throw new ValidationError(`a reply frame has the unknown status ${status}`);
        this.head = { id: h.readUInt32BE(0), status: status as BulkStatus, length: h.readUInt32BE(5) };
      }
      if (this.q.length < this.head.length) break;
      out.push({ id: this.head.id, status: this.head.status, payload: this.head.length === 0 ? Buffer.alloc(0) : this.q.take(this.head.length) });
      this.head = undefined;
    }
    return out;
  }
}
