/**
 * `JetStreamSyncBus`: the agent's sync parts over NATS — the master sites' sync streams (last value per
 * subject: the stream is the replicated lists' current state), the link records (KV, watched) and the
 * parts' statuses (KV). Followers use ordered consumers from a given sequence and re-create them after
 * any interruption from the last message handled.
 */
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { KV, KvEntry } from '@nats-io/kv';
import { headers, RequestError, type NatsConnection } from '@nats-io/transport-node';
import { jetStreamReplicas } from '../../shared/transport/nats.js';
import { ValidationError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { SYNC_FILES_QUEUE, syncFilesSubject, syncLinkKeyFilters, syncStatusFilter, syncStatusKey, syncStream, syncStreamSubjects } from '../../shared/names.js';
import type { SyncLink, SyncPartStatus } from '../../shared/sync/link.js';
import { kvValues, openSyncLinksBucket, openSyncStatusBucket } from '../../shared/transport/kv.js';
import type { FileRequest, FileServer, StreamMessage, Subscription, SyncBus } from '../domain/sync/ports.js';

const RETRY_MS = 2000;
/** First pause while a new link's master stream does not exist yet (doubled up to RETRY_MS). */
const STREAM_WAIT_MS = 100;
/** How long one chunk of a file may take to come (a disk read and a hop through nats-server). */
const FILE_CHUNK_TIMEOUT_MS = 30_000;
/** How long the direct channel's handshake may take. */
const BULK_HANDSHAKE_TIMEOUT_MS = 5_000;
/** Room left in a message for the reply's headers. */
const HEADER_ROOM = 4096;
/** A file whose size changed between its chunks is read again from the start, this often at most. */
const FILE_READS = 3;
/** Messages handled together at most (one transaction on the slave's database, one request per shard). */
const DEFAULT_BATCH = 500;
/**
 * How long one pull request of a follower waits for messages. nats.js derives from it the idle heartbeat
 * (half of it; two missed ones reset the pull) and the pause between its checks of the consumer after a
 * reconnect; its 30 s default kept a follower idle for 30–75 s after nats-server restarted. 5 s: one
 * small request per follower every 5 s when idle, and a restart costs seconds.
 */
const PULL_EXPIRES_MS = 5000;

function isNotFound(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /not found|no message found|10037|10059/i.test(m);
}

/**
 * Messages received and not yet handled: `push` waits while two batches' worth are queued (so a slow
 * handler does not pull the stream into memory); `take` waits for at least one message and returns up
 * to a batch of what is there; an empty batch means the source ended.
 */
class BatchQueue {
  private readonly items: StreamMessage[] = [];
  private ended = false;
  private onItem: (() => void) | undefined;
  private onSpace: (() => void) | undefined;

  constructor(private readonly maxBatch: number) {}

  async push(m: StreamMessage): Promise<void> {
    while (this.items.length >= 2 * this.maxBatch && !this.ended) await new Promise<void>((r) => (this.onSpace = r));
    this.items.push(m);
    this.onItem?.();
  }

  end(): void {
    this.ended = true;
    this.onItem?.();
    this.onSpace?.();
  }

  async take(): Promise<StreamMessage[]> {
    while (this.items.length === 0 && !this.ended) await new Promise<void>((r) => (this.onItem = r));
    const batch = this.items.splice(0, this.maxBatch);
    this.onSpace?.();
    return batch;
  }
}

export class JetStreamSyncBus implements SyncBus {
  private readonly ensured = new Set<string>();
  private bulkOffer: ((list: number) => unknown) | undefined;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly links: KV,
    private readonly status: KV,
    private readonly site: string,
    private readonly logger: Logger,
  ) {}

  /** The bus of an agent of `site` (the one sync stream it may create and write). */
  static async open(nc: NatsConnection, site: string, logger: Logger): Promise<JetStreamSyncBus> {
    const [jsm, links, status] = await Promise.all([jetstreamManager(nc), openSyncLinksBucket(nc), openSyncStatusBucket(nc)]);
    return new JetStreamSyncBus(nc, jetstream(nc), jsm, links, status, site, logger);
  }

  /**
   * Creates this site's stream when missing: last value per subject, and direct get allowed (a blob is
   * read back as raw bytes, not base64 inside JSON as the stream API answers). Another site's stream is
   * only looked up (its agents create it; NATS lets an agent read it, not make it): missing, it is "not found".
   */
  async ensureStream(masterSite: string): Promise<void> {
    const name = syncStream(masterSite);
    if (this.ensured.has(name)) return;
    if (masterSite !== this.site) {
      await this.jsm.streams.info(name);
      this.ensured.add(name);
      return;
    }
    const info = await this.jsm.streams.info(name).catch(() => undefined);
    if (!info) await this.jsm.streams.add({ name, subjects: [syncStreamSubjects(masterSite)], max_msgs_per_subject: 1, allow_direct: true, num_replicas: jetStreamReplicas(this.nc) });
    else if (!info.config.allow_direct) await this.jsm.streams.update(name, { allow_direct: true });
    this.ensured.add(name);
  }

  async publish(subject: string, data: Uint8Array): Promise<number> {
    return (await this.js.publish(subject, data)).seq;
  }

  async last(masterSite: string, subject: string): Promise<Uint8Array | undefined> {
    try {
      await this.ensureStream(masterSite);
      const m = await this.jsm.direct.getMessage(syncStream(masterSite), { last_by_subj: subject });
      return m?.data;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async bounds(masterSite: string): Promise<{ first: number; last: number }> {
    try {
      const info = await this.jsm.streams.info(syncStream(masterSite));
      return { first: info.state.first_seq, last: info.state.last_seq };
    } catch (err) {
      if (isNotFound(err)) return { first: 0, last: 0 };
      throw err;
    }
  }

  async pendingAfter(masterSite: string, filter: string, after: number): Promise<number> {
    await this.ensureStream(masterSite);
    const consumer = await this.js.consumers.get(syncStream(masterSite), {
      filter_subjects: filter,
      ...(after > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 } : { deliver_policy: DeliverPolicy.All }),
    });
    const { num_pending } = await consumer.info(true);
    await consumer.delete().catch(() => undefined);
    return num_pending;
  }

  follow(
    masterSite: string,
    filter: string,
    after: number,
    handler: (batch: StreamMessage[]) => Promise<void>,
    options: { maxBatch?: number; onFollowing?: (pending: number) => void } = {},
  ): Subscription {
    const maxBatch = options.maxBatch ?? DEFAULT_BATCH;
    let stopped = false;
    let close: (() => Promise<void>) | undefined;
    let last = after;
    /** Whether the master's stream was found once (after that, its absence is a failure). */
    let followed = false;
    let waited = 0;
    const run = async (): Promise<void> => {
      while (!stopped) {
        try {
          await this.ensureStream(masterSite);
          followed = true;
          const consumer = await this.js.consumers.get(syncStream(masterSite), {
            filter_subjects: filter,
            ...(last > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: last + 1 } : { deliver_policy: DeliverPolicy.All }),
          });
          if (options.onFollowing) options.onFollowing((await consumer.info(true)).num_pending);
          const messages = await consumer.consume({ max_messages: maxBatch, expires: PULL_EXPIRES_MS });
          close = async () => void (await messages.close());
          // stop() may have come while the consumer was being opened, with nothing yet to close.
          if (stopped) return void (await messages.close());
          const queue = new BatchQueue(maxBatch);
          // The pump moves what arrives into a bounded queue; each batch is whatever has arrived by then.
          const pump = (async () => {
            for await (const m of messages) await queue.push({ seq: m.seq, subject: m.subject, data: m.data, pending: m.info.pending });
          })().finally(() => queue.end());
          for (let batch = await queue.take(); batch.length > 0 && !stopped; batch = await queue.take()) {
            for (;;) {
              try {
                await handler(batch);
                break;
              } catch {
                if (stopped) return;
                await new Promise((r) => setTimeout(r, RETRY_MS));
              }
            }
            last = batch.at(-1)?.seq ?? last;
          }
          await messages.close();
          await pump;
        } catch (err) {
          if (stopped) return;
          if (masterSite !== this.site && isNotFound(err) && !followed) {
            // A new link: the master's agents make their stream as they start, perhaps after this part.
            if (waited === 0) this.logger.info({ filter }, `sync: waiting for the stream of ${masterSite} (its agents make it when they start the link)`);
            waited = Math.min(RETRY_MS, Math.max(STREAM_WAIT_MS, waited * 2));
            await new Promise((r) => setTimeout(r, waited));
            continue;
          }
          this.logger.warn({ err, filter }, 'sync: following the stream failed; resuming');
          await new Promise((r) => setTimeout(r, RETRY_MS));
        }
      }
    };
    const done = run();
    return {
      async stop() {
        stopped = true;
        await close?.().catch(() => undefined);
        await done;
      },
    };
  }

  serveFiles(masterSite: string, list: number, serve: FileServer): Subscription {
    const max = this.chunkSize();
    const sub = this.nc.subscribe(syncFilesSubject(masterSite, list), {
      queue: SYNC_FILES_QUEUE,
      callback: (err, msg) => {
        if (err) return void this.logger.warn({ err }, 'sync: serving files failed');
        void (async () => {
          const h = headers();
          try {
            const body = JSON.parse(msg.string()) as FileRequest & { offset: number; op?: string };
            // The direct channel's handshake: where this agent's listener is (an empty object: none).
            if (body.op === 'bulk') {
              msg.respond(JSON.stringify(this.bulkOffer?.(list) ?? {}));
              return;
            }
            const { offset, ...req } = body;
            const chunk = await serve(req, offset, max);
            if (!chunk) h.set('Ffk-Missing', '1');
            else h.set('Ffk-Size', String(chunk.size));
            msg.respond(chunk?.data, { headers: h });
          } catch (e) {
            h.set('Ffk-Error', (e instanceof Error ? e.message : String(e)).slice(0, 500));
            msg.respond(undefined, { headers: h });
          }
        })();
      },
    });
    return { stop: () => sub.drain() };
  }

  async fetchFile(masterSite: string, list: number, request: FileRequest): Promise<Uint8Array | undefined> {
    const subject = syncFilesSubject(masterSite, list);
    for (let attempt = 1; ; attempt++) {
      const parts: Uint8Array[] = [];
      let offset = 0;
      let size: number | undefined;
      for (;;) {
        const reply = await this.nc.request(subject, JSON.stringify({ ...request, offset }), { timeout: FILE_CHUNK_TIMEOUT_MS }).catch((err: unknown) => {
          if (err instanceof RequestError && err.isNoResponders()) throw new ValidationError(`no agent of ${masterSite} answers for the files of its list ${list} (is its agent holding the upload directories running?)`);
          throw err;
        });
        const failed = reply.headers?.get('Ffk-Error');
        if (failed) throw new ValidationError(`${masterSite} could not read ${request.root}/${request.rel}: ${failed}`);
        if (reply.headers?.get('Ffk-Missing')) return undefined;
        const now = Number(reply.headers?.get('Ffk-Size'));
        if (!Number.isSafeInteger(now) || now < 0) throw new ValidationError(`${masterSite} answered for ${request.root}/${request.rel} without a valid size`);
        if (size !== undefined && now !== size) break; // rewritten between chunks: from the start
        size = now;
        parts.push(reply.data);
        offset += reply.data.length;
        if (offset >= size || reply.data.length === 0) return parts.length === 1 ? parts[0] : Buffer.concat(parts);
      }
      if (attempt >= FILE_READS) throw new ValidationError(`${request.root}/${request.rel} of ${masterSite} kept changing size while it was read`);
    }
  }

  /** Answers the direct channel's handshakes for a list of this site with what `offer` says (undefined: none). */
  answerBulkWith(offer: (list: number) => unknown): void {
    this.bulkOffer = offer;
  }

  /**
   * The handshake of the direct channel: asks the agent serving the files of a master list where its
   * listener is. Undefined when it offers none (or is an agent that does not know the question).
   */
  async askBulk(masterSite: string, list: number): Promise<unknown> {
    const reply = await this.nc.request(syncFilesSubject(masterSite, list), JSON.stringify({ op: 'bulk' }), { timeout: BULK_HANDSHAKE_TIMEOUT_MS }).catch((err: unknown) => {
      if (err instanceof RequestError && err.isNoResponders()) throw new ValidationError(`no agent of ${masterSite} answers for the files of its list ${list}`);
      throw err;
    });
    if (reply.headers?.get('Ffk-Error') || reply.data.length === 0) return undefined;
    try {
      return JSON.parse(reply.string()) as unknown;
    } catch {
      return undefined;
    }
  }

  /** Bytes of a file per reply: what the server lets one message carry, less room for headers. */
  private chunkSize(): number {
    return Math.max(64 * 1024, (this.nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM);
  }

  async putStatus(status: SyncPartStatus): Promise<void> {
    await this.status.put(syncStatusKey(status.link, status.role, status.host), JSON.stringify(status));
  }

  async removeStatus(link: string, role: string, host: string): Promise<void> {
    await this.status.delete(syncStatusKey(link, role, host));
  }

  async statuses(linkId: string): Promise<SyncPartStatus[]> {
    return (await kvValues(this.status, syncStatusFilter(linkId))).map((v) => JSON.parse(v.value) as SyncPartStatus);
  }

  watchLinks(onLinks: (links: SyncLink[]) => void): Subscription {
    // The links this site is part of, as master and as slave: the only link records it may read.
    return watchLinkRecords(this.links, syncLinkKeyFilters(this.site), onLinks, this.logger);
  }


}

/**
 * Delivers the link records under `filters` (all of them, each time one changes) until stopped: read,
 * then watched. A watch that ends while not stopped (its consumer lost: a JetStream leader change or a
 * server restart the client could not recover from) or fails ends the others too, and the records are
 * read and watched again — one filter's watch gone quietly would leave this agent blind to new links of
 * that role (a master's new link never published) while the other went on.
 */
export function watchLinkRecords(links: KV, filters: readonly string[], onLinks: (links: SyncLink[]) => void, logger: Logger, retryMs = RETRY_MS): Subscription {
  let stopped = false;
  let stopWatches: (() => void) | undefined;
  const current = new Map<string, SyncLink>();
  const run = async (): Promise<void> => {
    while (!stopped) {
      const watches: (AsyncIterable<KvEntry> & { stop(): void })[] = [];
      stopWatches = () => watches.forEach((w) => w.stop());
      try {
        current.clear();
        for (const { key, value } of (await Promise.all(filters.map((f) => kvValues(links, f)))).flat()) current.set(key, JSON.parse(value) as SyncLink);
        onLinks([...current.values()]);
        for (const f of filters) watches.push(await links.watch({ key: f }));
        // stop() may have come while a watch was being opened: that watch was not there to be stopped.
        if (stopped) return;
        await Promise.race(
          watches.map(async (w) => {
            for await (const e of w) {
              if (e.operation === 'PUT') current.set(e.key, e.json<SyncLink>());
              else current.delete(e.key);
              onLinks([...current.values()]);
            }
          }),
        );
        if (stopped) return;
        logger.warn('sync: a watch of the links ended; reading the links again');
      } catch (err) {
        if (stopped) return;
        logger.warn({ err }, 'sync: watching the links failed; resuming');
      } finally {
        stopWatches();
      }
      if (!stopped) await new Promise((r) => setTimeout(r, retryMs));
    }
  };
  const done = run();
  return {
    async stop() {
      stopped = true;
      stopWatches?.();
      await done;
    },
  };
}
