/**
 * Small stream and timing helpers of the PostgreSQL driver: a pass-through that hashes and counts what
 * flows (the dump's sha256 is computed on the way into the repository and on the way back).
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Passes bytes through unchanged while computing their sha256 and counting them. */
export class Sha256Stream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private hex: string | undefined;
  private seen = 0;

  /** `onFirstChunk` is called once, when the first bytes arrive. */
  constructor(private readonly onFirstChunk?: () => void) {
    super();
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.seen;
  }

  /** The hex digest; only once the stream has ended (undefined before). */
  get sha256(): string | undefined {
    return this.hex;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.seen === 0 && chunk.length > 0) this.onFirstChunk?.();
    this.seen += chunk.length;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.hex = this.hash.digest('hex');
    callback();
  }
}

/** Calls `fn` at most once; later calls return the first call's promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let result: Promise<void> | undefined;
  return () => (result ??= fn());
}
