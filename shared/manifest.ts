/**
 * Manifest types both sides share: where each component fixed its point in time (cut point) and what
 * its upload stored (artifact). The controller seals a snapshot by writing a manifest of these.
 */
import type { Verification } from './verification.js';

/** Where a component fixed its point in time. */
export type CutPoint =
  | { kind: 'postgres'; component: string; time: Date; snapshotName: string; lsn: string }
  | { kind: 'tarantool'; component: string; time: Date; vclock: Record<string, number>; signature: number }
  | { kind: 'uploads'; component: string; time: Date };

/** What an upload stored; becomes the component's entry in the manifest. */
export interface ComponentArtifact {
  component: string;
  kind: CutPoint['kind'];
  cut: CutPoint;
  /** Repository snapshot ids holding this component's data (usually one). */
  snapshotIds: string[];
  /** Bytes and files read from the source. */
  bytes: number;
  files: number;
  /** Bytes this upload added to the repository (after deduplication). */
  dataAddedBytes: number;
  /** Content checksums (e.g. per file sha256 of a dump), when the driver computes them. */
  checksums?: Record<string, string>;
  /** Items that could not be read (e.g. a file deleted between cut and read), by name. */
  missing?: string[];
  /** Driver-specific facts worth keeping (model names of galleries, pinned checkpoint file, ...). */
  details?: Record<string, string | number | boolean>;
}

/** The manifest format version this code writes and reads. */
export const MANIFEST_VERSION = 1;

/** The component ref under which a cut's manifest is stored in the repository. */
export const MANIFEST_COMPONENT = 'manifest:manifest';
/** File name of the manifest inside its repository snapshot. */
export const MANIFEST_FILENAME = 'ffk-manifest.json';

/** One component of a sealed cut: its artifact and the host whose agent took it. */
export type ManifestComponent = ComponentArtifact & { host: string };

/** A cut's artifacts grouped by the host whose agent took them (and restores, drills or exports them). */
export function artifactsByHost(components: readonly ManifestComponent[]): Map<string, ComponentArtifact[]> {
  const byHost = new Map<string, ComponentArtifact[]>();
  for (const { host, ...artifact } of components) byHost.set(host, [...(byHost.get(host) ?? []), artifact]);
  return byHost;
}

/**
 * The record of one sealed cut (DESIGN.md §4 step 7), written last: to the repository and to the
 * catalog. A cut without a manifest does not exist for list, restore or retention.
 */
export interface Manifest {
  version: typeof MANIFEST_VERSION;
  site: string;
  /** The snapshot id operators see. */
  cutId: string;
  jobId: string;
  reason: string;
  /** When the cut was taken (the controller's clock at the cut step). */
  createdAt: Date;
  sealedAt: Date;
  /** First freeze call to last thaw answer, as the controller measured it. */
  freezeWindowMs: number;
  agents: { host: string; components: string[]; freezeWindowMs: number }[];
  /**
   * Where the freeze window went, step by step as the controller timed each fan-out: `freeze writers`
   * (the PostgreSQL agents' PAUSE), `freeze others` (shards, the uploads shield's settle), `cut`, `thaw`.
   * Absent in manifests of earlier versions.
   */
  freezeSteps?: { step: string; ms: number }[];
  components: ManifestComponent[];
  totals: { bytes: number; files: number; dataAddedBytes: number };
  /** Feature-vector model per gallery (from the Tarantool artifacts), e.g. `ffsec_face_objects: face-v1`. */
  models: Record<string, string>;
}

/** A manifest's totals over its components. */
export function totalsOf(components: readonly ComponentArtifact[]): Manifest['totals'] {
  return {
    bytes: components.reduce((s, c) => s + c.bytes, 0),
    files: components.reduce((s, c) => s + c.files, 0),
    dataAddedBytes: components.reduce((s, c) => s + c.dataAddedBytes, 0),
  };
}

/** Feature-vector model per gallery, from the Tarantool artifacts' `model:<gallery>` details. */
export function modelsOf(components: readonly ComponentArtifact[]): Record<string, string> {
  const models: Record<string, string> = {};
  for (const c of components) {
    for (const [k, v] of Object.entries(c.details ?? {})) if (k.startsWith('model:')) models[k.slice(6)] = String(v);
  }
  return models;
}

/** What `snapshot list/show` shows of a sealed cut. */
export interface SnapshotSummary {
  id: string;
  site: string;
  createdAt: Date;
  sealedAt: Date;
  freezeWindowMs: number;
  bytes: number;
  dataAddedBytes: number;
  components: string[];
  status: string;
  jobId: string;
  reason: string;
  /** The snapshot's latest verification (`ffkeeper verify`), when it was verified. */
  verification?: Verification;
}

/** The summary of a sealed cut, from its manifest. */
export function summarize(m: Manifest): SnapshotSummary {
  return {
    id: m.cutId,
    site: m.site,
    createdAt: m.createdAt,
    sealedAt: m.sealedAt,
    freezeWindowMs: m.freezeWindowMs,
    bytes: m.totals.bytes,
    dataAddedBytes: m.totals.dataAddedBytes,
    components: m.components.map((c) => c.component),
    status: 'sealed',
    jobId: m.jobId,
    reason: m.reason,
  };
}
