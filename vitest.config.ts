import { defineConfig } from 'vitest/config';

/**
 * Tests whose assertions depend on the machine not being busy (a writer pace of ≥ 200 writes/s, a thaw
 * within lease + 1 s) run last, one file at a time, after everything else has finished (2 workers).
 */
const TIMING_SENSITIVE = ['test/devsite/acceptance.test.ts', 'test/e2e/cut-restore.test.ts', 'test/e2e/cut-faults.test.ts'];

const common = {
  exclude: ['node_modules/**', 'dist/**'],
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
  globalSetup: ['test/global-setup.ts'],
};

export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      {
        test: {
          ...common,
          name: 'main',
          include: ['**/*.test.ts'],
          exclude: [...common.exclude, ...TIMING_SENSITIVE],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...common,
          name: 'timing',
          include: TIMING_SENSITIVE,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
