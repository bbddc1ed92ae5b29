/**
 * The agent's job service: what the Agent gRPC service does, free of transports. It opens the site's
 * repository per job from the access the controller sends (never stored), runs the cut protocol through
 * the CutParticipant and restores components through their drivers.
 */
import { NotFoundError, ValidationError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import type { Repository } from '../../shared/repository/repository.js';
import { CutParticipant } from './cut-participant.js';
import { runIntegrityCheck, type CommandRunner, type IntegrityVerdict } from './integrity.js';
import type { ServiceManager } from './ports.js';
import type { ComponentArtifact, ComponentDriver, CutPoint, DriverProgress, RestoreStepReport } from './drivers/types.js';

/** How to open the site's repository for one job. The password is a secret: never logged. */
export interface RepositoryAccess {
  url: string;
  password: string;
  env: Record<string, string>;
}

export type OpenRepository = (access: RepositoryAccess) => Repository;

export interface AgentJobsOptions {
  drivers: readonly ComponentDriver[];
  openRepository: OpenRepository;
  services: ServiceManager;
  integrityCheck?: { command: readonly string[]; timeoutMs: number };
  runCommand: CommandRunner;
  logger: Logger;
}

export class AgentJobs {
  readonly participant: CutParticipant;

  constructor(private readonly options: AgentJobsOptions) {
    this.participant = new CutParticipant({ drivers: (refs) => this.select(refs), logger: options.logger });
  }

  /** The drivers of the named components; all when none are named. */
  select(refs: readonly string[]): ComponentDriver[] {
    if (refs.length === 0) return [...this.options.drivers];
    return refs.map((ref) => {
      const d = this.options.drivers.find((x) => x.ref === ref);
      if (!d) {
        const known = this.options.drivers.map((x) => x.ref).join(', ') || 'none';
        throw new NotFoundError(`component '${ref}' is not served by this agent (it serves: ${known})`);
      }
      return d;
    });
  }

  /** Checks the repository opens with this access, then prepares the cut. */
  async prepare(req: { cutId: string; components: string[]; leaseMs: number; repository: RepositoryAccess }): Promise<string[]> {
    if (req.leaseMs <= 0) throw new ValidationError('leaseMs must be positive', { field: 'leaseMs' });
    await this.open(req.repository).describe();
    await this.participant.prepare({ cutId: req.cutId, components: req.components, leaseMs: req.leaseMs });
    return this.select(req.components).map((d) => d.ref);
  }

  freeze(cutId: string): Promise<void> {
    return this.participant.freeze(cutId);
  }

  cut(cutId: string): Promise<CutPoint[]> {
    return this.participant.cut(cutId);
  }

  thaw(cutId: string): Promise<{ freezeWindowMs: number }> {
    return this.participant.thaw(cutId);
  }

  abort(cutId: string, reason: string): Promise<void> {
    return this.participant.abort(cutId, reason);
  }

  upload(req: {
    cutId: string;
    jobId: string;
    site: string;
    repository: RepositoryAccess;
    onProgress?: (p: DriverProgress) => void;
    signal?: AbortSignal;
  }): Promise<ComponentArtifact[]> {
    return this.participant.upload(req.cutId, {
      jobId: req.jobId,
      site: req.site,
      repository: this.open(req.repository),
      logger: this.options.logger.child({ jobId: req.jobId, cutId: req.cutId }),
      ...(req.onProgress ? { onProgress: req.onProgress } : {}),
      ...(req.signal ? { signal: req.signal } : {}),
    });
  }

  /** Restores the artifacts one component after another; stops at the first failure. */
  async restore(req: {
    jobId: string;
    artifacts: ComponentArtifact[];
    repository: RepositoryAccess;
    targetDir?: string;
    onProgress?: (p: DriverProgress) => void;
    onStep?: (component: string, step: RestoreStepReport) => void;
    signal?: AbortSignal;
  }): Promise<{ component: string; steps: RestoreStepReport[] }[]> {
    const drivers = this.select(req.artifacts.map((a) => a.component));
    const repository = this.open(req.repository);
    const reports = [];
    for (const [i, driver] of drivers.entries()) {
      const artifact = req.artifacts[i] as ComponentArtifact;
      const report = await driver.restore({
        jobId: req.jobId,
        artifact,
        repository,
        logger: this.options.logger.child({ jobId: req.jobId, component: driver.ref }),
        ...(req.targetDir ? { targetDir: req.targetDir } : {}),
        ...(req.onProgress ? { onProgress: req.onProgress } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      for (const step of report.steps) req.onStep?.(driver.ref, step);
      reports.push(report);
    }
    return reports;
  }

  /** Starts or stops units, in the given order; the first failure stops and names the unit. */
  async controlUnits(action: 'start' | 'stop', units: readonly string[]): Promise<void> {
    if (action !== 'start' && action !== 'stop') throw new ValidationError(`unit action '${String(action)}' must be start or stop`, { field: 'action' });
    for (const unit of units) {
      if (action === 'stop') await this.options.services.stop(unit);
      else await this.options.services.start(unit);
    }
  }

  runCheck(): Promise<IntegrityVerdict> {
    return runIntegrityCheck(this.options.integrityCheck, this.options.runCommand);
  }

  private open(access: RepositoryAccess): Repository {
    if (!access.url) throw new ValidationError('repository url is missing', { field: 'repository.url' });
    if (!access.password) throw new ValidationError('repository password is missing', { field: 'repository.password' });
    return this.options.openRepository(access);
  }
}
