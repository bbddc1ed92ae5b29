/**
 * The agent's verify-drill sandboxes (DESIGN.md §7): restores a snapshot's components of this host into
 * a sandbox through their drivers (scratch database, scratch Tarantool instance, temp directories; the
 * live site is never touched), says where each can be reached, and drops sandboxes — releasing every
 * resource in the sandbox's ledger through the driver that made it, newest first, then removing the
 * directory. A drop is idempotent; a sandbox whose release failed keeps its ledger so a later drop can
 * finish it. At agent start every sandbox left by a previous run is dropped (`dropAll`).
 */
import { ConflictError, InternalError, ValidationError } from '../../../shared/errors.js';
import type { Logger } from '../../../shared/logger.js';
import type { Repository } from '../../../shared/repository/repository.js';
import { checkSandboxId, type SandboxComponent } from '../../../shared/sandbox.js';
import type { ComponentArtifact, ComponentDriver, DriverProgress, RestoreStepReport } from '../drivers/types.js';
import type { SandboxStore } from './ports.js';

export interface SandboxManagerOptions {
  /** The drivers of the named components (throws NotFoundError naming an unknown one). */
  select: (refs: readonly string[]) => ComponentDriver[];
  store: SandboxStore;
  logger: Logger;
}

export interface SandboxRestoreRequest {
  sandboxId: string;
  jobId: string;
  artifacts: ComponentArtifact[];
  repository: Repository;
  onProgress?: (p: DriverProgress) => void;
  onStep?: (component: string, step: RestoreStepReport) => void;
  signal?: AbortSignal;
}

export interface SandboxRestoreResult {
  reports: { component: string; steps: RestoreStepReport[] }[];
  components: SandboxComponent[];
}

export interface DropResult {
  existed: boolean;
  released: string[];
}

export class SandboxManager {
  /** Restores running now, by sandbox id: a drop waits for them to end (they are cancelled by then). */
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly options: SandboxManagerOptions) {}

  /** Restores the artifacts into a new sandbox, one component after another; stops at the first failure. */
  async restore(req: SandboxRestoreRequest): Promise<SandboxRestoreResult> {
    const id = checkSandboxId(req.sandboxId);
    if (this.running.has(id) || (await this.options.store.exists(id))) {
      throw new ConflictError(`sandbox '${id}' already exists on this agent; drop it first`);
    }
    const drivers = this.options.select(req.artifacts.map((a) => a.component));
    for (const d of drivers) {
      if (!d.restoreSandbox) throw new ValidationError(`component ${d.ref} cannot be restored into a sandbox`, { field: 'artifacts' });
    }
    const work = this.restoreAll(id, drivers, req);
    this.running.set(id, work.catch(() => undefined));
    try {
      return await work;
    } finally {
      this.running.delete(id);
    }
  }

  private async restoreAll(id: string, drivers: ComponentDriver[], req: SandboxRestoreRequest): Promise<SandboxRestoreResult> {
    const result: SandboxRestoreResult = { reports: [], components: [] };
    for (const [i, driver] of drivers.entries()) {
      const artifact = req.artifacts[i] as ComponentArtifact;
      const dir = await this.options.store.componentDir(id, driver.ref);
      const report = await (driver.restoreSandbox as NonNullable<ComponentDriver['restoreSandbox']>)({
        sandboxId: id,
        jobId: req.jobId,
        artifact,
        repository: req.repository,
        dir,
        record: (resource) => this.options.store.record(id, resource),
        logger: this.options.logger.child({ jobId: req.jobId, sandboxId: id, component: driver.ref }),
        ...(req.onProgress ? { onProgress: req.onProgress } : {}),
        ...(req.signal ? { signal: req.signal } : {}),
      });
      for (const step of report.steps) req.onStep?.(driver.ref, step);
      result.reports.push({ component: report.component, steps: report.steps });
      result.components.push(report.endpoint);
    }
    return result;
  }

  /** True when the agent holds the sandbox (being restored into, or restored). */
  async has(sandboxId: string): Promise<boolean> {
    const id = checkSandboxId(sandboxId);
    return this.running.has(id) || this.options.store.exists(id);
  }

  /** Writes a file into the sandbox (e.g. the description an integrity check reads); returns its path. */
  writeFile(sandboxId: string, name: string, content: string): Promise<string> {
    return this.options.store.writeFile(checkSandboxId(sandboxId), name, content);
  }

  /**
   * Releases every resource of the sandbox (newest first) and removes its directory. Idempotent. When a
   * release fails the others still run, the directory and ledger stay, and the error names what is left.
   */
  async drop(sandboxId: string): Promise<DropResult> {
    const id = checkSandboxId(sandboxId);
    await this.running.get(id);
    const resources = await this.options.store.resources(id);
    if (resources === undefined) return { existed: false, released: [] };
    const released: string[] = [];
    const failed: string[] = [];
    for (const resource of [...resources].reverse()) {
      const [driver] = this.driverOf(resource.component);
      if (!driver?.releaseSandbox) {
        failed.push(`${resource.kind} of ${resource.component}: no driver of this agent releases it`);
        continue;
      }
      try {
        released.push(await driver.releaseSandbox(resource));
      } catch (err) {
        failed.push(`${resource.kind} of ${resource.component}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (failed.length > 0) {
      throw new InternalError(`sandbox '${id}' was not dropped completely (kept in ${this.options.store.root}, dropped again at agent start): ${failed.join('; ')}`);
    }
    await this.options.store.remove(id);
    released.push(`directory ${this.options.store.root}/${id} removed`);
    this.options.logger.info({ sandboxId: id, released }, 'sandbox dropped');
    return { existed: true, released };
  }

  /** Drops every sandbox present (agent start: leftovers of a previous run; agent stop). Never throws. */
  async dropAll(reason: string): Promise<string[]> {
    const dropped: string[] = [];
    let ids: string[];
    try {
      ids = await this.options.store.list();
    } catch (err) {
      this.options.logger.warn({ err }, `could not list sandboxes (${reason})`);
      return dropped;
    }
    for (const id of ids) {
      try {
        await this.drop(id);
        dropped.push(id);
      } catch (err) {
        this.options.logger.warn({ err, sandboxId: id }, `could not drop sandbox (${reason})`);
      }
    }
    if (dropped.length > 0) this.options.logger.warn({ sandboxes: dropped }, `dropped sandboxes: ${reason}`);
    return dropped;
  }

  private driverOf(ref: string): ComponentDriver[] {
    try {
      return this.options.select([ref]);
    } catch {
      return [];
    }
  }
}
