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

/** Resolves once `sync check LINK` exits 0: how long it took, and how many comparisons ran. */
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
    }, timeoutMs, 500);
    return { elapsedMs, checks };
  } finally {
    api.close();
  }
}
