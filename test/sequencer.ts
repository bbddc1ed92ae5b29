/**
 * Starts the slowest test files first (longest-first keeps the last worker from finishing alone), in the
 * order below; every other file follows in vitest's own order. A clean clone has no timing cache, so
 * vitest alone would order by file size. Keep the list to the files above ~30 s (`npm test` prints the
 * ten slowest at the end of every run).
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

export const SLOW_FIRST = [
  // The most CPU and the longest wall time (362–426 s on a slow 2-core machine): started after the others,
  // it ran alone at the end of a clean-clone run.
  'test/e2e/migrate.test.ts',
  'test/e2e/demo.test.ts',
  'test/sync/sync-faults.test.ts',
  'test/e2e/cli-snapshot.test.ts',
  'test/e2e/restore-stage.test.ts',
  'test/e2e/cut-restore.test.ts',
  // ~65 s, most of it waiting on restic's lock retries against a read-only share: early, so the wait overlaps.
  'test/repository/sftp-backend.test.ts',
  'test/e2e/console.test.ts',
  'test/e2e/schedule-retention.test.ts',
  'bench/freeze-window.test.ts',
  'bench/throughput.test.ts',
  'test/e2e/cut-faults.test.ts',
  'test/sync/sync-e2e.test.ts',
  'test/e2e/verify.test.ts',
  'test/e2e/dr.test.ts',
  'test/devsite/acceptance.test.ts',
  'test/drivers/postgres-faults.test.ts',
  'test/repository/restic.test.ts',
  'test/drivers/uploads-scale.test.ts',
  'test/drivers/tarantool-physical.test.ts',
  'test/drivers/uploads.test.ts',
  'test/deploy/package.test.ts',
];

export default class SlowFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    const rank = (f: TestSpecification): number => {
      const i = SLOW_FIRST.findIndex((s) => f.moduleId.endsWith(`/${s}`));
      return i === -1 ? SLOW_FIRST.length : i;
    };
    return base.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map((x) => x.f);
  }
}
