/**
 * The agent's metrics port: how long each component's upload and restore took and how many bytes moved
 * (up: read from the component into the repository; down: restored from the repository). An adapter
 * (agent/transport/metrics.ts, Prometheus) turns the reports into series; `measureDriver` wraps a
 * component driver so that every upload and restore is reported, whoever calls it.
 */
import type { ComponentArtifact, ComponentDriver, CutPoint, DriverProgress, FreezeOptions, PrepareContext, RestoreContext, RestoreReport, StagedComponent, StagedJournal, UploadContext } from './drivers/types.js';

export type JobOperation = 'upload' | 'restore';

export interface AgentJobFinished {
  /** `<kind>:<name>` */
  component: string;
  operation: JobOperation;
  ok: boolean;
  durationMs: number;
  /** Bytes moved by this job (up for uploads, down for restores); what was reported before a failure. */
  bytes: number;
}

/** What the agent's domain reports. Calls never throw and never block. */
export interface AgentMetrics {
  jobFinished(job: AgentJobFinished): void;
}

export const noAgentMetrics: AgentMetrics = { jobFinished: () => undefined };

/**
 * Bytes a job reported in its progress events: the largest `bytesDone` of each step, summed over steps
 * (a restore may fetch in several steps, each counting from 0).
 */
class BytesSeen {
  private readonly byStep = new Map<string, number>();

  observe(p: DriverProgress): void {
    if (p.event?.kind !== 'progress') return;
    const step = p.step ?? '';
    this.byStep.set(step, Math.max(this.byStep.get(step) ?? 0, p.event.bytesDone));
  }

  get total(): number {
    let sum = 0;
    for (const v of this.byStep.values()) sum += v;
    return sum;
  }
}

/** A driver that reports each upload and restore to `metrics`; every other call passes straight through. */
export class MeasuredDriver implements ComponentDriver {
  constructor(
    private readonly inner: ComponentDriver,
    private readonly metrics: AgentMetrics,
  ) {}

  get kind(): CutPoint['kind'] {
    return this.inner.kind;
  }
  get name(): string {
    return this.inner.name;
  }
  get ref(): string {
    return this.inner.ref;
  }

  get opensRepository(): boolean {
    return this.inner.opensRepository === true;
  }

  prepare(ctx?: PrepareContext): Promise<void> {
    return this.inner.prepare(ctx);
  }
  freeze(options?: FreezeOptions): Promise<void> {
    return this.inner.freeze(options);
  }
  cut(): Promise<CutPoint> {
    return this.inner.cut();
  }
  thaw(): Promise<void> {
    return this.inner.thaw();
  }
  release(): Promise<void> {
    return this.inner.release();
  }

  upload(ctx: UploadContext): Promise<ComponentArtifact> {
    return this.measure('upload', ctx, (c) => this.inner.upload(c), (artifact) => artifact.bytes);
  }

  restore(ctx: RestoreContext): Promise<RestoreReport> {
    return this.measure('restore', ctx, (c) => this.inner.restore(c));
  }

  /** The stage of a two-phase restore is where its bytes come down: measured as a restore. */
  stage(ctx: RestoreContext): Promise<StagedComponent> {
    return this.measure('restore', ctx, (c) => this.inner.stage(c));
  }

  recoverStaged(jobId: string, journal: StagedJournal): StagedComponent {
    return this.inner.recoverStaged(jobId, journal);
  }

  async open(): Promise<void> {
    await this.inner.open?.();
  }
  async close(): Promise<void> {
    await this.inner.close?.();
  }

  private async measure<C extends UploadContext | RestoreContext, T>(
    operation: JobOperation,
    ctx: C,
    run: (ctx: C) => Promise<T>,
    bytesOf?: (result: T) => number,
  ): Promise<T> {
    const seen = new BytesSeen();
    const forward = ctx.onProgress;
    const observed: C = {
      ...ctx,
      onProgress: (p: DriverProgress) => {
        seen.observe(p);
        forward?.(p);
      },
    };
    const started = Date.now();
    const report = (ok: boolean, bytes: number): void =>
      this.metrics.jobFinished({ component: this.ref, operation, ok, durationMs: Date.now() - started, bytes });
    let result: T;
    try {
      result = await run(observed);
    } catch (err) {
      report(false, seen.total);
      throw err;
    }
    report(true, bytesOf ? bytesOf(result) : seen.total);
    return result;
  }
}

/** Wraps every driver with `MeasuredDriver`. */
export function measureDrivers(drivers: readonly ComponentDriver[], metrics: AgentMetrics): ComponentDriver[] {
  return drivers.map((d) => new MeasuredDriver(d, metrics));
}
