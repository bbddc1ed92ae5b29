/**
 * The dev site's stand-in processes run in the foreground until SIGTERM/SIGINT: the writer (unit
 * `findface-security`), the sf-api stand-in and the extraction-api. Started as units through unit-main.ts;
 * the writer also by `ffkeeper-devsite writer run`.
 */
import { UnavailableError } from '../../shared/errors.js';
import { createLogger } from '../../shared/logger.js';
import { ExtractionService, loadExtractionSettings } from './extraction-api.js';
import { readSfApiConfig, SfApiService } from './sfapi.js';
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

/** Serves the sf-api stand-in (its config read now) until SIGTERM/SIGINT. */
export async function serveSfApiForeground(state: SiteState): Promise<void> {
  const service = new SfApiService(state, readSfApiConfig(state));
  await service.listen();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => (service.close(), process.exit(0)));
}

/** Serves the extraction-api (its config read now) until SIGTERM/SIGINT. */
export async function serveExtractionApiForeground(state: SiteState): Promise<void> {
  if (!state.extractionApi) throw new UnavailableError(`dev site '${state.site}' has no findface-extraction-api (site.json predates it)`);
  const service = new ExtractionService(loadExtractionSettings(state.extractionApi.configPath));
  await service.listen();
  const logger = createLogger({ name: 'devsite-extraction-api' }).child({ site: state.site });
  logger.info({ models: service.settings.models, cost: service.settings.cost, instances: service.settings.instances }, 'extraction-api listening');
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void service.close().then(() => process.exit(0)));
}
