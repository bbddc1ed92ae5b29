/**
 * ffkeeper's side of the throughput cases: a real agent process (the built `dist/bin/ffkeeper-agent.mjs`, as
 * an operator runs it) driven over its gRPC service exactly as the controller drives it during a
 * snapshot — Prepare, Freeze, Cut, Thaw, Upload — and a restore through its Restore call. The times are
 * what the controller waits for: from Prepare to the Upload's result, and the Restore call.
 */
import { performance } from 'node:perf_hooks';
import type { AgentRestoreStep, RepositoryAccess } from '../../controller/domain/ports.js';
import { GrpcAgentClient } from '../../controller/transport/grpc-agent-client.js';
import { IllegalStateError } from '../../shared/errors.js';
import type { ComponentArtifact } from '../../shared/manifest.js';
import { BIN, runProcess, waitFor, type TestProcess } from '../../test/harness/processes.js';
import { controllerSecurity } from '../../test/harness/pki.js';

/** Deadline of the short cut calls (prepare, freeze, cut, thaw, abort). */
const CALL_MS = 60_000;
/** Deadline of an upload or a restore (1 GB on a busy 2-core machine takes minutes at worst). */
const LONG_MS = 60 * 60_000;
/** Freeze lease: generous, the bench measures throughput, not the window. */
const LEASE_MS = 60_000;

/** One restic process the agent ran, from its debug log (`restic start` → `restic end`). */
export interface ResticRun {
  operation: string;
  ms: number;
}

export interface AgentSnapshot {
  artifacts: ComponentArtifact[];
  /** The restic processes the agent ran for this snapshot, in order. */
  restic: ResticRun[];
  /** Prepare → Upload result, ms. */
  totalMs: number;
  /** The Upload call alone, ms. */
  uploadMs: number;
  freezeWindowMs: number;
}

/** A running agent process and a gRPC client to it. */
export class BenchAgent {
  private readonly client = new GrpcAgentClient({ security: controllerSecurity() });
  private cuts = 0;

  private constructor(
    private readonly process: TestProcess,
    readonly address: string,
    readonly site: string,
  ) {}

  /** Starts `dist/agent/main.js --config FILE` (debug log: its restic runs are timed from it) and waits for its gRPC address. */
  static async start(configFile: string, site: string): Promise<BenchAgent> {
    const proc = runProcess(BIN.agent, ['--config', configFile], { FFK_AGENT_LOG__LEVEL: 'debug' });
    try {
      const { value } = await waitFor(async () => {
        if (proc.child.exitCode !== null) throw new IllegalStateError(`agent exited (${proc.child.exitCode}): ${proc.logs().slice(-2000)}`);
        return proc.logs().match(/"grpcAddress":"([^"]+)"/)?.[1];
      }, 30_000);
      return new BenchAgent(proc, value, site);
    } catch (err) {
      await proc.kill();
      throw err;
    }
  }

  get pid(): number | undefined {
    return this.process.child.pid;
  }

  /** Prepares and aborts a cut: the driver opens (the uploads shield seeds) before anything is timed. */
  async warm(components: string[], repository: RepositoryAccess): Promise<void> {
    const cutId = this.nextCut('warm');
    await this.client.prepare(this.address, { cutId, site: this.site, components, leaseMs: LEASE_MS, repository }, { timeoutMs: LONG_MS });
    await this.client.abort(this.address, cutId, 'bench warm-up', { timeoutMs: CALL_MS });
  }

  /**
   * One snapshot of `components` into `repository`, timed as the controller sees it. `parents`: what the
   * controller sends from its catalog — each component's previous snapshot, none for a site's first
   * (then the agent looks nothing up); without it the agent lists the repository for a parent itself.
   */
  async snapshot(components: string[], repository: RepositoryAccess, parents?: Record<string, string>): Promise<AgentSnapshot> {
    const cutId = this.nextCut('cut');
    const t = { timeoutMs: CALL_MS };
    const mark = this.process.logs().length;
    const t0 = performance.now();
    const said = parents ? { parents, parentsComplete: true } : {};
    await this.client.prepare(this.address, { cutId, site: this.site, components, leaseMs: LEASE_MS, repository, ...said }, t);
    let freezeWindowMs: number;
    try {
      await this.client.freeze(this.address, cutId, t);
      await this.client.cut(this.address, cutId, t);
      ({ freezeWindowMs } = await this.client.thaw(this.address, cutId, t));
    } catch (err) {
      await this.client.abort(this.address, cutId, 'bench: cut failed', t).catch(() => undefined);
      throw err;
    }
    const t1 = performance.now();
    const artifacts = await this.client.upload(
      this.address,
      { cutId, jobId: `job-${cutId}`, site: this.site, repository, ...said },
      { timeoutMs: LONG_MS },
    );
    const t2 = performance.now();
    return { artifacts, restic: resticRuns(this.process.logs().slice(mark)), totalMs: t2 - t0, uploadMs: t2 - t1, freezeWindowMs };
  }

  /** Restores `artifacts` (into `targetDir` when given, else in place); returns the steps and the time. */
  async restore(artifacts: ComponentArtifact[], repository: RepositoryAccess, targetDir?: string): Promise<{ ms: number; steps: AgentRestoreStep[] }> {
    const jobId = this.nextCut('restore');
    const t0 = performance.now();
    const steps = await this.client.restore(this.address, { jobId, artifacts, repository, ...(targetDir ? { targetDir } : {}) }, { timeoutMs: LONG_MS });
    const ms = performance.now() - t0;
    const failed = steps.find((s) => !s.ok);
    if (failed) throw new IllegalStateError(`agent restore step '${failed.step}' failed: ${failed.detail}`);
    return { ms, steps };
  }

  /** Stops the agent (SIGTERM, SIGKILL if it hangs) and closes the client. */
  async stop(): Promise<void> {
    this.client.close();
    const timer = setTimeout(() => void this.process.kill(), 15_000);
    await this.process.stop();
    clearTimeout(timer);
  }

  /** The agent's log so far (for error reports). */
  logs(): string {
    return this.process.logs();
  }

  private nextCut(kind: string): string {
    this.cuts += 1;
    return `bench-${kind}-${this.cuts}`;
  }
}

/** Repository access for the agent: a local repository directory and the bench password. */
export function accessTo(url: string, password: string, extra: Partial<Pick<RepositoryAccess, 'caCert' | 'ssh' | 'env'>> = {}): RepositoryAccess {
  return { url, password, env: {}, ...extra };
}

/** The restic runs in a slice of the agent's debug log (its jobs run restic one process at a time). */
export function resticRuns(log: string): ResticRun[] {
  const runs: ResticRun[] = [];
  let started: { operation: string; time: number } | undefined;
  for (const line of log.split('\n')) {
    if (!line.includes('"msg":"restic ')) continue;
    let entry: { msg?: string; operation?: string; time?: number };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      continue; // a line still being written
    }
    if (entry.msg === 'restic start' && typeof entry.time === 'number') started = { operation: entry.operation ?? '?', time: entry.time };
    else if (entry.msg === 'restic end' && started && typeof entry.time === 'number') {
      runs.push({ operation: started.operation, ms: entry.time - started.time });
      started = undefined;
    }
  }
  return runs;
}
