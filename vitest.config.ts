import { defineConfig } from 'vitest/config';
import SlowFirstSequencer from './test/sequencer.js';

/**
 * One pool of workers for every file, the slowest started first (test/sequencer.ts). No file needs the
 * machine to itself: tests assert what ffkeeper promises, never how fast the machine is (speed is
 * measured in bench/), and timeouts only catch hangs. FFK_TEST_WORKERS overrides the worker count.
 */
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: Number(process.env.FFK_TEST_WORKERS ?? 3),
    globalSetup: ['test/global-setup.ts'],
    sequence: { sequencer: SlowFirstSequencer },
  },
});
