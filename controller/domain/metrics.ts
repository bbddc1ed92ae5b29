/**
 * The controller's metrics port (DESIGN.md §7): the domain says what finished and how it went; an
 * adapter (controller/transport/metrics.ts, Prometheus) turns that into series. `noMetrics` is for unit
 * tests and callers that do not measure.
 */
import type { Manifest } from '../../shared/manifest.js';
import type { CatalogStore } from './ports.js';

export interface SnapshotFinished {
  ok: boolean;
  /** Whole job: plan to seal (or to the failure). */
  durationMs: number;
  /** The sealed manifest, when ok. */
  manifest?: Manifest;
}

export interface VerifyFinished {
  ok: boolean;
  durationMs: number;
  snapshotId: string;
}

export interface RestoreFinished {
  ok: boolean;
  durationMs: number;
  /** How long the site's writers were stopped by it (its downtime); 0 when they never were. */
  writersStoppedMs: number;
}

/** What the controller's domain reports as it works. Calls never throw and never block. */
export interface ControllerMetrics {
  snapshotFinished(site: string, outcome: SnapshotFinished): void;
  verifyFinished(site: string, outcome: VerifyFinished): void;
  /** `site` is the restore's target site. */
  restoreFinished(site: string, outcome: RestoreFinished): void;
  /** A sealed snapshot known from the catalog (start-up): keeps "last success" across controller restarts. */
  snapshotKnown(site: string, sealedAt: Date): void;
}

/** Measures nothing. */
export const noMetrics: ControllerMetrics = {
  snapshotFinished: () => undefined,
  verifyFinished: () => undefined,
  restoreFinished: () => undefined,
  snapshotKnown: () => undefined,
};

/**
 * Runs `work` and reports how it went through `report`, then returns its result or rethrows. For the
 * places where jobs finish (snapshot service, restore service, verify).
 */
export async function measured<T>(work: () => Promise<T>, report: (ok: boolean, durationMs: number, result?: T) => void): Promise<T> {
  const started = Date.now();
  let result: T;
  try {
    result = await work();
  } catch (err) {
    report(false, Date.now() - started);
    throw err;
  }
  report(true, Date.now() - started, result);
  return result;
}

/** Tells `metrics` the newest sealed snapshot of each site in the catalog (at controller start-up). */
export async function seedLastSnapshots(catalog: CatalogStore, sites: readonly string[], metrics: ControllerMetrics): Promise<void> {
  for (const site of sites) {
    const [newest] = await catalog.list(site);
    if (newest) metrics.snapshotKnown(site, newest.sealedAt);
  }
}
