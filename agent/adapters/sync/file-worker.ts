/**
 * Worker threads doing the sync parts' file work — read, hash, write and rename — with synchronous
 * calls, the calls made in one turn of the agent's loop sent to them as one message per thread.
 *
 * Why: on a busy 2-core host the files agent's loop was the initial sync's bottleneck. Each async fs call
 * is a hand-off to libuv's threads and back (a file read and hashed took four: open, fstat, read, close;
 * a write three), and the SHA-256 of every byte ran on the loop too. The sync bench's profile of the slave's
 * files agent showed its loop busy 85-90 % for the whole initial sync, a third of it in writes. Here
 * the workers take one hand-off per batch. They hash and write beside the loop, which meanwhile decrypts
 * the next files off the TLS channel. A micro-benchmark on the dev machine (20,000 files of 70 KB) took
 * 1.4-1.7 s of CPU to read and hash them with synchronous calls, against 2.5-2.9 s with
 * callbacks at 32 in flight.
 *
 * The worker's code is plain JavaScript given to `new Worker(…, { eval: true })`. That way the bundled
 * agent, tsc's dist/ and the tests (TypeScript run by vitest) all start the same code without having to
 * locate a file. It uses node's built-ins only. Paths reach it resolved and checked by the caller
 * (FsFilesAccess).
 */
import { Worker } from 'node:worker_threads';
import type { WriteOutcome } from '../../domain/sync/ports.js';

/** What the worker does per op (its arguments and answers: see the `FileWorker` methods). */
const WORKER_SOURCE = String.raw`
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { createHash } = require('node:crypto');
const DIR_MEMORY = 10000;
const dirs = new Set();
const sha = (data) => createHash('sha256').update(data).digest('hex');
const missing = (err) => err && err.code === 'ENOENT';
function makeDir(dir) {
  fs.mkdirSync(dir, { recursive: true });
  if (dirs.size >= DIR_MEMORY) dirs.clear();
  dirs.add(dir);
}
const ops = {
  digest({ file }) {
    let data;
    try { data = fs.readFileSync(file); } catch (err) { if (missing(err)) return undefined; throw err; }
    return { sha256: sha(data), size: data.length };
  },
  hash({ file }) {
    // Most files a slave asks about are not there yet: a stat says so without an error to build.
    if (!fs.statSync(file, { throwIfNoEntry: false })) return undefined;
    return ops.digest({ file })?.sha256;
  },
  read({ file, offset, max }, transfer) {
    let fd;
    try { fd = fs.openSync(file, 'r'); } catch (err) { if (missing(err)) return undefined; throw err; }
    try {
      const size = fs.fstatSync(fd).size;
      const data = Buffer.allocUnsafeSlow(Math.max(0, Math.min(max, size - offset)));
      let got = 0;
      while (got < data.length) {
        const n = fs.readSync(fd, data, got, data.length - got, offset + got);
        if (n === 0) break; // shrunk meanwhile: the slave's hash check sees it
        got += n;
      }
      transfer.push(data.buffer);
      return { data: new Uint8Array(data.buffer, 0, got), size };
    } finally {
      fs.closeSync(fd);
    }
  },
  write({ file, tmp, data, sha256 }) {
    const actual = sha(data);
    if (actual !== sha256) return { written: false, sha256: actual };
    const dir = path.dirname(file);
    if (!dirs.has(dir)) makeDir(dir);
    try {
      fs.writeFileSync(tmp, data);
      try {
        fs.renameSync(tmp, file);
      } catch (err) {
        if (!missing(err)) throw err;
        makeDir(dir); // removed behind this process's back since it was made
        fs.renameSync(tmp, file);
      }
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    return { written: true };
  },
};
parentPort.on('message', (batch) => {
  const out = [];
  const transfer = [];
  for (const { id, op, args } of batch) {
    try {
      out.push({ id, value: ops[op](args, transfer) });
    } catch (err) {
      out.push({ id, error: { message: err && err.message ? err.message : String(err), code: err && err.code } });
    }
  }
  parentPort.postMessage(out, transfer);
});
`;

/**
 * `data` when it is the whole of a buffer that can move to another thread, else a copy of its bytes: a
 * view may share its buffer with other data (a TLS record, Buffer's pool), which a transfer would take
 * from its owner (and a Buffer's slice() is no copy).
 */
function movable(data: Uint8Array): Uint8Array {
  const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
  if (whole) return data;
  const own = Buffer.allocUnsafeSlow(data.byteLength);
  own.set(data);
  return own;
}

/** Calls sent in one message at most (more wait for the next). */
const MAX_BATCH = 256;

interface Call {
  id: number;
  op: string;
  args: unknown;
  transfer: ArrayBuffer[];
}

interface Answer {
  id: number;
  value?: unknown;
  error?: { message: string; code?: string };
}

/** One thread of the pool and the calls it has not answered yet. */
interface Thread {
  worker: Worker;
  waiting: Set<number>;
}

type Waiter = { resolve: (v: unknown) => void; reject: (e: Error) => void };

/**
 * A pool of `threads` worker threads (default 2: the kernel's work of creating and writing files, and
 * the hashing, then use both cores of a small host beside the agent's loop). The calls of one turn are
 * dealt out in even shares, each share one message to the thread with the fewest calls unanswered.
 */
export class FileWorker {
  private readonly threads: (Thread | undefined)[];
  private queue: Call[] = [];
  private readonly waiters = new Map<number, Waiter>();
  private seq = 0;
  private flushing = false;
  private turn = -1;
  /** Messages sent to each thread so far (each a batch of calls). */
  readonly batches: number[];

  constructor(threads = 2) {
    this.threads = Array.from({ length: Math.max(1, threads) }, () => undefined);
    this.batches = this.threads.map(() => 0);
  }

  /** SHA-256 and size of the file; undefined when it does not exist. */
  digest(file: string): Promise<{ sha256: string; size: number } | undefined> {
    return this.call('digest', { file });
  }

  /** SHA-256 of the file; undefined when it does not exist. */
  hash(file: string): Promise<string | undefined> {
    return this.call('hash', { file });
  }

  /** `max` bytes at most from `offset`, and the file's size; undefined when it does not exist. */
  read(file: string, offset: number, max: number): Promise<{ data: Uint8Array; size: number } | undefined> {
    return this.call('read', { file, offset, max });
  }

  /**
   * Writes `data` to `tmp` and renames it to `file` (making its directory) when it hashes to `sha256`;
   * else writes nothing and answers the data's own SHA-256. `data` is handed over: when it is the whole
   * of its own buffer, that buffer moves to the worker (the caller's view is left empty); else its bytes
   * are copied.
   */
  write(file: string, tmp: string, data: Uint8Array, sha256: string): Promise<WriteOutcome> {
    const moved = movable(data);
    return this.call('write', { file, tmp, data: moved, sha256 }, [moved.buffer as ArrayBuffer]);
  }

  private call<T>(op: string, args: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = ++this.seq;
      this.waiters.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.queue.push({ id, op, args, transfer });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushing = false;
    const calls = this.queue;
    this.queue = [];
    const share = Math.min(MAX_BATCH, Math.ceil(calls.length / this.threads.length));
    for (let i = 0; i < calls.length; i += share) this.send(this.leastBusy(), calls.slice(i, i + share));
  }

  /**
   * The thread with the fewest calls unanswered, ties taken in turn: most turns of a busy loop carry one
   * call or a few, and they must not all go to one thread.
   */
  private leastBusy(): number {
    const n = this.threads.length;
    const load = (slot: number): number => this.threads[slot]?.waiting.size ?? 0;
    let best = (this.turn += 1) % n;
    for (let k = 1; k < n; k += 1) {
      const slot = (best + k) % n;
      if (load(slot) < load(best)) best = slot;
    }
    return best;
  }

  private send(slot: number, batch: Call[]): void {
    const t = this.thread(slot);
    for (const c of batch) t.waiting.add(c.id);
    t.worker.ref(); // calls outstanding: the process waits for their answers
    this.batches[slot] = (this.batches[slot] ?? 0) + 1;
    try {
      t.worker.postMessage(
        batch.map(({ id, op, args }) => ({ id, op, args })),
        batch.flatMap((c) => c.transfer),
      );
    } catch (err) {
      for (const c of batch) this.settle(t, { id: c.id, error: { message: `the sync file worker could not be given the call: ${(err as Error).message}` } });
    }
  }

  private settle(t: Thread, a: Answer): void {
    t.waiting.delete(a.id);
    const w = this.waiters.get(a.id);
    if (!w) return;
    this.waiters.delete(a.id);
    if (a.error) w.reject(Object.assign(new Error(a.error.message), a.error.code === undefined ? {} : { code: a.error.code }));
    else w.resolve(a.value);
  }

  private thread(slot: number): Thread {
    const running = this.threads[slot];
    if (running) return running;
    const t: Thread = { worker: new Worker(WORKER_SOURCE, { eval: true }), waiting: new Set() };
    t.worker.on('message', (answers: Answer[]) => {
      for (const a of answers) this.settle(t, a);
      if (t.waiting.size === 0) t.worker.unref();
    });
    const fail = (err: Error): void => {
      if (this.threads[slot] !== t) return; // told already (an error, then its exit)
      this.threads[slot] = undefined;
      for (const id of t.waiting) {
        const w = this.waiters.get(id);
        this.waiters.delete(id);
        w?.reject(new Error(`the sync file worker stopped: ${err.message}`, { cause: err }));
      }
      t.waiting.clear();
    };
    t.worker.on('error', fail);
    t.worker.on('exit', (code) => fail(new Error(`it exited with code ${code}`)));
    this.threads[slot] = t;
    return t;
  }

  async stop(): Promise<void> {
    const running = this.threads.filter((t): t is Thread => t !== undefined);
    this.threads.fill(undefined);
    await Promise.all(running.map((t) => t.worker.terminate()));
  }
}

/** The process's file worker (one pool for every sync part of the agent). */
export const fileWorker = new FileWorker();
