/** A KV watch for unit tests: the test pushes entries into it, ends it quietly, or makes it fail. */
import type { KvEntry } from '@nats-io/kv';

/** Pushed entries are delivered in order; `end()` finishes the iteration, `fail()` throws from it, `stop()` ends it as the owner does. */
export class FakeWatch implements AsyncIterable<KvEntry> {
  private queue: KvEntry[] = [];
  private wake: (() => void) | undefined;
  private state: 'open' | 'ended' | 'failed' = 'open';
  stopped = false;

  push(e: KvEntry): void {
    this.queue.push(e);
    this.wake?.();
  }

  end(): void {
    this.state = 'ended';
    this.wake?.();
  }

  fail(): void {
    this.state = 'failed';
    this.wake?.();
  }

  stop(): void {
    this.stopped = true;
    this.end();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<KvEntry> {
    for (;;) {
      const e = this.queue.shift();
      if (e) {
        yield e;
        continue;
      }
      if (this.state === 'ended') return;
      if (this.state === 'failed') throw new Error('consumer deleted');
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}
