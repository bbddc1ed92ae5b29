/**
 * The result of verifying a snapshot (`ffkeeper verify`, DESIGN.md §7): repository check, restore drill
 * of each component into a sandbox, the site's integrity check on the sandbox. Stored with the snapshot
 * (the controller's verification store) and shown by `snapshot list/show`.
 */

/** One step of a verification, in the order it ran. */
export interface VerificationStep {
  /** `repository-check`, `drill <kind:name>`, `integrity-check`, `drop-sandbox`. */
  name: string;
  /** The agent's host, for steps that ran on one. */
  host?: string;
  ok: boolean;
  durationMs: number;
  /** What was found or done, for people. */
  detail: string;
}

/** A snapshot's latest verification. */
export interface Verification {
  site: string;
  snapshotId: string;
  jobId: string;
  /** When the verification finished. */
  time: Date;
  ok: boolean;
  /** The repository check read every stored byte (`--read-data`). */
  readData: boolean;
  durationMs: number;
  steps: VerificationStep[];
  /** The integrity check's counts, when it ran. */
  integrity?: { errors: number; warnings: number; summary: string; host: string };
  /** Why it failed, in one line (the job's error). */
  error?: string;
}
