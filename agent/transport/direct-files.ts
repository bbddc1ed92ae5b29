/**
 * `TlsDirectFiles`: the agent's side of the direct files channel (agent/transport/bulk-files.ts) as the
 * sync parts see it (`DirectFiles`). The listener starts with the first link this agent serves files
 * for; the handshake — "where is your listener?" — goes over the master list's files subject
 * (`JetStreamSyncBus.askBulk`, answered by the agent serving that list's files).
 */
import type { AgentConfig } from '../../shared/config/agent.js';
import type { Logger } from '../../shared/logger.js';
import type { SyncLink } from '../../shared/sync/link.js';
import { UnreachableError } from '../../shared/errors.js';
import type { DirectFiles, FileFetcher, FileServer, Subscription } from '../domain/sync/ports.js';
import { TlsBulkFilesClient, TlsBulkFilesServer, type BulkOffer, type BulkServerOptions } from './bulk-files.js';

export interface DirectFilesOptions extends BulkServerOptions {
  /** The handshake: what the agent serving a master list's files offers (JetStreamSyncBus.askBulk). */
  ask: (masterSite: string, list: number) => Promise<unknown>;
}

function isOffer(v: unknown): v is BulkOffer {
  const o = v as Partial<BulkOffer> | undefined;
  return typeof o?.protocol === 'number' && typeof o.address === 'string' && typeof o.site === 'string' && typeof o.host === 'string';
}

export class TlsDirectFiles implements DirectFiles {
  private server: Promise<TlsBulkFilesServer> | undefined;
  private started: TlsBulkFilesServer | undefined;

  constructor(private readonly o: DirectFilesOptions) {}

  /** The handshake's answer for a list of this site: the listener, when a running link serves the list's files through it. */
  offerFor(list: number): BulkOffer | undefined {
    return this.started?.serves(list) ? this.started.offer : undefined;
  }

  /** Grants the link's slave site the list's files; a listener that cannot start is logged (the files go over NATS) and tried again at the next link. */
  async offer(link: SyncLink, serve: FileServer): Promise<Subscription> {
    this.server ??= TlsBulkFilesServer.start(this.o).then((s) => {
      this.started = s;
      this.o.logger.info({ address: s.offer.address }, 'sync files: direct channel listening (TLS, fleet client certificates of linked slave sites only)');
      return s;
    });
    try {
      const revoke = (await this.server).grant(link.from.list, link.to.site, serve);
      return { stop: () => Promise.resolve(revoke()) };
    } catch (err) {
      this.server = undefined;
      this.o.logger.warn({ err, listen: this.o.listen }, 'sync files: the direct channel cannot listen; slaves get the files over NATS');
      return { stop: () => Promise.resolve() };
    }
  }

  async connect(link: SyncLink): Promise<FileFetcher> {
    const { site, list } = link.from;
    const offer = await this.o.ask(site, list);
    if (!isOffer(offer)) throw new UnreachableError(`the files agent of ${site} offers no direct channel for its list ${list}`);
    return TlsBulkFilesClient.connect(offer, { tls: this.o.tls, masterSite: site, list });
  }

  async stop(): Promise<void> {
    const s = await this.server?.catch(() => undefined);
    this.server = undefined;
    this.started = undefined;
    await s?.stop();
  }
}

/**
 * The direct channel of an agent holding upload directories, from its config: none in `insecure` mode
 * (no certificates to judge peers by: files go over NATS only, and the agent says so) or when
 * `sync.files.listen` is ''. `grpcAdvertised` is the address the agent gives the controller.
 */
export function directFilesOf(
  config: Pick<AgentConfig, 'site' | 'host' | 'tls' | 'grpc' | 'sync'>,
  grpcAdvertised: string,
  ask: DirectFilesOptions['ask'],
  logger: Logger,
): TlsDirectFiles | undefined {
  const { listen: configured, advertise } = config.sync.files;
  if (configured === '') {
    logger.info('sync files: the direct channel is off (sync.files.listen is empty); files go over NATS');
    return undefined;
  }
  if (!config.tls) {
    logger.warn('sync files: no direct channel in insecure mode (no certificates to judge peers by); files go over NATS only');
    return undefined;
  }
  const grpcHost = config.grpc.listen.slice(0, config.grpc.listen.lastIndexOf(':'));
  const listen = configured ?? `${grpcHost}:0`;
  const listenHost = listen.slice(0, listen.lastIndexOf(':'));
  const wildcard = ['0.0.0.0', '::', '[::]'].includes(listenHost);
  const advertiseHost = advertise ?? (wildcard ? grpcAdvertised.slice(0, grpcAdvertised.lastIndexOf(':')) : listenHost);
  return new TlsDirectFiles({ listen, advertiseHost, tls: config.tls, site: config.site, host: config.host, logger, ask });
}
