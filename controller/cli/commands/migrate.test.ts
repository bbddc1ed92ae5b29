import { describe, expect, it } from 'vitest';
import { EXIT_CODES, exitCodeFor } from '../../../shared/exit-codes.js';
import { facts } from '../../domain/migration/fixtures.test-support.js';
import { buildMigrationPlan } from '../../domain/migration/plan.js';
import { makeDeps } from '../fakes.test-support.js';
import { runMigratePlan } from './migrate.js';

describe('ffkeeper migrate plan', () => {
  it('prints the runbook: model change, faces and estimate, shards, preconditions, numbered steps with commands and diffs', async () => {
    const { deps, api, cap } = makeDeps();
    api.migrationPlan = buildMigrationPlan(facts());
    await runMigratePlan({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk', json: false }, deps);
    expect(api.calls).toEqual([{ method: 'planMigration', args: [{ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' }] }]);
    const out = cap.out.join('\n');
    expect(out).toContain("migration plan for site 'msk-1': face/mango_512.cpu.fnk → face/ifruit_512.cpu.fnk");
    expect(out).toContain('faces to re-extract: 2300 (ffsec_face_objects 300, ffsec_face_events 2000)');
    expect(out).toMatch(/extraction rate: 200 faces\/s/);
    expect(out).toMatch(/tnt\s+shard-002\s+shard-012\s+32002 → 32012\s+8102 → 8112\s+1200/);
    expect(out).toContain('ok    verified snapshot: c-1');
    expect(out).toMatch(/^ {2}3\. Create 2 new shard\(s\) \[on tnt\]$/m);
    expect(out).toContain('      $ systemctl start tarantool@shard-011');
    expect(out).toContain("      +  listen = '127.0.0.1:32011',");
    expect(out).toContain('every precondition holds.');
    expect(out).toContain('`ffkeeper migrate start` (running these steps as a job) is not built yet');
  });

  it('prints the plan, then fails with exit 8 naming each failed precondition', async () => {
    const { deps, api, cap } = makeDeps();
    api.migrationPlan = buildMigrationPlan(facts({ verified: undefined }));
    const err = await runMigratePlan({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk', json: true }, deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(EXIT_CODES.ILLEGAL_STATE);
    expect(String(err)).toContain("site 'msk-1' is not ready to migrate to face/ifruit_512.cpu.fnk: verified snapshot (the site has no verified snapshot");
    expect(JSON.parse(cap.out.join('\n'))).toMatchObject({ ready: false, site: 'msk-1' });
  });

  it('refuses a model that is not a model file before calling the controller (exit 2)', async () => {
    const { deps, api } = makeDeps();
    const err = await runMigratePlan({ site: 'msk-1', toModel: 'ifruit', json: false }, deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(EXIT_CODES.VALIDATION);
    expect(String(err)).toContain("--to-model: model file 'ifruit' is not <kind>/<name>_<dim>");
    expect(api.calls).toEqual([]);
  });
});
