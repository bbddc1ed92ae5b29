/**
 * The `uploads-many` data set: FindFace's two upload roots with the small files that make up most of a
 * real site's file count — each event's thumbnail in `uploads/events/<bucket>/<id>_thumb.jpg` and its
 * normalized crop in `ffupload/events/<bucket>/<id>.jpg` (the dev site's layout, deploy/dev-site/uploads.ts:
 * buckets of 1,000 ids), 1–8 KB of random bytes each (as incompressible as JPEGs, no two alike).
 * Written with synchronous calls in slices, yielding between them (a million files: the async
 * round trips would cost more than the writes).
 */
import { randomFillSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface ManyRoots {
  uploads: string;
  ffupload: string;
}

export interface ManyTreeSize {
  files: number;
  bytes: number;
  dirs: number;
}

const BUCKET = 1000;
const MIN_BYTES = 1024;
const MAX_BYTES = 8192;
const SLICE = 2000;

function bucketOf(id: number): string {
  return String(Math.floor(id / BUCKET)).padStart(6, '0');
}

/** A size in [1 KB, 8 KB] from the id (the same for the same id, spread over the range). */
export function sizeOf(id: number, salt: number): number {
  const x = Math.imul(id ^ (salt * 0x9e3779b1), 0x85ebca6b) >>> 0;
  return MIN_BYTES + (x % (MAX_BYTES - MIN_BYTES + 1));
}

/** The two files of event `id`, relative to their roots. */
export function eventFilesOf(id: number): { thumb: string; normalized: string } {
  const dir = `events/${bucketOf(id)}`;
  return { thumb: `${dir}/${id}_thumb.jpg`, normalized: `${dir}/${id}.jpg` };
}

/**
 * Writes events `from`..`from + count - 1` (two files each) under the roots; returns what it wrote
 * (`dirs`: bucket directories it created).
 */
export async function writeEvents(roots: ManyRoots, from: number, count: number, signal?: AbortSignal): Promise<ManyTreeSize> {
  const buf = Buffer.allocUnsafe(MAX_BYTES);
  const made = new Set<string>();
  let bytes = 0;
  for (let start = from; start < from + count; start += SLICE) {
    if (signal?.aborted) break;
    const end = Math.min(from + count, start + SLICE);
    for (let id = start; id < end; id += 1) {
      const files = eventFilesOf(id);
      for (const [root, rel, salt] of [[roots.uploads, files.thumb, 1], [roots.ffupload, files.normalized, 2]] as const) {
        const full = path.join(root, rel);
        const dir = path.dirname(full);
        if (!made.has(dir)) {
          mkdirSync(dir, { recursive: true });
          made.add(dir);
        }
        const n = sizeOf(id, salt);
        randomFillSync(buf, 0, n);
        writeFileSync(full, buf.subarray(0, n));
        bytes += n;
      }
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { files: count * 2, bytes, dirs: made.size };
}
