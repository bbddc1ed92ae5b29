import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './test/sequencer.js';

/** Unit tests of the product's own folders: fakes only, no process of their own to start. */
const UNIT = ['agent/**/*.test.ts', 'controller/**/*.test.ts', 'shared/**/*.test.ts', 'deploy/**/*.test.ts', 'bench/*/**/*.test.ts'];

/**
 * One pool of workers for every file, the slowest started first (test/sequencer.ts). No file needs the
 * machine to itself: tests assert what ffkeeper promises, never how fast the machine is (speed is
 * measured in bench/), and timeouts only catch hangs. FFK_TEST_WORKERS overrides the worker count (4: many
 * files spend much of their time waiting on processes they started; on a clean clone with the bins bundled,
 * 3 workers took 506 s and 4 took 440 s on 2 cores).
 * Unit test files share their worker processes (`isolate: false`: one worker runs many of them, which
 * saves a process start and module loading per file, ~30 s of CPU per run on 2 cores); integration and
 * end-to-end files (every other one: test/, bench/*.test.ts) each get a fresh one.
 */
export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // `expect.poll` waits for a page or a process to show something: its 1 s default is a speed assertion
    // on a busy machine (a clean-clone run failed the console test on it). 30 s only catches what never comes.
    expect: { poll: { timeout: 30_000, interval: 100 } },
    pool: 'forks',
    maxWorkers: Number(process.env.FFK_TEST_WORKERS ?? 4),
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/cpu-report.ts'],
    sequence: { sequencer: SlowFirstSequencer },
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT, isolate: false } },
      // Every other test file (test/, bench/*.test.ts and anything new outside the unit folders).
      { extends: true, test: { name: 'integration', include: ['**/*.test.ts'], exclude: ['node_modules/**', 'dist/**', ...UNIT] } },
    ],
  },
});
