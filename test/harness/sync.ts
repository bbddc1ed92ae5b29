/**
 * Waiting for a sync link to converge without paying for a full comparison every second: the link's
 * view (one in-process gRPC call) is asked until no part has changes pending, and only then `ffkeeper
 * sync check` runs (a CLI process; it hashes every file and compares every row and record on both
 * sites); at least every CHECK_EVERY_MS it runs anyway, so a view that never shows 0 pending does not
 * keep a converged link from being seen.
 */
import { GrpcControllerApi } from '../../controller/cli/api.js';
import type { TestFleet } from './fleet.js';
import { operatorSecurity } from './pki.js';
import { waitFor } from './processes.js';

const CHECK_EVERY_MS = 5_000;

/** Resolves once `sync check LINK` exits 0: how long it took, and how many comparisons ran; a timeout's error tells the link's state and the agents' sync warnings. */
export async function waitSyncConverged(fleet: TestFleet, link: string, timeoutMs: number): Promise<{ elapsedMs: number; checks: number }> {
  const api = new GrpcControllerApi(fleet.controllerAddress, 10_000, operatorSecurity());
  let checks = 0;
  let lastCheck = Date.now();
  try {
    const { elapsedMs } = await waitFor(async () => {
      const view = await api.getSyncLink(link).catch(() => undefined);
      const quiet = view?.parts.every((p) => p.pending === 0) ?? false;
      if (!quiet && Date.now() - lastCheck < CHECK_EVERY_MS) return undefined;
      checks++;
      lastCheck = Date.now();
      return (await fleet.cli('sync', 'check', link)).code === 0 ? true : undefined;
    }, timeoutMs, 500).catch(async (err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)} (link ${link}, ${checks} comparison(s))\n${await syncDiagnostics(fleet, link)}`, { cause: err });
    });
    return { elapsedMs, checks };
  } finally {
    api.close();
  }
}

/** Log lines of an agent that name sync and are warnings or worse (pino levels 40+), the last `max`. */
function syncTrouble(logs: string, max: number): string[] {
  const out: string[] = [];
  for (const line of logs.split('\n')) {
    if (!line.includes('sync')) continue;
    try {
      if (((JSON.parse(line) as { level?: number }).level ?? 0) >= 40) out.push(line);
    } catch {
      // not a log record (a stack trace line, a start-up message)
    }
  }
  return out.slice(-max);
}

/**
 * What a test that waited in vain for a link prints: the link as `sync show` tells it (each part's state,
 * position, pending and last error) and each agent's sync warnings and errors — a fleet's logs go with it.
 */
export async function syncDiagnostics(fleet: TestFleet, link: string, maxLines = 15): Promise<string> {
  const show = await fleet.cli('sync', 'show', link);
  const parts = [`sync show ${link} (exit ${show.code}):\n${show.stdout}${show.stderr}`];
  for (const [name, agent] of fleet.agents) {
    const lines = syncTrouble(agent.logs(), maxLines);
    parts.push(`agent ${name} (${agent.running() ? 'running' : 'ended'}): ${lines.length === 0 ? 'no sync warnings or errors' : `last ${lines.length} sync warning(s)/error(s):\n${lines.join('\n')}`}`);
  }
  return parts.join('\n');
}
