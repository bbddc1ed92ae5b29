/**
 * Runs the throughput benches (issue 7 cases 1–4: bench/uploads.ts and bench/postgres.ts; issue 14's
 * bench/uploads-many.ts with a thousand files) once each in
 * --quick mode with one round, so they never rot: a real agent process, real restic, tar, pg_dump, psql
 * and a dev site. Asserts only that every series produced finite positive numbers, that they were
 * printed and written, that every restored tree or database matched, and that nothing was left behind
 * (work directory, agent process, databases). No wall-clock asserts: ratios are printed, not judged here.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { databaseExists, processAlive } from '../test/devsite/fixtures.js';
import { quickBenches } from './lib/test-support.js';
import { main as postgresMain } from './postgres.js';
import type { Series } from './throughput/series.js';
import { main as uploadsManyMain } from './uploads-many.js';
import { main as uploadsMain } from './uploads.js';

function expectNumbers(name: string, s: Series, runs: number): void {
  expect(s.ms, name).toHaveLength(runs);
  expect(s.bytes, name).toHaveLength(runs);
  for (const x of [...s.ms, ...s.bytes]) expect(Number.isFinite(x) && x > 0, `${name}: ${x}`).toBe(true);
}

describe('throughput benches (--quick, one round)', () => {
  const benches = quickBenches({ tmpPrefix: 'ffk-bench-tp-test-', cleanupMs: 180_000 });
  const quickOneRound = ['--quick', '--runs', '1'];

  it('uploads: backup, incremental and restore against restic and tar', async () => {
    const { json, printed, written } = await benches.run('uploads', uploadsMain, quickOneRound);
    const r = json as {
      aborted: boolean; problems: string[]; workDir: string; agentPid: number;
      data: { files: number; bytes: number };
      backup: Record<string, Series>; incremental: Record<string, Series>; restore: Record<string, Series>;
      verdict: { vsRestic: number; vsTar: number; incrementalShare: number; incrementalVsRestic: number };
    };
    expect(r.aborted).toBe(false);
    expect(r.problems).toEqual([]);
    expect(r.data).toEqual({ files: 100, bytes: 20_000_000 });
    for (const part of [r.backup, r.incremental, r.restore]) for (const [k, s] of Object.entries(part)) expectNumbers(k, s, 1);
    for (const x of Object.values(r.verdict).filter((v) => typeof v === 'number')) expect(Number.isFinite(x) && x > 0).toBe(true);
    expect(printed).toMatch(/^\| ffkeeper agent \| 1 \| [\d.]+ s \|.* MB\/s \|/m);
    expect(printed).toMatch(/^\| tar czf \| 1 \|.*\| [\d.]+× \|$/m);
    expect(printed).toMatch(/^- ffkeeper agent vs restic alone: \*\*[\d.]+×\*\* \(target ≥ 0\.90×\): (PASS|FAIL)$/m);
    expect(printed).toMatch(/^- ffkeeper incremental time \/ restic alone's: \*\*[\d.]+×\*\* \(target ≤ 1\.20×\): (PASS|FAIL)$/m);
    expect(written).toContain(`<!-- bench:uploads:begin -->\n${printed.trim()}\n<!-- bench:uploads:end -->`);
    expect(existsSync(r.workDir), r.workDir).toBe(false);
    expect(processAlive(r.agentPid), `agent ${r.agentPid}`).toBe(false);
  }, 240_000); // ~30 s on a quiet machine

  it('uploads-many: full, incremental, the records, restore and memory against restic (1,000 files)', async () => {
    const { json, printed, written } = await benches.run('uploads-many', uploadsManyMain, ['--quick', '--events', '500', '--runs', '1']);
    const r = json as {
      aborted: boolean; problems: string[]; workDir: string; agentPid: number; peakRssBytes: number;
      data: { files: number; bytes: number }; finalTree: { files: number };
      full: Record<string, Series>; incremental: Record<string, Series>; restore: Record<string, Series>;
      listing: { agent: number[] }; recordBytes: { agent: number[] }; catalogListing: { ms: number[]; listed: number[] }; agentWalkMs: number[];
    };
    expect(r.aborted).toBe(false);
    expect(r.problems).toEqual([]);
    expect(r.data.files).toBe(1000);
    expect(r.finalTree.files).toBe(1002); // +0.1%: one more event, two files
    for (const part of [r.full, r.incremental, r.restore]) for (const [k, s] of Object.entries(part)) expectNumbers(k, s, 1);
    expect(r.listing.agent.length).toBeGreaterThan(0);
    expect(r.recordBytes.agent).toHaveLength(4); // two snapshots of the component, two manifests
    expect(r.catalogListing.listed).toEqual([2, 2, 2]);
    expect(r.agentWalkMs).toHaveLength(2);
    for (const ms of r.agentWalkMs) expect(Number.isFinite(ms) && ms >= 0, String(ms)).toBe(true);
    expect(printed).toMatch(/^- `ffkeeper snapshot list --site bench` .*: median \*\*\d+ ms\*\* of 3 /m);
    expect(r.peakRssBytes).toBeGreaterThan(0);
    expect(printed).toMatch(/^- largest snapshot record of the agent: \*\*[\d,]+ bytes\*\*/m);
    expect(written).toContain(`<!-- bench:uploads-many:begin -->\n${printed.trim()}\n<!-- bench:uploads-many:end -->`);
    expect(existsSync(r.workDir), r.workDir).toBe(false);
    expect(processAlive(r.agentPid), `agent ${r.agentPid}`).toBe(false);
  }, 240_000); // ~15 s on a quiet machine

  it('postgres: backup and restore against pg_dump and psql', async () => {
    const { json, printed, written } = await benches.run('postgres', postgresMain, quickOneRound);
    const r = json as {
      aborted: boolean; problems: string[]; workDir: string; agentPid: number; database: string; scratchDatabases: string[];
      rows: { events: number }; dumpBytes: number;
      backup: Record<string, Series>; restore: Record<string, Series>;
    };
    expect(r.aborted).toBe(false);
    expect(r.problems).toEqual([]);
    expect(r.rows.events).toBeGreaterThanOrEqual(5_000);
    expect(r.dumpBytes).toBeGreaterThan(0);
    for (const part of [r.backup, r.restore]) for (const [k, s] of Object.entries(part)) expectNumbers(k, s, 1);
    expect(printed).toMatch(/^\| ffkeeper agent \| 1 \| [\d.]+ s \|.* MB\/s \|/m);
    expect(printed).toMatch(/^\| pg_dump > file \| 1 \|.*\| [\d.]+× \|$/m);
    expect(written).toContain(`<!-- bench:postgres:begin -->\n${printed.trim()}\n<!-- bench:postgres:end -->`);
    expect(existsSync(r.workDir), r.workDir).toBe(false);
    expect(processAlive(r.agentPid), `agent ${r.agentPid}`).toBe(false);
    expect(r.scratchDatabases.length).toBe(2);
    for (const db of [r.database, ...r.scratchDatabases]) expect(await databaseExists(db), `database ${db}`).toBe(false);
  }, 240_000); // ~30 s on a quiet machine
});
