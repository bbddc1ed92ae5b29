/** The repository calls of the controller's API: storage qualification of a site's repository. */
import { randomBytes } from 'node:crypto';
import { checkSiteId } from '../../../shared/ids.js';
import { NotFoundError, ValidationError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { SiteRepositories } from '../ports.js';
import type { SiteLeases } from '../leases.js';
import { DEFAULT_QUALIFY_BYTES, qualifyRepository, type CredentialSets, type Qualification } from './qualify.js';

/** A new repository's automatic qualification writes less than an operator's (it runs inside a job). */
const NEW_REPOSITORY_QUALIFY_BYTES = 4 * 1024 * 1024;

/** Largest test object a qualification writes (it is stored, read back and deleted). */
export const MAX_QUALIFY_BYTES = 1024 * 1024 * 1024;

export class RepositoryService {
  constructor(
    private readonly deps: {
      repositories: SiteRepositories;
      leases: Pick<SiteLeases, 'with'>;
      /** Whether the controller knows the site: agents seen, or a repository configured for it. */
      knownSite: (site: string) => boolean;
      logger: Logger;
    },
  ) {}

  /** Qualifies the site's storage (see qualify.ts); `bytes` 0 takes the default (16 MiB). */
  async qualify(site: string, bytes = 0): Promise<Qualification> {
    checkSiteId(site);
    const sizeOk = Number.isInteger(bytes) && bytes >= 0 && bytes <= MAX_QUALIFY_BYTES;
    if (!sizeOk) {
      throw new ValidationError(`test size ${bytes} bytes is out of range (1 B to ${MAX_QUALIFY_BYTES} B)`, { field: 'sizeBytes' });
    }
    if (!this.deps.knownSite(site)) throw new NotFoundError(`site '${site}' is unknown: no agent has reported it and no repository is configured for it`);
    // Under the site lease: a qualification's delete takes the repository's exclusive lock, which a backup,
    // verify or prune of the site must not meet.
    const id = randomBytes(6).toString('hex');
    const report = await this.deps.leases.with(site, 'qualify', `qualify-${id}`, { wait: false }, async () =>
      qualifyRepository(site, await this.deps.repositories.credentialSets(site), { bytes: bytes || DEFAULT_QUALIFY_BYTES, id }),
    );
    this.deps.logger.info({ site, ok: report.ok, appendOnly: report.appendOnly, writeMiBps: report.writeMiBps, readMiBps: report.readMiBps, findings: report.findings }, 'repository qualified');
    return report;
  }

  /**
   * Qualification of a repository this controller has just created (inside whatever job first needed it,
   * before agents get access): logged, never thrown — the job goes on; `repo qualify` shows it again.
   */
  async qualifyCreated(site: string, sets: CredentialSets): Promise<void> {
    try {
      const r = await qualifyRepository(site, sets, { bytes: NEW_REPOSITORY_QUALIFY_BYTES, prune: true });
      if (r.ok) this.deps.logger.info({ site, appendOnly: r.appendOnly, writeMiBps: r.writeMiBps, readMiBps: r.readMiBps, findings: r.findings }, 'the new repository qualified');
      else this.deps.logger.warn({ site, appendOnly: r.appendOnly, findings: r.findings }, 'the new repository did not qualify: see `ffkeeper repo qualify`');
    } catch (err) {
      this.deps.logger.warn({ site, err }, 'could not qualify the new repository');
    }
  }
}
