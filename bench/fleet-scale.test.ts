/**
 * Runs the fleet-scale bench once in --quick mode so it never rots: a real controller, nats-server and
 * 50 + 1 simulated agents in their own process. Asserts only that it produced finite numbers, printed and
 * wrote them, that every simulated agent took part in every snapshot, and that it left nothing behind —
 * no wall-clock asserts: latencies and ratios are printed, not asserted.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isListening } from '../shared/net.js';
import { main } from './fleet-scale.js';
import type { FleetBenchResult } from './fleet-scale/measure.js';
import { quickBenches } from './lib/test-support.js';

type JsonResult = Omit<FleetBenchResult, 'startedAt'> & { verdict: { round: { count: number; median: number; p99: number }; roundRatio: number | null } };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('fleet-scale bench (--quick)', () => {
  const benches = quickBenches({ tmpPrefix: 'ffk-bench-fleet-test-', cleanupMs: 60_000 });

  it('measures listing and rounds at 50 agents and at 1, prints and writes them, and cleans up', async () => {
    // One measured snapshot per site and no warm-up (as the freeze-window bench's test): enough to keep the
    // bench from rotting; the figures come from `npm run bench`, not from here.
    const { json, printed, written, stderr } = await benches.run('fleet-scale', main, ['--quick', '--runs', '1', '--warmup', '0']);
    const r = json as JsonResult;
    expect(r.aborted).toBe(false);
    expect(r.sites.map((s) => s.spec.agents)).toEqual([50, 1]);
    for (const xs of [r.listing.agentsN, r.listing.agents1, r.listing.agentsAll, r.listing.sites]) {
      expect(xs).toHaveLength(20);
      for (const x of xs) expect(Number.isFinite(x) && x > 0, `listing ${x}`).toBe(true);
    }
    expect(r.listing.cli).toHaveLength(1);
    expect(r.listing.failures).toEqual([]);
    for (const s of r.sites) {
      // A snapshot the system failed on a loaded machine is reported by the bench, not hidden; but it must have produced numbers.
      if (s.failures.length > 0) console.log(`${s.spec.label}: failed snapshots:\n${s.failures.join('\n')}`);
      expect(s.samples.length + s.failures.length, `${s.spec.label}: ${stderr}`).toBe(1);
      expect(s.samples.length, `${s.spec.label}: ${stderr}`).toBeGreaterThan(0);
      for (const x of s.samples) {
        expect(x.snapshotId).toMatch(/^c-/);
        for (const k of ['prepareMs', 'windowMs', 'roundMs', 'uploadMs', 'sealMs', 'totalMs'] as const) {
          expect(Number.isFinite(x[k]) && x[k] >= 0, `${s.spec.label} ${k} ${x[k]}`).toBe(true);
        }
        expect(x.roundMs).toBeGreaterThanOrEqual(x.windowMs);
      }
    }
    expect(Number.isFinite(r.verdict.round.p99)).toBe(true);
    expect(typeof r.verdict.roundRatio).toBe('number');
    // Every simulated agent was asked every step of every sealed snapshot of its site (warm-ups included).
    const sealed = r.sites.reduce((n, s) => n + (s.samples.length + s.warmupRoundMs.length) * s.spec.agents, 0);
    expect(r.simulator?.agents).toBe(51);
    for (const k of ['prepare', 'freeze', 'cut', 'thaw', 'upload'] as const) expect(r.simulator?.calls[k], k).toBeGreaterThanOrEqual(sealed);

    expect(printed).toMatch(/^\| ListAgents\(site=fleet-n50\) \| 50 \| 20 \| [\d.]+ ms \| [\d.]+ ms \|/m);
    expect(printed).toMatch(/^\| 50 agents \| 1 \| [\d.]+ ms \/ [\d.]+ ms \|/m);
    expect(printed).toMatch(/^\| 1 agent \| 1 \| [\d.]+ ms \/ [\d.]+ ms \|/m);
    expect(printed).toMatch(/Round p99 at 50 agents: \*\*[\d.]+ ms\*\* \(target ≤ 1000 ms\): (PASS|FAIL)/);
    expect(printed).toMatch(/\*\*Verdict: (PASS|FAIL)/);
    expect(written).toContain(`<!-- bench:fleet-scale:begin -->\n${printed.trim()}\n<!-- bench:fleet-scale:end -->`);

    expect(existsSync(r.cleanup.tempDir), `temp dir ${r.cleanup.tempDir}`).toBe(false);
    for (const pid of r.cleanup.pids) expect(alive(pid), `process ${pid}`).toBe(false);
    expect(await isListening(r.cleanup.natsPort), `nats-server on ${r.cleanup.natsPort}`).toBe(false);
  }, 120_000); // ~20 s on a quiet machine; more when other suites share its two cores
});
