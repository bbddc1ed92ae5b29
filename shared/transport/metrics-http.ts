/**
 * The HTTP endpoint Prometheus scrapes, shared by the agent and the controller: `GET /metrics` answers
 * with the registry's text exposition, anything else 404. Each side owns its registry; this module only
 * serves one.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, type Registry } from 'prom-client';
import { UnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';

/** What the endpoint serves (a prom-client `Registry` fits). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/**
 * How often the event-loop lag is sampled (ms). prom-client's default, 10 ms, wakes an idle agent 100
 * times a second (strace: an epoll_pwait every 10 ms); each process then spent ~0.2 s of CPU a minute on
 * the sampler alone. At 100 ms the lag histogram still sees any stall of the loop longer than that.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

/** Node's process metrics (CPU, memory, handles, GC, event-loop lag) in `registry`. */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
}

export interface RunningMetricsServer {
  /** Bound address (host:port); the port is the real one when the config said 0. */
  address: string;
  /** `http://host:port/metrics` */
  url: string;
  stop(): Promise<void>;
}

function splitListen(listen: string): { host: string; port: number } {
  const i = listen.lastIndexOf(':');
  return { host: listen.slice(0, i), port: Number(listen.slice(i + 1)) };
}

function handler(source: MetricsSource, log: Logger): http.RequestListener {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: metrics are at GET /metrics\n');
      return;
    }
    source.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': source.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.warn({ err }, 'could not collect metrics');
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('could not collect metrics\n');
      },
    );
  };
}

/**
 * Serves `source` on `listen` (`host:port`, port 0 = any free port). Returns undefined when `listen` is
 * empty (metrics disabled) or cannot be bound: a busy metrics port logs an error naming the address but
 * never stops the agent or controller from doing backups (Prometheus sees the target down).
 */
export async function startMetricsServer(listen: string, source: MetricsSource, log: Logger): Promise<RunningMetricsServer | undefined> {
  if (listen === '') {
    log.info('metrics endpoint disabled (metrics.listen is empty)');
    return undefined;
  }
  const { host, port } = splitListen(listen);
  const server = http.createServer(handler(source, log));
  // Scrapers keep connections alive; don't let one hold stop() up.
  server.keepAliveTimeout = 5_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new UnavailableError(`metrics endpoint cannot listen on ${listen}: ${err.message}`, { cause: err })));
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    log.error({ err }, `${(err as Error).message}; running without a metrics endpoint`);
    return undefined;
  }
  const bound = (server.address() as AddressInfo).port;
  const address = `${host}:${bound}`;
  const url = `http://${address}/metrics`;
  log.info({ url }, `metrics listening on ${url}`);
  return {
    address,
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
