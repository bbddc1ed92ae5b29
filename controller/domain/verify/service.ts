/**
 * The verify use case behind the Controller service: starts a verification as a job of kind `verify`
 * (holding the site's lease, so it never overlaps a snapshot or a prune of the site), and adds each
 * snapshot's latest verification to the summaries `snapshot list/show` print.
 */
import type { SnapshotSummary } from '../../../shared/manifest.js';
import type { JobRunner, RunningJob } from '../jobs.js';
import type { LeaseMode, SiteLeases } from '../leases.js';
import type { VerificationStore } from '../ports.js';
import type { Verifier, VerifyRequest } from './verifier.js';

export type { VerifyRequest } from './verifier.js';

export interface VerifyServiceDeps {
  verifier: Verifier;
  jobs: JobRunner;
  verifications: VerificationStore;
  /** The site's lease (snapshots, prunes and verifications exclude each other); none: no exclusion. */
  leases?: SiteLeases;
}

export class VerifyService {
  constructor(private readonly deps: VerifyServiceDeps) {}

  /**
   * Starts a verify job. A request naming no snapshot of the site (or a site without one) is refused
   * before any job exists; a site busy with another snapshot, prune or verify refuses it too, unless
   * `mode` says to wait.
   */
  async start(req: VerifyRequest, mode: LeaseMode = { wait: false }): Promise<RunningJob> {
    const manifest = await this.deps.verifier.select(req);
    const pinned: VerifyRequest = { ...req, snapshotId: manifest.cutId };
    const leases = this.deps.leases;
    return this.deps.jobs.start(
      'verify',
      req.site,
      async (ctx) => {
        await this.deps.verifier.run(ctx, pinned);
      },
      { snapshotId: manifest.cutId, readData: req.readData },
      leases ? leases.forJob(req.site, 'verify', mode) : {},
    );
  }

  /** The summaries with each snapshot's latest verification. */
  async annotate(site: string, summaries: SnapshotSummary[]): Promise<SnapshotSummary[]> {
    const byId = new Map((await this.deps.verifications.list(site)).map((v) => [v.snapshotId, v]));
    return summaries.map((s) => {
      const v = byId.get(s.id);
      return v ? { ...s, verification: v } : s;
    });
  }
}
