/**
 * One host's part of a verify drill: its components restored into a sandbox of its agent, one after
 * another (the agent's order), each recorded as a `drill <kind:name>` step with the time its agent-side
 * steps took and where the sandboxed component can be reached.
 */
import { FfkError, IllegalStateError, toFfkError } from '../../../shared/errors.js';
import type { ComponentArtifact } from '../../../shared/manifest.js';
import type { SandboxComponent, SandboxDescription } from '../../../shared/sandbox.js';
import type { JobContext } from '../jobs.js';
import type { AgentClient, AgentRestoreStep, CallDeadline, RepositoryAccess } from '../ports.js';
import { messageOf, type StepLog } from './steps.js';

export interface DrillContext {
  ctx: JobContext;
  agents: AgentClient;
  access: RepositoryAccess;
  /** The deadline of one host's drill (its `operation` is filled in per host). */
  deadline: CallDeadline;
  log: StepLog;
}

export interface HostDrill {
  host: string;
  components: SandboxDescription['components'];
}

/** Where a sandboxed component is, in a few words. */
export function describeEndpoint(c: SandboxComponent): string {
  switch (c.kind) {
    case 'postgres':
      return `database ${c.database} on ${c.host}:${c.port}`;
    case 'tarantool':
      return `scratch tarantool ${c.name} on ${c.host}:${c.port}`;
    case 'uploads': {
      // Each root is restored at `<sandbox dir><root>`: name that directory once.
      const [first] = c.roots;
      const base = first && first.restored.endsWith(first.original) ? first.restored.slice(0, first.restored.length - first.original.length) : undefined;
      return base ? `${c.roots.length} upload root(s) restored below ${base}` : c.roots.map((r) => `${r.original} → ${r.restored}`).join(', ');
    }
  }
}

/** Drills one host; records a step per component; throws naming the component and host that failed. */
export async function drillHost(d: DrillContext, target: { host: string; address: string; artifacts: ComponentArtifact[] }): Promise<HostDrill> {
  const { ctx } = d;
  const { host, artifacts } = target;
  const reported = new Map<string, AgentRestoreStep[]>();
  const started = Date.now();
  let result: Awaited<ReturnType<AgentClient['restoreSandbox']>>;
  try {
    result = await d.agents.restoreSandbox(
      target.address,
      { jobId: ctx.id, sandboxId: ctx.id, artifacts, repository: d.access },
      {
        ...d.deadline,
        operation: `restore drill on host '${host}'`,
        signal: ctx.signal,
        onProgress: (p) => ctx.progress(p),
        onStep: (s) => {
          reported.set(s.component, [...(reported.get(s.component) ?? []), s]);
          ctx.message(`drill ${s.component} on '${host}': ${s.step} ${s.ok ? 'ok' : 'FAILED'} (${s.durationMs} ms)${s.detail ? `: ${s.detail}` : ''}`);
        },
      },
    );
  } catch (err) {
    recordFailure(d, host, artifacts, reported, { err, elapsedMs: Date.now() - started });
    const failed = artifacts.find((a) => !reported.has(a.component))?.component ?? artifacts[0]?.component ?? '';
    throw new FfkError(toFfkError(err).code, `${failed} on host '${host}': ${messageOf(err)}`, { cause: err });
  }
  for (const a of artifacts) {
    const steps = result.steps.filter((s) => s.component === a.component);
    const endpoint = result.components.find((c) => c.component === a.component);
    const durationMs = steps.reduce((sum, s) => sum + s.durationMs, 0);
    const where = endpoint ? describeEndpoint(endpoint) : 'no endpoint reported';
    d.log.add({ name: `drill ${a.component}`, host, ok: endpoint !== undefined, durationMs, detail: `${steps.length} steps; ${where}` });
  }
  const missing = artifacts.filter((a) => !result.components.some((c) => c.component === a.component)).map((a) => a.component);
  if (missing.length > 0) throw new IllegalStateError(`the agent on host '${host}' reported no sandbox for ${missing.join(', ')}`);
  ctx.message(`drill on host '${host}' done: ${result.components.map((c) => `${c.component} (${describeEndpoint(c)})`).join('; ')}`);
  return { host, components: result.components.map((c) => ({ ...c, agentHost: host })) };
}

/** Components drilled before the failure are ok; the first one without a report failed; the rest did not run. */
function recordFailure(
  d: DrillContext,
  host: string,
  artifacts: ComponentArtifact[],
  reported: Map<string, AgentRestoreStep[]>,
  failure: { err: unknown; elapsedMs: number },
): void {
  let failedOne = false;
  for (const a of artifacts) {
    const steps = reported.get(a.component);
    if (steps) {
      d.log.add({ name: `drill ${a.component}`, host, ok: true, durationMs: steps.reduce((s, x) => s + x.durationMs, 0), detail: `${steps.length} steps` });
    } else if (!failedOne) {
      failedOne = true;
      d.log.add({ name: `drill ${a.component}`, host, ok: false, durationMs: failure.elapsedMs, detail: messageOf(failure.err) });
    } else {
      d.log.add({ name: `drill ${a.component}`, host, ok: false, durationMs: 0, detail: `not drilled: an earlier component on host '${host}' failed` });
    }
  }
}
