/**
 * The dev site's stand-in processes run in the foreground until SIGTERM/SIGINT: the writer (unit
 * `findface-security`) and the sf-api stand-in. Started as units through unit-main.ts; the writer also by
 * `ffkeeper-devsite writer run`.
 */
import { createLogger } from '../../shared/logger.js';
import { serveSfApiStandIn } from './sfapi.js';
import type { SiteState } from './state.js';
import { writerStatsFile } from './units.js';
import { runWriter } from './writer.js';

/** Runs the writer until SIGTERM/SIGINT; rate and concurrency default to the site's. */
export async function runWriterForeground(state: SiteState, o: { rate?: number; concurrency?: number; eventCap?: number }): Promise<void> {
  const abort = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => abort.abort());
  const logger = createLogger({ name: 'devsite-writer' }).child({ site: state.site });
  const options = {
    rate: o.rate ?? state.writer.rate,
    concurrency: o.concurrency ?? state.writer.concurrency,
    statsFile: writerStatsFile(state),
    logger,
    ...(o.eventCap === undefined ? {} : { eventCap: o.eventCap }),
  };
  logger.info(options.rate, 'writer started (writes/s)');
  const stats = await runWriter(state, options, abort.signal);
  logger.info({ writes: stats.writes, rate: stats.rate, errors: stats.errors }, 'writer stopped');
}

/** Serves the sf-api stand-in until SIGTERM/SIGINT. */
export function serveSfApiForeground(state: SiteState): void {
  const server = serveSfApiStandIn(state);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => server.close(() => process.exit(0)));
}
