/**
 * Manifest types both sides share: where each component fixed its point in time (cut point) and what
 * its upload stored (artifact). The controller seals a snapshot by writing a manifest of these.
 */

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
