/**
 * The dev site's programmatic API, for tests, the demo and integration tests: bring a FindFace-like site
 * of real servers up and down, load data, run the writer, check integrity. Every function takes a site
 * id (plus an optional root, else $FFK_DEVSITE_ROOT or `<tmp>/ffkeeper-devsites`) or a loaded state.
 */
import type { CheckReport } from './check-report.js';
import { checkSiteState } from './checker.js';
import { loadData, type LoadProgress } from './load.js';
import { loadSiteState, type SiteState } from './state.js';
import { siteStatus as statusOf, type SiteStatus } from './status.js';
import { startWriter as startWriterUnit, stopWriter as stopWriterUnit, type WriterStartOptions } from './units.js';
import type { WriterStats } from './writer.js';

export { upSite, downSite, listSites, UP_DEFAULTS, type UpOptions, type UpResult, type DownResult } from './site.js';
export { loadSiteState, GALLERIES, DEVSITE_ROOT_ENV, DEVSITE_NETNS_ENV, enabledInstances, instancesDirOf, type SiteState, type ShardState, type GalleryName } from './state.js';
export { formatReport, type CheckReport, type CheckIssue, type IssueKind } from './check-report.js';
export { runSystemctl, runFindfaceSecurity, type ShimResult } from './shims.js';
export { readWriterStats, readWriterOptions, unitStatuses, type WriterStartOptions } from './units.js';
export { setUnitFault, type UnitFault } from './unit-faults.js';
export { setSecurityClock, resetSecurityClock } from './security-config.js';
export type { Replica, LastSync } from './native-sync-store.js';
export type { ListExport } from './native-sync-export.js';
export { ShardSet, type GalleryRecord } from './shards.js';
export { dossierFaceFiles, eventFiles } from './uploads.js';
export { facen, galleryModelOf, modelFileOf, parseGalleryModel } from './facen.js';
export { readExtractionSettings, EXTRACTION_DEFAULTS, type ExtractionCost, type ExtractionSettings } from './extraction-config.js';
export type { ExtractionStats } from './extraction-api.js';
export { readSfApiConfig, shardUrl } from './sfapi.js';
export { instanceShards, shardFromInstanceFile, tntSchemaPathOf, tntSchemaText, writeTntSchema } from './instances.js';
export { isEnabled } from './units.js';
export type { WriterStats } from './writer.js';
export type { LoadProgress } from './load.js';
export type { SiteStatus } from './status.js';

/** A site id or an already loaded state. */
export type SiteRef = string | SiteState;

function stateOf(site: SiteRef, root?: string): SiteState {
  return typeof site === 'string' ? loadSiteState(site, root) : site;
}

/** Runs the integrity checker on a site that is up. */
export function checkSite(site: SiteRef, root?: string): Promise<CheckReport> {
  return checkSiteState(stateOf(site, root));
}

/** Adds dossiers and events to a site that is up. */
export function loadSite(site: SiteRef, counts: { dossiers: number; events: number }, root?: string): Promise<LoadProgress> {
  return loadData(stateOf(site, root), counts);
}

/** Starts the writer process (the `findface-security` unit); resolves with its pid once it runs. */
export function startWriter(site: SiteRef, options: WriterStartOptions = {}, root?: string): Promise<number> {
  return startWriterUnit(stateOf(site, root), options);
}

/** Stops the writer gracefully; resolves with its final stats. */
export function stopWriter(site: SiteRef, root?: string): Promise<WriterStats | undefined> {
  return stopWriterUnit(stateOf(site, root));
}

/** Units, counts and writer stats of a site. */
export function siteStatus(site: SiteRef, root?: string): Promise<SiteStatus> {
  return statusOf(stateOf(site, root));
}
