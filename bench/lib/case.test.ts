/** benchMain: the shared `main` of the bench cases, with a small case that runs nothing. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../shared/exit-codes.js';
import { positiveInt } from './args.js';
import { benchMain, quickWithRounds, type BenchCase } from './case.js';

interface Plan {
  runs: number;
  size: number;
}

interface Result {
  samples: number[];
}

describe('benchMain', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-bench-case-test-'));
  const bin = path.join(dir, 'bin.js');
  writeFileSync(bin, '');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function fakeCase(o: { pass: boolean; bins?: string[] }): { c: BenchCase<Plan, Result, { pass: boolean; size: number }>; runs: Plan[] } {
    const runs: Plan[] = [];
    const c: BenchCase<Plan, Result, { pass: boolean; size: number }> = {
      name: 'fake',
      section: { id: 'fake', title: 'Fake case' },
      usage: 'usage: fake [flags]',
      flags: ['size'],
      bins: o.bins ?? [bin],
      plan: ({ common, extra }) => ({ runs: common.runs ?? 2, size: positiveInt(extra.size, 'size') ?? 7 }),
      run: (plan, env) => {
        runs.push(plan);
        env.log(`ran ${plan.runs}`);
        return Promise.resolve({ samples: [plan.size] });
      },
      format: (r, machine, mode) => `## Fake\n\nmode ${mode}, samples ${r.samples.join(',')}, ${machine.cpus} cores`,
      judge: (r) => ({ pass: o.pass, size: r.samples[0] ?? 0 }),
      quickLabel: quickWithRounds,
    };
    return { c, runs };
  }

  function io(): { out: string[]; err: string[]; io: { out: (t: string) => void; err: (t: string) => void } } {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (t) => out.push(t), err: (t) => err.push(t) } };
  }

  it('prints the usage on --help and runs nothing', async () => {
    const { c, runs } = fakeCase({ pass: true });
    const s = io();
    expect(await benchMain(c)(['--help'], s.io)).toBe(0);
    expect(s.out).toEqual(['usage: fake [flags]']);
    expect(runs).toEqual([]);
  });

  it.each([
    [['--size', '0'], "fake: --size must be an integer ≥ 1, got '0'"],
    [['--bogus'], 'fake: '],
  ])('a bad flag %j is a validation error followed by the usage', async (argv, message) => {
    const { c, runs } = fakeCase({ pass: true });
    const s = io();
    expect(await benchMain(c)(argv, s.io)).toBe(EXIT_CODES.VALIDATION);
    expect(s.err).toHaveLength(1);
    expect(s.err[0]).toContain(message);
    expect(s.err[0]?.endsWith('\nusage: fake [flags]')).toBe(true);
    expect(runs).toEqual([]);
  });

  it('a missing bin is a NotFoundError naming it, without the usage', async () => {
    const missing = path.join(dir, 'missing.js');
    const { c, runs } = fakeCase({ pass: true, bins: [bin, missing] });
    const s = io();
    expect(await benchMain(c)(['--quick'], s.io)).toBe(EXIT_CODES.NOT_FOUND);
    expect(s.err).toEqual([`fake: fake bench: ${missing} not found; build first (npm run build, or npm run bench which builds)`]);
    expect(runs).toEqual([]);
  });

  it('runs, prints, writes the section and the JSON, and exits 1 on FAIL with --strict', async () => {
    const { c, runs } = fakeCase({ pass: false });
    const [results, json] = [path.join(dir, 'RESULTS.md'), path.join(dir, 'fake.json')];
    const s = io();
    expect(await benchMain(c)(['--quick', '--runs', '1', '--size', '3', '--strict', '--results', results, '--json', json], s.io)).toBe(1);
    expect(runs).toEqual([{ runs: 1, size: 3 }]);
    expect(s.out).toHaveLength(1);
    expect(s.out[0]).toMatch(/^## Fake\n\nmode quick \(1 round\), samples 3, \d+ cores$/);
    expect(s.err).toEqual(['fake: ran 1', `fake: wrote the "Fake case" section of ${results}`]);
    expect(readFileSync(results, 'utf8')).toContain(`<!-- bench:fake:begin -->\n${s.out[0]}\n<!-- bench:fake:end -->`);
    expect(JSON.parse(readFileSync(json, 'utf8'))).toEqual({ samples: [3], verdict: { pass: false, size: 3 } });
  });

  it('exits 0 on FAIL without --strict; --no-results writes no section even with --results', async () => {
    const { c } = fakeCase({ pass: false });
    const results = path.join(dir, 'not-written.md');
    const s = io();
    expect(await benchMain(c)(['--quick', '--no-results', '--results', results], s.io)).toBe(0);
    expect(s.out[0]).toContain('mode quick (2 rounds)');
    expect(s.err).toEqual(['fake: ran 2']);
    expect(existsSync(results)).toBe(false);
  });
});
