/**
 * The agent's Prometheus metrics: a private prom-client registry fed through the domain's `AgentMetrics`
 * port (component job durations, bytes moved). Every series carries the agent's `site` and `host`.
 * Served over HTTP by shared/transport/metrics-http.ts.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../../shared/transport/metrics-http.js';
import type { AgentJobFinished, AgentMetrics } from '../domain/metrics.js';

/** Seconds; from a small upload directory to a large database dump. */
const JOB_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400];

export interface PromAgentMetricsOptions {
  site: string;
  host: string;
  /** Node.js process metrics (CPU, memory, event loop); on by default. */
  processMetrics?: boolean;
}

/** `AgentMetrics` over a prom-client registry of its own (never the global one). */
export class PromAgentMetrics implements AgentMetrics {
  readonly registry = new Registry();
  private readonly duration: Histogram<'component' | 'operation' | 'outcome'>;
  private readonly bytes: Counter<'component' | 'direction'>;

  constructor(options: PromAgentMetricsOptions) {
    this.registry.setDefaultLabels({ site: options.site, host: options.host });
    if (options.processMetrics ?? true) collectProcessMetrics(this.registry);
    const registers = [this.registry];
    this.duration = new Histogram({
      name: 'ffkeeper_agent_job_duration_seconds',
      help: 'Component jobs on this agent (operation: upload, restore; outcome: ok, failed).',
      labelNames: ['component', 'operation', 'outcome'],
      buckets: JOB_BUCKETS,
      registers,
    });
    this.bytes = new Counter({
      name: 'ffkeeper_agent_bytes_moved_total',
      help: 'Bytes moved by component jobs: up = read from the component into the repository, down = restored from it.',
      labelNames: ['component', 'direction'],
      registers,
    });
  }

  jobFinished(job: AgentJobFinished): void {
    this.duration.observe({ component: job.component, operation: job.operation, outcome: job.ok ? 'ok' : 'failed' }, job.durationMs / 1000);
    // Touch the series even at 0 bytes, so it exists from the first job on.
    this.bytes.inc({ component: job.component, direction: job.operation === 'upload' ? 'up' : 'down' }, Math.max(0, job.bytes));
  }
}
