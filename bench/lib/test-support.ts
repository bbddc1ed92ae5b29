/**
 * For the tests that run a bench case once (bench/*.test.ts): a scratch directory for its results and
 * JSON files, and an afterAll that stops a case still running (a timed-out test still lets it finish its
 * current run and clean up) and removes the directory. Call `quickBenches` inside a `describe`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import type { MainIo } from './entry.js';

/** A case's `main`. */
export type BenchMain = (argv: string[], io: MainIo) => Promise<number>;

/** What one run of a case left: its JSON result, what it printed and wrote, and its stderr. */
export interface BenchRun {
  json: unknown;
  printed: string;
  written: string;
  stderr: string;
}

/** Registers the clean-up (`cleanupMs`: how long a stopped case may take to finish) and returns `run`. */
export function quickBenches(o: { tmpPrefix: string; cleanupMs: number }): { run: (name: string, main: BenchMain, argv: string[]) => Promise<BenchRun> } {
  const dir = mkdtempSync(path.join(os.tmpdir(), o.tmpPrefix));
  const stop = new AbortController();
  const running: Promise<number>[] = [];

  afterAll(async () => {
    stop.abort();
    await Promise.allSettled(running);
    rmSync(dir, { recursive: true, force: true });
  }, o.cleanupMs);

  /** Runs `main` with `argv` plus --results and --json files named after `name`; expects exit code 0. */
  async function run(name: string, main: BenchMain, argv: string[]): Promise<BenchRun> {
    const out: string[] = [];
    const err: string[] = [];
    const [results, json] = [path.join(dir, `${name}.md`), path.join(dir, `${name}.json`)];
    const exit = main([...argv, '--results', results, '--json', json], { out: (t) => out.push(t), err: (t) => err.push(t), signal: stop.signal });
    running.push(exit);
    expect(await exit, err.join('\n')).toBe(0);
    return { json: JSON.parse(readFileSync(json, 'utf8')) as unknown, printed: out.join('\n'), written: readFileSync(results, 'utf8'), stderr: err.join('\n') };
  }

  return { run };
}
