/**
 * The bins' V8 code cache (scripts/bin-loader.cjs, scripts/bundle.mjs): on a copy of the CLI's bundle in a
 * directory of its own (the suite's other files run the real dist/bin meanwhile), the first run stores the
 * cache, later runs use it without writing it again, a damaged cache is rejected and replaced while the
 * bin works as before, an unwritable directory only means no cache, and the cache's name carries the
 * bundle's content hash.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, tempDir } from '../harness/processes.js';

const BIN_DIR = path.dirname(BIN.cli);

/** The copied bin, as `user` (uid and gid) when given. */
function run(dir: string, args: string[], user?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.join(dir, 'ffkeeper.mjs'), ...args], { timeout: 60_000, ...(user === undefined ? {} : { uid: user, gid: user }) }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const caches = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.v8-cache'));

describe('bin code cache', () => {
  const tmp = tempDir('ffk-bin-cache-');
  const dir = tmp.dir;
  let expectedHelp = '';

  beforeAll(async () => {
    for (const f of ['ffkeeper.mjs', 'ffkeeper.cjs', 'ffk-bin-loader.cjs']) copyFileSync(path.join(BIN_DIR, f), path.join(dir, f));
    // The same bin, run the way it ran before the cache existed: node loading the bundle itself.
    const plain = path.join(dir, 'plain.cjs');
    writeFileSync(plain, readFileSync(path.join(dir, 'ffkeeper.cjs')));
    expectedHelp = await new Promise((resolve, reject) => {
      execFile(process.execPath, [plain, '--help'], { timeout: 60_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    expect(expectedHelp).toContain('Usage: ffkeeper');
  });

  afterAll(() => {
    chmodSync(dir, 0o755);
    tmp.cleanup();
  });

  it('is named after the content hash of the bundle the bin runs', () => {
    const hash = createHash('sha256').update(readFileSync(path.join(dir, 'ffkeeper.cjs'))).digest('hex').slice(0, 16);
    expect(readFileSync(path.join(dir, 'ffkeeper.mjs'), 'utf8')).toContain(`run('ffkeeper.cjs', '${hash}')`);
  });

  it('is stored by the first run and used, not written again, by the next', async () => {
    expect(caches(dir)).toEqual([]);
    const first = await run(dir, ['--help']);
    expect(first).toMatchObject({ code: 0, stdout: expectedHelp });
    const [cache] = caches(dir);
    expect(cache).toMatch(/^ffkeeper\.cjs\.[0-9a-f]{16}\.v8-cache$/);
    const file = path.join(dir, cache as string);
    const stored = statSync(file);
    expect(stored.size).toBeGreaterThan(10_000);
    const second = await run(dir, ['--help']);
    expect(second).toMatchObject({ code: 0, stdout: expectedHelp });
    expect(statSync(file).mtimeMs).toBe(stored.mtimeMs);
    expect(statSync(file).ino).toBe(stored.ino);
    expect(caches(dir)).toEqual([cache]);
  });

  it('a damaged cache is rejected: the bin runs as before and stores a good one', async () => {
    const [cache] = caches(dir);
    const file = path.join(dir, cache as string);
    writeFileSync(file, 'not a V8 code cache');
    const r = await run(dir, ['--help']);
    expect(r).toMatchObject({ code: 0, stdout: expectedHelp });
    expect(statSync(file).size).toBeGreaterThan(10_000);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('an unwritable directory: the bin runs, without a cache', async () => {
    for (const f of caches(dir)) writeFileSync(path.join(dir, f), ''); // rejected: the run wants to store one
    chmodSync(dir, 0o555);
    try {
      // root writes anywhere: drop to nobody for the run when running as root.
      const r = await run(dir, ['--help'], process.getuid?.() === 0 ? 65534 : undefined);
      expect(r).toMatchObject({ code: 0, stdout: expectedHelp });
      for (const f of caches(dir)) expect(statSync(path.join(dir, f)).size, f).toBe(0);
    } finally {
      chmodSync(dir, 0o755);
    }
  });
});
