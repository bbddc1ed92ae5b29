/**
 * How a slave's files part gets a master's file bytes: over the direct channel between the files agents
 * when the master offers one and it can be reached (bulk: many requests in flight on one connection),
 * else over NATS request/reply. A direct channel that fails mid-way is dropped — the file in hand is
 * fetched over NATS — and tried again after a pause; each change of path is logged and reported. A file
 * bigger than the direct channel sends whole comes over NATS (in chunks), the channel kept for the rest.
 */
import { PermissionDeniedError, UnavailableError } from '../../../shared/errors.js';
import type { SyncLink } from '../../../shared/sync/link.js';
import type { PartContext } from './part.js';
import type { FileFetcher, FileRequest, FilesPath } from './ports.js';

/** After the direct channel could not be used, NATS carries the files this long before it is tried again. */
export const DIRECT_RETRY_MS = 30_000;

export class FileChannel {
  private fetcher: FileFetcher | undefined;
  private connecting: Promise<FileFetcher | undefined> | undefined;
  private retryAt = 0;
  private current: FilesPath | undefined;

  constructor(
    private readonly ctx: PartContext,
    private readonly link: SyncLink,
    private readonly retryMs = DIRECT_RETRY_MS,
  ) {}

  /** The path the last file came by (undefined before the first). */
  get path(): FilesPath | undefined {
    return this.current;
  }

  async fetch(request: FileRequest): Promise<Uint8Array | undefined> {
    const direct = await this.direct();
    if (direct) {
      const data = await direct.fetch(request).catch((err: unknown) => {
        if (!(err instanceof UnavailableError || err instanceof PermissionDeniedError)) throw err;
        this.drop(direct, err);
        return 'failed' as const;
      });
      if (data === 'too-large') {
        this.ctx.logger.info({ link: this.link.id, file: `${request.root}/${request.rel}` }, 'sync files: a file bigger than the direct channel sends whole comes over NATS');
        return this.ctx.bus.fetchFile(this.link.from.site, this.link.from.list, request);
      }
      if (data !== 'failed') {
        this.use('direct');
        return data;
      }
    }
    const data = await this.ctx.bus.fetchFile(this.link.from.site, this.link.from.list, request);
    this.use('nats');
    return data;
  }

  async close(): Promise<void> {
    const f = this.fetcher;
    this.fetcher = undefined;
    await f?.close().catch(() => undefined);
  }

  private direct(): Promise<FileFetcher | undefined> | FileFetcher | undefined {
    if (this.fetcher) return this.fetcher;
    const make = this.ctx.direct;
    if (!make || Date.now() < this.retryAt) return undefined;
    this.connecting ??= make
      .connect(this.link)
      .then((f) => {
        this.fetcher = f;
        return f;
      })
      .catch((err: unknown) => {
        this.retryAt = Date.now() + this.retryMs;
        this.ctx.logger.warn({ link: this.link.id, err: { message: err instanceof Error ? err.message : String(err) } }, `sync files: the direct channel to ${this.link.from.site} cannot be used; files go over NATS (tried again in ${this.retryMs / 1000} s)`);
        return undefined;
      })
      .finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private drop(f: FileFetcher, err: Error): void {
    if (this.fetcher !== f) return;
    this.fetcher = undefined;
    this.retryAt = Date.now() + this.retryMs;
    void f.close().catch(() => undefined);
    this.ctx.logger.warn({ link: this.link.id, err: { message: err.message } }, `sync files: the direct channel to ${this.link.from.site} failed; files go over NATS (tried again in ${this.retryMs / 1000} s)`);
  }

  private use(path: FilesPath): void {
    if (path === this.current) return;
    this.current = path;
    this.ctx.logger.info({ link: this.link.id, filesPath: path }, path === 'direct' ? `sync files: fetching from ${this.link.from.site} over the direct TLS channel` : `sync files: fetching from ${this.link.from.site} over NATS`);
  }
}
