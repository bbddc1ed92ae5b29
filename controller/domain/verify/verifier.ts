/**
 * Verifies a snapshot (DESIGN.md §7) under a job: the site's repository check (with `readData`, every
 * stored byte), then a restore drill of every component into a sandbox on the agent that took it (hosts in
 * parallel: scratch database, scratch Tarantool instances started from the checkpoint files, temp
 * directories — the live site is never touched), then the site's integrity check on those sandboxes; the
 * sandboxes are always dropped at the end, and the result is stored with the snapshot. Any failure fails
 * the job with a message naming the snapshot; a damaged pack is traced to the snapshots that use it when
 * the repository can tell.
 */
import { NotFoundError, UnavailableError, ValidationError } from '../../../shared/errors.js';
import { checkSiteId } from '../../../shared/ids.js';
import type { Logger } from '../../../shared/logger.js';
import { artifactsByHost, type Manifest } from '../../../shared/manifest.js';
import type { Repository } from '../../../shared/repository/repository.js';
import type { SandboxDescription } from '../../../shared/sandbox.js';
import { parseSnapshotTags, siteTag } from '../../../shared/tags.js';
import type { Verification } from '../../../shared/verification.js';
import { deadlineFor, type AgentDeadlines } from '../deadlines.js';
import type { FleetInventory } from '../fleet.js';
import type { JobContext } from '../jobs.js';
import type { ControllerMetrics } from '../metrics.js';
import type { AgentClient, CatalogStore, IntegrityReport, RepositoryAccess, SecondaryRepository, SiteRepositories, VerificationStore } from '../ports.js';
import type { RepositorySide } from '../snapshot/copy.js';
import { catalogOf, newestOf } from '../restore/select.js';
import { drillHost, type DrillContext, type HostDrill } from './drill.js';
import { messageOf, StepLog, VerifyFailedError } from './steps.js';

export interface VerifyRequest {
  site: string;
  /** Empty: the site's newest sealed snapshot. */
  snapshotId?: string;
  readData: boolean;
  /**
   * Verify the copy in the site's secondary repository instead (its check, and the drill reading it). Such a
   * verification is the job's result only: the stored verification shown with the snapshot stays the primary's.
   */
  from?: RepositorySide;
}

export interface VerifierDeps {
  catalog: CatalogStore;
  fleet: FleetInventory;
  agents: AgentClient;
  repositories: SiteRepositories;
  verifications: VerificationStore;
  /** The sealed snapshots in a site's secondary repository (`from: 'secondary'`; of one cut, when given), read from it. */
  secondaryManifests: (site: string, cutId?: string) => Promise<Manifest[]>;
  /** Deadlines of agent calls: a host's drill, the integrity check, dropping a sandbox. */
  deadlines: AgentDeadlines;
  metrics?: ControllerMetrics;
  logger: Logger;
  now?: () => Date;
}

/** What one verification has found so far. */
interface Run {
  ctx: JobContext;
  manifest: Manifest;
  from: RepositorySide;
  readData: boolean;
  log: StepLog;
  /** Hosts that may hold a sandbox of this job (asked to restore into one, or to check one). */
  hosts: Set<string>;
  integrity?: Verification['integrity'];
}

export class Verifier {
  constructor(private readonly deps: VerifierDeps) {}

  /** Picks the snapshot: by id (of this site), or the site's newest sealed one. */
  async select(req: VerifyRequest): Promise<Manifest> {
    checkSiteId(req.site);
    const secondary = req.from === 'secondary';
    const catalog = secondary ? catalogOf(await this.deps.secondaryManifests(req.site, req.snapshotId || undefined)) : this.deps.catalog;
    const where = secondary ? ' in its secondary repository' : '';
    if (req.snapshotId) {
      const m = await catalog.get(req.site, req.snapshotId);
      if (!m) throw new NotFoundError(`snapshot '${req.snapshotId}' not found for site '${req.site}'${where}`);
      return m;
    }
    const newest = newestOf(await catalog.list(req.site));
    if (!newest) throw new NotFoundError(`site '${req.site}' has no sealed snapshot to verify${where}`);
    return newest;
  }

  /** Verifies under the job `ctx`; stores and returns the verification, or throws `VerifyFailedError` after storing it. */
  async run(ctx: JobContext, req: VerifyRequest): Promise<Verification> {
    const started = Date.now();
    ctx.step('select', `selecting the snapshot of site '${req.site}' to verify`);
    const manifest = await this.select(req);
    const from = req.from ?? 'primary';
    Object.assign(ctx.detail, { snapshotId: manifest.cutId, readData: req.readData, from });
    await ctx.save();
    const run: Run = { ctx, manifest, from, readData: req.readData, log: new StepLog(), hosts: new Set() };
    let failure: unknown;
    try {
      await this.checkRepository(run);
      const sandbox = await this.drill(run);
      await this.checkIntegrity(run, sandbox);
    } catch (err) {
      failure = err;
    }
    await this.dropSandboxes(run);
    const verification = await this.record(run, started, failure);
    if (failure !== undefined) throw failure;
    ctx.step('done', `snapshot '${manifest.cutId}' of site '${manifest.site}' verified: ${stepSummary(verification)}`);
    return verification;
  }

  private async checkRepository(run: Run): Promise<void> {
    const { ctx, manifest, readData } = run;
    ctx.step('repository-check', `checking the ${run.from === 'secondary' ? 'secondary ' : ''}repository of site '${manifest.site}'${readData ? ', reading every stored byte' : ''}`);
    await run.log.run(
      'repository-check',
      async () => {
        let repo: Repository;
        let result;
        try {
          repo = run.from === 'secondary' ? (await this.secondary(manifest)).repository : await this.deps.repositories.open(manifest.site);
          result = await repo.check({ readData }, { signal: ctx.signal });
        } catch (err) {
          throw new VerifyFailedError({ stage: 'repository-check', message: `snapshot '${manifest.cutId}' of site '${manifest.site}': repository check could not run: ${messageOf(err)}`, cause: err });
        }
        if (result.ok) return;
        const shown = result.problems.slice(0, 3).join('; ') + (result.problems.length > 3 ? ` (and ${result.problems.length - 3} more)` : '');
        const traced = await this.traceDamage(repo, manifest, result.damagedPacks ?? []);
        throw new VerifyFailedError({ stage: 'repository-check', message: `snapshot '${manifest.cutId}' of site '${manifest.site}': repository check failed: ${shown}${traced}` });
      },
      () => `no errors${readData ? ' (every stored byte read)' : ' (structure; --read-data reads every byte)'}`,
    );
  }

  /** Which cuts use the damaged packs, for the message; empty when the repository cannot tell. */
  private async traceDamage(repo: Repository, manifest: Manifest, packs: string[]): Promise<string> {
    if (packs.length === 0 || !repo.snapshotsUsingPacks) return '';
    try {
      const ids = new Set(await repo.snapshotsUsingPacks(packs));
      const cuts = new Set<string>();
      for (const s of await repo.listSnapshots({ tags: [siteTag(manifest.site)] })) {
        const cut = ids.has(s.id) ? parseSnapshotTags(s.tags)?.cutId : undefined;
        if (cut) cuts.add(cut);
      }
      const list = [...cuts].sort();
      const mine = list.includes(manifest.cutId) ? 'this snapshot is damaged' : 'this snapshot does not use them';
      return `; damaged pack(s) ${packs.map((p) => p.slice(0, 12)).join(', ')} hold data of snapshot(s) ${list.join(', ') || '(none)'}: ${mine}`;
    } catch (err) {
      this.deps.logger.warn({ err, site: manifest.site }, 'could not trace damaged packs to snapshots');
      return `; damaged pack(s) ${packs.map((p) => p.slice(0, 12)).join(', ')}`;
    }
  }

  /** Restores every component into a sandbox on its own host; hosts in parallel. Returns the merged description. */
  private async drill(run: Run): Promise<SandboxDescription> {
    const { ctx, manifest } = run;
    ctx.step('drill', `restore drill of snapshot '${manifest.cutId}' into sandboxes (${manifest.components.length} components)`);
    const access = await this.access(manifest, run.from);
    const byHost = artifactsByHost(manifest.components);
    const drill: DrillContext = { ctx, agents: this.deps.agents, access, deadline: deadlineFor(this.deps.deadlines, 'transferMs', 'restore drill'), log: run.log };
    const results = await Promise.allSettled(
      [...byHost].map(async ([host, artifacts]): Promise<HostDrill> => {
        const address = this.addressOf(manifest.site, host, 'restore into a sandbox');
        run.hosts.add(host);
        return drillHost(drill, { host, address, artifacts });
      }),
    );
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown);
    if (failed.length > 0) {
      throw new VerifyFailedError({
        stage: 'drill',
        message: `snapshot '${manifest.cutId}' of site '${manifest.site}': restore drill failed: ${failed.map(messageOf).join('; ')}`,
        cause: failed[0],
      });
    }
    const components = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.components : []));
    return { sandboxId: ctx.id, snapshotId: manifest.cutId, site: manifest.site, components };
  }

  private async secondary(manifest: Manifest): Promise<SecondaryRepository> {
    const secondary = await this.deps.repositories.secondary(manifest.site);
    if (!secondary) throw new ValidationError(`site '${manifest.site}' has no secondary repository configured`, { field: 'from' });
    return secondary;
  }

  private async access(manifest: Manifest, from: RepositorySide): Promise<RepositoryAccess> {
    try {
      return from === 'secondary' ? (await this.secondary(manifest)).access : await this.deps.repositories.access(manifest.site);
    } catch (err) {
      throw new VerifyFailedError({ stage: 'drill', message: `snapshot '${manifest.cutId}' of site '${manifest.site}': cannot open the repository for the drill: ${messageOf(err)}`, cause: err });
    }
  }

  /** The site's integrity check on the sandboxes, on the first agent that has one (PostgreSQL hosts first). */
  private async checkIntegrity(run: Run, sandbox: SandboxDescription): Promise<void> {
    const { ctx, manifest } = run;
    ctx.step('integrity-check', `checking the integrity of the sandboxes of snapshot '${manifest.cutId}'`);
    const failures: string[] = [];
    for (const { host, address } of this.checkCandidates(manifest.site)) {
      run.hosts.add(host);
      let report: IntegrityReport;
      const started = Date.now();
      try {
        report = await this.deps.agents.runCheck(address, { ...deadlineFor(this.deps.deadlines, 'checkMs', `the integrity check of the sandbox on host '${host}'`), sandbox });
      } catch (err) {
        failures.push(`host '${host}': ${messageOf(err)}`);
        continue;
      }
      if (!report.configured) continue;
      const durationMs = Date.now() - started;
      run.integrity = { errors: report.errors, warnings: report.warnings, summary: report.summary, host };
      run.log.add({ name: 'integrity-check', host, ok: report.errors === 0, durationMs, detail: report.summary });
      if (report.errors > 0) {
        throw new VerifyFailedError({ stage: 'integrity-check', message: `snapshot '${manifest.cutId}' of site '${manifest.site}': the integrity check of its sandbox (host '${host}') found ${report.errors} error(s), ${report.warnings} warning(s): ${report.summary}` });
      }
      return;
    }
    if (failures.length > 0) {
      run.log.add({ name: 'integrity-check', ok: false, durationMs: 0, detail: failures.join('; ') });
      throw new VerifyFailedError({ stage: 'integrity-check', message: `snapshot '${manifest.cutId}' of site '${manifest.site}': the integrity check could not run (${failures.join('; ')})`, cause: new UnavailableError(failures.join('; ')) });
    }
    run.log.add({ name: 'integrity-check', ok: true, durationMs: 0, detail: `no agent of site '${manifest.site}' has an integrity check configured: only the restore was proven` });
  }

  /** Drops the sandbox on every host that may hold one; never throws (a failure is a step, and the agent retries at its restart). */
  private async dropSandboxes(run: Run): Promise<void> {
    const { ctx, manifest } = run;
    if (run.hosts.size === 0) return;
    ctx.step('drop-sandbox', `dropping the sandboxes of job ${ctx.id}`);
    const started = Date.now();
    const results = await Promise.allSettled(
      [...run.hosts].map(async (host) => {
        const r = await this.deps.agents.dropSandbox(this.addressOf(manifest.site, host, 'drop its sandbox'), ctx.id, deadlineFor(this.deps.deadlines, 'checkMs', `dropping the sandbox on host '${host}'`));
        return `${host}: ${r.existed ? r.released.length : 0} released`;
      }),
    );
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`host '${[...run.hosts][i]}': ${messageOf(r.reason)}`] : []));
    const done = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const detail = failed.length > 0 ? `NOT dropped on ${failed.join('; ')} (the agent drops it at its next start)` : done.join(', ');
    run.log.add({ name: 'drop-sandbox', ok: failed.length === 0, durationMs: Date.now() - started, detail });
    if (failed.length > 0) ctx.message(`warning: sandbox of job ${ctx.id} ${detail}`);
  }

  /** Stores the verification with the snapshot, puts it in the job detail, and reports it to the metrics. */
  private async record(run: Run, started: number, failure: unknown): Promise<Verification> {
    const { ctx, manifest } = run;
    const durationMs = Date.now() - started;
    const verification: Verification = {
      site: manifest.site,
      snapshotId: manifest.cutId,
      jobId: ctx.id,
      time: (this.deps.now ?? (() => new Date()))(),
      ok: failure === undefined,
      readData: run.readData,
      durationMs,
      steps: run.log.steps,
      ...(run.integrity ? { integrity: run.integrity } : {}),
      ...(failure === undefined ? {} : { error: messageOf(failure) }),
    };
    if (run.from === 'primary') {
      await this.deps.verifications.put(verification).catch((err: unknown) => this.deps.logger.error({ err, jobId: ctx.id }, 'could not store the verification'));
    }
    ctx.detail.verification = verification;
    await ctx.save().catch(() => undefined);
    this.deps.metrics?.verifyFinished(manifest.site, { ok: verification.ok, durationMs, snapshotId: manifest.cutId });
    return verification;
  }

  /** Hosts to ask for the integrity check: online agents of the site, those with PostgreSQL first. */
  private checkCandidates(site: string): { host: string; address: string }[] {
    const agents = this.deps.fleet.list(site).filter((a) => a.status === 'online');
    const hasPg = (a: (typeof agents)[number]): boolean => a.description.components.some((c) => c.kind === 'postgres');
    return [...agents.filter(hasPg), ...agents.filter((a) => !hasPg(a))].map((a) => ({ host: a.description.host, address: a.description.grpcAddress }));
  }

  private addressOf(site: string, host: string, purpose: string): string {
    const entry = this.deps.fleet.get(site, host);
    if (!entry || entry.status !== 'online') {
      throw new VerifyFailedError({
        stage: 'drill',
        message: `the agent on host '${host}' of site '${site}' is ${entry ? 'offline' : 'unknown'} (needed to ${purpose})`,
        cause: new UnavailableError(`agent ${site}/${host} not online`),
      });
    }
    return entry.description.grpcAddress;
  }

}

/** The manifest entry as the agent takes it: the artifact without the host that took it. */

/** `repository-check ok, drill postgres:x ok (1.2 s), …`, for the job's last message. */
function stepSummary(v: Verification): string {
  return v.steps.map((s) => `${s.name} ${s.ok ? 'ok' : 'FAILED'} (${s.durationMs} ms)`).join(', ');
}
