import { describe, expect, it } from 'vitest';
import type { FloorRun } from './floor.js';
import type { SyncBenchResult } from './measure.js';
import { formatReport, judge } from './report.js';

const machine = { cpus: 2, cpuModel: 'test', memoryBytes: 2 ** 30, kernel: 'k', versions: {} };

const floorRun = (totalMs: number): FloorRun => ({ totalMs, dumpMs: 300, copyMs: totalMs, dossiers: 100, faces: 130, psqlErrors: [], command: 'pg_dump … | psql … & cp -r …' });

function result(o: { floorTimesMs: number[]; floorAfterMs?: number; syncMs: number }): SyncBenchResult {
  const all = [...o.floorTimesMs, ...(o.floorAfterMs === undefined ? [] : [o.floorAfterMs])];
  return {
    plan: { dossiers: 100, slaveDossiers: 10, events: 10, imageScale: 1, rates: [10], seconds: 1, timeoutMs: 60_000, stallMs: 30_000, floorRuns: o.floorTimesMs.length },
    startedAt: new Date(0),
    durationMs: 1,
    sites: { master: 'm', slave: 's', upMs: 1, baselineMs: [1, 1] },
    list: { dossiers: 100, faces: 130, records: 130, files: 390, bytes: 10_000_000 },
    floor: floorRun(Math.min(...all)),
    floorTimesMs: o.floorTimesMs,
    ...(o.floorAfterMs === undefined ? {} : { floorAfterMs: o.floorAfterMs }),
    initial: {
      link: 'm.1.s.2', linkNumber: 1, linkCliMs: 500, totalMs: o.syncMs, rowsMs: 1000,
      missing: { dossiers: 0, faces: 0, foreign: 0, records: 0, files: 0 },
      check: { wallMs: 1, exitCode: 0, stderr: '', report: { link: 'm.1.s.2', checkedAt: '', dossiers: 100, records: 130, files: 390, differences: [], requeued: 0, durationMs: 1 } },
      progress: [], agentWarnings: [],
    },
    latency: [{ rate: 10, committed: 10, achievedRate: 10, samples: [20, 30, 40], coalesced: 0, unseen: 0, polls: 5, pollQueryMs: 1, loadavg: 1 }],
    loadavg: { floor: 1, sync: 1 },
    flushMs: { floor: 0, sync: 0 },
  };
}

describe('sync report', () => {
  it('judges against the fastest floor run and reports the runs beside the sync in time, not judged', () => {
    const r = result({ floorTimesMs: [2000, 6000, 9000], floorAfterMs: 12_000, syncMs: 10_000 });
    expect(judge(r)).toMatchObject({ initialPass: false, ratio: 0.2 });
    const text = formatReport(r, machine, 'full');
    expect(text).toContain('Run 3 times (2.0s, 6.0s, 9.0s) before the link and once right after the initial sync (12s), each after a flush, each copy kept until the bench ends (on ext4 without a journal, as on the 2-core machines this project runs on, creating files right after many were deleted is several times slower: the inode allocator skips past every recently deleted inode), on the same data; the fastest is the floor');
    expect(text).toContain('the floor run just before the link took 9.0s, ffkeeper\'s rate 0.90× of it; the one just after the initial sync 12s, 1.20×.');
    expect(text).toContain('initial sync at 0.20× the floor < 0.5×');
  });

  it('a floor run after the sync that is the fastest is the floor', () => {
    const r = result({ floorTimesMs: [8000, 9000], floorAfterMs: 4000, syncMs: 10_000 });
    expect(judge(r).ratio).toBeCloseTo(0.4);
  });

  it('without a run after the sync says nothing beside it', () => {
    const text = formatReport(result({ floorTimesMs: [3000], syncMs: 5000 }), machine, 'quick');
    expect(text).toContain('Run once before the link, each after a flush, each copy kept until the bench ends (on ext4 without a journal, as on the 2-core machines this project runs on, creating files right after many were deleted is several times slower: the inode allocator skips past every recently deleted inode), on the same data; MB');
    expect(text).not.toContain('Beside it in time');
    expect(judge(result({ floorTimesMs: [3000], syncMs: 5000 })).initialPass).toBe(true);
  });
});
