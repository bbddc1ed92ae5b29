/**
 * The direct files channel between a link's files agents: a TLS listener on the master's files agent
 * (its own fleet certificate; a client certificate from the fleet CA required) and a client on the
 * slave's, many requests in flight on one connection (frames: agent/transport/bulk-frames.ts). The
 * master serves a peer only for the lists it holds a grant for that peer's site — one per running
 * link, master list → slave site — and only what the grant's server hands out (the files the dossier's
 * last files message names, inside the upload roots).
 */
import { readFileSync, statSync } from 'node:fs';
import tls from 'node:tls';
import { PermissionDeniedError, UnreachableError, ValidationError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { formatIdentity, identityOfSubjectAltName, type PeerIdentity } from '../../shared/security/identity.js';
import type { TlsFiles } from '../../shared/security/tls-files.js';
import type { FileFetcher, FileRequest, FileServer } from '../domain/sync/ports.js';
import { BULK_ERROR, BULK_MISSING, BULK_OK, BULK_PROTOCOL, BULK_REFUSED, BULK_TOO_LARGE, CONNECTION_ID, encodeRequest, replyHeader, ReplyReader, RequestReader, textReply, type BulkRequest } from './bulk-frames.js';

/** Requests of one connection being answered at once (disk reads in flight). */
const SERVE_CONCURRENCY = 128;
/** Replies queued for the socket beyond this: no new request is started until it drains. */
const WRITE_HIGH_WATER = 8 * 1024 * 1024;
/** Largest file sent whole (a bigger one is answered "too large": the slave fetches it over NATS, in chunks). */
const MAX_FILE = 256 * 1024 * 1024;
const CERT_REFRESH_MS = 5_000;
const CONNECT_TIMEOUT_MS = 5_000;
/** A connection with requests outstanding and nothing received for this long is dropped. */
const IDLE_TIMEOUT_MS = 30_000;

/** What the master's files agent tells a slave in the handshake. */
export interface BulkOffer {
  protocol: number;
  /** `host:port` of the listener. */
  address: string;
  /** The identity the listener's certificate carries. */
  site: string;
  host: string;
}

interface Grant {
  list: number;
  slaveSite: string;
  serve: FileServer;
}

function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

function tlsMaterial(files: TlsFiles): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: readFileSync(files.ca), cert: readFileSync(files.cert), key: readFileSync(files.key) };
}

export interface BulkServerOptions {
  /** `host:port` to listen on (port 0: any free port). */
  listen: string;
  /** Host slaves dial; defaults to the listen host. */
  advertiseHost: string;
  tls: TlsFiles;
  site: string;
  host: string;
  logger: Logger;
  /** Largest file sent whole (default 256 MiB). */
  maxFileBytes?: number;
}

export class TlsBulkFilesServer {
  private readonly grants = new Set<Grant>();
  private readonly sockets = new Set<tls.TLSSocket>();
  private stamp = '';
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly server: tls.Server,
    private readonly o: BulkServerOptions,
    readonly offer: BulkOffer,
  ) {
    // A renewed certificate is picked up without a restart (as the gRPC server does).
    this.timer = setInterval(() => this.refresh(), CERT_REFRESH_MS);
    this.timer.unref();
  }

  static async start(o: BulkServerOptions): Promise<TlsBulkFilesServer> {
    const server = tls.createServer({ ...tlsMaterial(o.tls), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' });
    const { host, port } = splitHostPort(o.listen);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    const boundPort = typeof bound === 'object' && bound ? bound.port : port;
    const self = new TlsBulkFilesServer(server, o, { protocol: BULK_PROTOCOL, address: `${o.advertiseHost}:${boundPort}`, site: o.site, host: o.host });
    self.refresh();
    server.on('secureConnection', (socket) => self.onConnection(socket));
    server.on('tlsClientError', (err) => o.logger.warn({ err: { message: err.message } }, 'sync files: a direct-channel client failed the TLS handshake'));
    return self;
  }

  /** Serves `list`'s files to agents of `slaveSite` with `serve` until the returned function is called. */
  grant(list: number, slaveSite: string, serve: FileServer): () => void {
    const g: Grant = { list, slaveSite, serve };
    this.grants.add(g);
    return () => void this.grants.delete(g);
  }

  /** Whether some grant covers `list` (a handshake for it is answered with the offer). */
  serves(list: number): boolean {
    return [...this.grants].some((g) => g.list === list);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private refresh(): void {
    try {
      const stamp = [this.o.tls.ca, this.o.tls.cert, this.o.tls.key].map((f) => { const s = statSync(f); return `${s.mtimeMs}:${s.size}`; }).join('|');
      if (stamp === this.stamp) return;
      if (this.stamp) this.server.setSecureContext({ ...tlsMaterial(this.o.tls), minVersion: 'TLSv1.3' });
      this.stamp = stamp;
    } catch {
      // A file being replaced: the previous material stays in use until the next check reads it whole.
    }
  }

  private grantFor(peer: PeerIdentity | undefined, list?: number): Grant | undefined {
    if (peer?.kind !== 'agent') return undefined;
    for (const g of this.grants) if (g.slaveSite === peer.site && (list === undefined || g.list === list)) return g;
    return undefined;
  }

  private onConnection(socket: tls.TLSSocket): void {
    const peer = identityOfSubjectAltName(socket.getPeerCertificate().subjectaltname);
    const who = peer ? formatIdentity(peer) : 'a certificate without an ffkeeper identity';
    socket.on('error', (err) => this.o.logger.debug({ err: { message: err.message }, peer: who }, 'sync files: direct-channel connection failed'));
    if (!this.grantFor(peer)) {
      const why = `${who} is not an agent of a slave site of a link from ${this.o.site}`;
      this.o.logger.warn({ peer: who }, `sync files: direct channel refused: ${why}`);
      socket.end(textReply(CONNECTION_ID, BULK_REFUSED, why));
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.write(textReply(CONNECTION_ID, BULK_OK));
    this.o.logger.info({ peer: who }, 'sync files: a slave connected over the direct channel');
    new Connection(socket, (r) => this.answer(peer, r), this.o.logger).start();
  }

  /** One request's reply: the file, or why not. */
  private async answer(peer: PeerIdentity | undefined, r: BulkRequest): Promise<Buffer[]> {
    const grant = this.grantFor(peer, r.list);
    if (!grant) return [textReply(r.id, BULK_REFUSED, `list ${r.list} of ${this.o.site} is not linked to ${peer ? formatIdentity(peer) : 'this peer'}`)];
    try {
      const max = this.o.maxFileBytes ?? MAX_FILE;
      const chunk = await grant.serve({ dossierId: r.dossierId, root: r.root, rel: r.rel }, 0, max);
      if (!chunk) return [textReply(r.id, BULK_MISSING)];
      if (chunk.size > chunk.data.length) return [textReply(r.id, BULK_TOO_LARGE, `${r.root}/${r.rel} is ${chunk.size} bytes, more than the direct channel sends whole (${max})`)];
      return [replyHeader(r.id, BULK_OK, chunk.data.length), Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.length)];
    } catch (err) {
      return [textReply(r.id, BULK_ERROR, (err instanceof Error ? err.message : String(err)).slice(0, 500))];
    }
  }
}

/** The master's side of one connection: reads requests, answers up to SERVE_CONCURRENCY at once, minds the socket's buffer. */
class Connection {
  private readonly reader = new RequestReader();
  private readonly queue: BulkRequest[] = [];
  private inFlight = 0;

  constructor(
    private readonly socket: tls.TLSSocket,
    private readonly answer: (r: BulkRequest) => Promise<Buffer[]>,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.socket.on('data', (b: Buffer) => {
      try {
        this.queue.push(...this.reader.push(b));
      } catch (err) {
        this.logger.warn({ err: { message: err instanceof Error ? err.message : String(err) } }, 'sync files: a direct-channel peer sent a bad frame; closing');
        this.socket.destroy();
        return;
      }
      if (this.queue.length > 4 * SERVE_CONCURRENCY) this.socket.pause();
      this.pump();
    });
    this.socket.on('drain', () => this.pump());
  }

  private pump(): void {
    while (this.queue.length > 0 && this.inFlight < SERVE_CONCURRENCY && this.socket.writableLength < WRITE_HIGH_WATER && !this.socket.destroyed) {
      const r = this.queue.shift() as BulkRequest;
      this.inFlight++;
      void this.answer(r).then((parts) => {
        this.inFlight--;
        if (this.socket.destroyed) return;
        this.socket.cork();
        for (const p of parts) this.socket.write(p);
        this.socket.uncork();
        if (this.queue.length <= SERVE_CONCURRENCY && this.socket.isPaused()) this.socket.resume();
        this.pump();
      });
    }
  }
}

interface Pending {
  request: FileRequest;
  resolve: (data: Uint8Array | undefined | 'too-large') => void;
  reject: (err: Error) => void;
}

/** The slave's side: one connection to a master's listener, requests multiplexed by id. */
export class TlsBulkFilesClient implements FileFetcher {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: Error | undefined;

  private constructor(
    private readonly socket: tls.TLSSocket,
    private readonly list: number,
    private readonly where: string,
  ) {}

  /**
   * Connects to `offer` and waits for the master's hello; the listener's certificate must carry the
   * offered identity, an agent of `masterSite`. Throws a PermissionDeniedError when either side refuses,
   * an UnreachableError when it cannot be reached.
   */
  static async connect(offer: BulkOffer, o: { tls: TlsFiles; masterSite: string; list: number; timeoutMs?: number }): Promise<TlsBulkFilesClient> {
    if (offer.protocol !== BULK_PROTOCOL) throw new UnreachableError(`the master offers direct-channel protocol ${offer.protocol}; this agent speaks ${BULK_PROTOCOL}`);
    if (offer.site !== o.masterSite) throw new PermissionDeniedError(`the direct channel offered for ${o.masterSite} belongs to site ${offer.site}`);
    const { host, port } = splitHostPort(offer.address);
    const where = `${offer.address} (agent ${offer.site}/${offer.host})`;
    const socket = tls.connect({
      host,
      port,
      ...tlsMaterial(o.tls),
      // Peers are judged by the identity URI in their certificate, not a host name (an IP is no SNI name).
      servername: 'ffkeeper',
      minVersion: 'TLSv1.3',
      checkServerIdentity: (_h, cert) => {
        const id = identityOfSubjectAltName(cert.subjectaltname);
        if (id?.kind === 'agent' && id.site === offer.site && id.host === offer.host) return undefined;
        return new PermissionDeniedError(`the direct channel at ${offer.address} presents ${id ? formatIdentity(id) : 'no ffkeeper identity'}, not agent ${offer.site}/${offer.host}`);
      },
    });
    const client = new TlsBulkFilesClient(socket, o.list, where);
    await client.hello(o.timeoutMs ?? CONNECT_TIMEOUT_MS);
    return client;
  }

  private hello(timeoutMs: number): Promise<void> {
    const reader = new ReplyReader();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.socket.destroy(new UnreachableError(`the direct channel at ${this.where} did not answer within ${timeoutMs} ms`)), timeoutMs);
      const settle = (err?: Error): void => {
        clearTimeout(timer);
        this.socket.off('data', onData);
        if (err) {
          this.socket.destroy();
          reject(err);
        } else resolve();
      };
      const onData = (b: Buffer): void => {
        try {
          const first = reader.push(b)[0];
          if (!first) return;
          if (first.id !== CONNECTION_ID) return settle(new UnreachableError(`the direct channel at ${this.where} did not greet`));
          if (first.status === BULK_REFUSED) return settle(new PermissionDeniedError(`the direct channel at ${this.where} refused this agent: ${first.payload.toString()}`));
          settle();
          this.run(reader);
        } catch (err) {
          settle(err as Error);
        }
      };
      this.socket.on('data', onData);
      this.socket.once('error', (err) => settle(err instanceof PermissionDeniedError || err instanceof UnreachableError ? err : new UnreachableError(`the direct channel at ${this.where} cannot be reached: ${err.message}`, { cause: err })));
      this.socket.once('close', () => settle(new UnreachableError(`the direct channel at ${this.where} closed before it greeted`)));
    });
  }

  private run(reader: ReplyReader): void {
    this.socket.setTimeout(IDLE_TIMEOUT_MS, () => {
      if (this.pending.size > 0) this.socket.destroy(new UnreachableError(`the direct channel at ${this.where} sent nothing for ${IDLE_TIMEOUT_MS / 1000} s`));
    });
    this.socket.on('data', (b: Buffer) => {
      try {
        for (const r of reader.push(b)) this.settle(r.id, r.status, r.payload);
      } catch (err) {
        this.socket.destroy(err as Error);
      }
    });
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => this.fail(new UnreachableError(`the direct channel at ${this.where} closed`)));
  }

  private settle(id: number, status: number, payload: Buffer): void {
    if (id === CONNECTION_ID) return this.fail(new PermissionDeniedError(`the direct channel at ${this.where} refused this agent: ${payload.toString()}`));
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    const file = `${p.request.root}/${p.request.rel}`;
    if (status === BULK_OK) p.resolve(payload);
    else if (status === BULK_MISSING) p.resolve(undefined);
    else if (status === BULK_TOO_LARGE) p.resolve('too-large');
    else if (status === BULK_REFUSED) p.reject(new PermissionDeniedError(`the direct channel at ${this.where} refused ${file}: ${payload.toString()}`));
    else p.reject(new ValidationError(`the master could not read ${file}: ${payload.toString()}`));
  }

  private fail(err: Error): void {
    // Every failure of the channel itself is "unavailable" to the caller: it may fetch the file another way.
    this.failure ??= err instanceof UnreachableError ? err : new UnreachableError(`the direct channel at ${this.where} failed: ${err.message}`, { cause: err });
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    this.socket.destroy();
  }

  fetch(request: FileRequest): Promise<Uint8Array | undefined | 'too-large'> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    if (this.nextId > 0xffff_fff0) this.nextId = 1;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { request, resolve, reject });
      this.socket.write(encodeRequest({ ...request, id, list: this.list }));
    });
  }

  close(): Promise<void> {
    this.fail(new UnreachableError(`the direct channel at ${this.where} was closed`));
    return Promise.resolve();
  }
}
