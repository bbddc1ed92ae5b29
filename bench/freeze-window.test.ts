/**
 * Runs the freeze-window bench once in --quick mode so it never rots: real sites, controller and agents,
 * the writer under load. Asserts only that it produced numbers for both sizes, printed and wrote them,
 * and left nothing behind — no wall-clock asserts: ratios are printed, not asserted here.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { databaseExists } from '../test/devsite/fixtures.js';
import { main } from './freeze-window.js';
import { quickBenches } from './lib/test-support.js';

interface JsonResult {
  root: string;
  aborted: boolean;
  sizes: {
    spec: { label: string };
    database: string;
    before: { files: number; bytes: number; rows: number; records: number };
    samples: { windowMs: number; snapshotId: string; peer?: { windowMs: number; pauseMs: number } }[];
    failures: string[];
  }[];
  verdict: { ratio: number | null };
}

describe('freeze-window bench (--quick)', () => {
  const benches = quickBenches({ tmpPrefix: 'ffk-bench-fw-', cleanupMs: 120_000 });

  it('measures 1× and 10×, each beside its bare-PAUSE peer, prints and writes both, and cleans up', async () => {
    // One measured snapshot per size and no warm-up: enough to keep the bench from rotting (the figures
    // come from `npm run bench`, not from here).
    const { json, printed, written, stderr } = await benches.run('freeze-window', main, ['--quick', '--runs', '1', '--warmup', '0', '--rate', '50']);
    const r = json as JsonResult;
    expect(r.aborted).toBe(false);
    expect(r.sizes.map((s) => s.spec.label)).toEqual(['1×', '10×']);
    for (const s of r.sizes) {
      // Every run is accounted for; a snapshot the system failed (e.g. an agent too slow on a loaded
      // machine) is reported by the bench, not hidden — but the bench itself still produced numbers.
      if (s.failures.length > 0) console.log(`${s.spec.label}: failed snapshots:\n${s.failures.join('\n')}`);
      expect(s.samples.length + s.failures.length, `${s.spec.label}: ${stderr}`).toBe(1);
      expect(s.samples.length, `${s.spec.label}: ${stderr}`).toBeGreaterThan(0);
      for (const x of s.samples) {
        expect(x.snapshotId).toMatch(/^c-/);
        expect(Number.isFinite(x.windowMs) && x.windowMs > 0, `window ${x.windowMs}`).toBe(true);
        // The peer (a bare PAUSE → export → RESUME) was taken before it: PAUSE is inside its window.
        expect(x.peer && x.peer.windowMs >= x.peer.pauseMs && x.peer.pauseMs >= 0, JSON.stringify(x.peer)).toBe(true);
      }
      for (const v of Object.values(s.before)) expect(v).toBeGreaterThan(0);
    }
    const [small, large] = r.sizes as [JsonResult['sizes'][number], JsonResult['sizes'][number]];
    expect(large.before.records).toBeGreaterThan(5 * small.before.records);
    expect(typeof r.verdict.ratio).toBe('number');

    expect(printed).toMatch(/^\| 1× \| 20 \/ 100 \|.* \| 1 \| [\d.]+ ms \| [\d.]+ ms \|/m);
    expect(printed).toMatch(/^\| 10× \| 200 \/ 1,000 \|.* \| 1 \| [\d.]+ ms \| [\d.]+ ms \|/m);
    expect(printed).toMatch(/Ratio of medians 10×\/1×: \*\*\d+\.\d\d\*\* \(bar ≤ 1\.5\): (PASS|FAIL)/);
    // The run with an extra CPU-bound process is full mode's only (inside the suite it would slow the rest).
    expect(printed).toContain('- Not measured in this run: the window with one extra CPU-bound process running.');
    expect(printed).toMatch(/Peer, a bare PAUSE .*: 1× median [\d.]+ ms, p99 [\d.]+ ms \(PAUSE alone: median [\d.]+ ms\)/);
    expect(printed).toMatch(/\*\*Verdict: (PASS|FAIL)/);
    expect(written).toContain(`<!-- bench:freeze-window:begin -->\n${printed.trim()}\n<!-- bench:freeze-window:end -->`);

    expect(existsSync(r.root), `dev-site root ${r.root}`).toBe(false);
    for (const s of r.sizes) expect(await databaseExists(s.database), `database ${s.database}`).toBe(false);
  }, 420_000); // ~1 min on a quiet machine; more when other suites share its two cores
});
