import { describe, expect, it } from 'vitest';
import type { FreezeBenchResult, SizeResult, SizeSpec } from './measure.js';
import { formatReport, judge } from './report.js';
import type { Sample } from './sample.js';

const data = { files: 10, bytes: 1 << 20, rows: 5, records: 4, dossiers: 2, faces: 1, events: 3 };

function size(spec: SizeSpec, windows: number[], peerMs: number): SizeResult {
  const samples: Sample[] = windows.map((w, i) => ({
    kind: 'sealed', snapshotId: `c-${i}`, windowMs: w, agentWindowsMs: { db: w - 5 }, stepsMs: { 'freeze writers': w - 20, 'freeze others': 15, thaw: 5 },
    snapshotBytes: 1, writerRate: 200, writerErrors: 0, peer: { windowMs: peerMs, pauseMs: peerMs - 5 },
  }));
  return { spec, site: spec.tag, database: `db_${spec.tag}`, before: data, after: data, samples, warmupWindowsMs: [], failures: [], loadAverages: [1], trimmed: { removed: { dossiers: 0, faces: 0, events: 0 }, added: { dossiers: 0, events: 0 } } };
}

const machine = { cpus: 2, cpuModel: 'test', memoryBytes: 2 ** 30, kernel: 'k', versions: {} };

function result(sizes: SizeResult[]): FreezeBenchResult {
  return { plan: { sizes: sizes.map((s) => s.spec), runs: 3, warmup: 0, rate: 200 }, startedAt: new Date(0), durationMs: 1, aborted: false, root: '/tmp/x', sizes };
}

describe('freeze-window report', () => {
  const unit = { dossiers: 20, events: 100 };
  const r = result([
    size({ label: '1×', tag: 'a', ...unit }, [40, 45, 48], 30),
    size({ label: '10×', tag: 'b', dossiers: 200, events: 1000 }, [42, 44, 60], 31),
    size({ label: '1× + CPU-bound process', tag: 'a', ...unit, cpuBound: true }, [300, 400, 500], 250),
  ]);

  it('judges the sizes against the bars and only reports the run with an extra CPU-bound process', () => {
    const v = judge(r);
    expect(v.pass).toBe(true);
    expect(v.ratio).toBeCloseTo(44 / 45);
    const failing = judge(result([size({ label: '1×', tag: 'a', ...unit }, [40, 45, 120], 30), size({ label: '10×', tag: 'b', ...unit }, [40, 45, 48], 30)]));
    expect(failing.reasons).toEqual(['1×: p99 120 ms > 100 ms']);
  });

  it('prints the CPU-bound run beside the bars, and each size over its bare-PAUSE peer', () => {
    const text = formatReport(r, machine, 'test');
    expect(text).toContain('- Median: 1× 45 ms, 10× 44 ms (target ≤ 50 ms): PASS');
    expect(text).toContain('With one extra CPU-bound process running (a busy loop in another process, during the whole sample): 1× + CPU-bound process median 400 ms, p99 500 ms (reported beside the bars, not judged)');
    expect(text).toContain(': 1× median 30 ms, p99 30 ms (PAUSE alone: median 25 ms); 10× median 31 ms');
    expect(text).toContain("- ffkeeper's window over that peer's, paired per snapshot: 1× median +15 ms; 10× median +13 ms; 1× + CPU-bound process median +150 ms");
    expect(text).toContain('Ratio of medians 10×/1×: **0.98**');
    expect(text).toContain('**Verdict: PASS**');
  });
});
