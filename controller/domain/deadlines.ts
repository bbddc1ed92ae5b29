/**
 * Deadlines of the controller's calls to agents, one per kind of operation (a unit start is not a protocol
 * call): each kind has its own config field (`agents.deadlines.*`), and a deadline that fires names the
 * operation, the agent and the deadline with the field that sets it.
 */
import { formatDuration } from '../../shared/duration.js';
import { TimeoutError } from '../../shared/errors.js';
import type { CallDeadline } from './ports.js';

/** Milliseconds per kind of agent call. */
export interface AgentDeadlines {
  /** Describe and the calls of the cut protocol around the freeze (Freeze, Cut, Thaw, Abort): short, the site may be frozen. */
  protocolMs: number;
  /**
   * Prepare: the agent proves it can take part (repository reachable, tools present, databases answer, the
   * uploads deletion shield seeded on a first cut) before it arms the freeze lease; nothing is frozen yet.
   */
  prepareMs: number;
  /** Stopping or starting a unit (findface-security, sf-api, tarantool, pgbouncer): as long as systemd may take. */
  unitControlMs: number;
  /** A site's integrity check and dropping a verify sandbox: they read or remove the site's data. */
  checkMs: number;
  /** Moving data: one agent's upload, one component's restore, a verify drill. */
  transferMs: number;
  /**
   * Not a call: how long a restore's rollback keeps trying an agent that went away during the switch (killed,
   * restarted by systemd; its restore journal tells it what to put back) before it gives up on it.
   */
  agentReturnMs: number;
}

export type DeadlineKind = keyof AgentDeadlines;

/** The config field that sets each kind, named in the error when a deadline fires. */
export function deadlineSetting(kind: DeadlineKind): string {
  return `agents.deadlines.${kind}`;
}

/** The deadline of one call of `kind` doing `operation` (e.g. `start findface-security on host 'db'`). */
export function deadlineFor(deadlines: AgentDeadlines, kind: DeadlineKind, operation: string): CallDeadline {
  return { timeoutMs: deadlines[kind], operation, setting: deadlineSetting(kind) };
}

/**
 * A timeout the agent reported itself (it gives up a moment before the caller's deadline, with its own
 * reason) restated so that it names the operation, the deadline and its setting as the caller's own does.
 */
export function namingDeadline(d: CallDeadline, err: unknown): unknown {
  if (!(err instanceof TimeoutError) || (d.operation && err.message.startsWith(d.operation))) return err;
  const setting = d.setting ? `; the deadline is set by ${d.setting}` : '';
  return new TimeoutError(`${d.operation ?? 'the call'} did not finish within its deadline of ${formatDuration(d.timeoutMs)}${setting}: ${err.message}`, { cause: err });
}
