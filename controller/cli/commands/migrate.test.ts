import { describe, expect, it } from 'vitest';
import { EXIT_CODES, exitCodeFor } from '../../../shared/exit-codes.js';
import { facts } from '../../domain/migration/fixtures.test-support.js';
import { buildMigrationPlan } from '../../domain/migration/plan.js';
import type { MigrationDetail } from '../../domain/migration/job.js';
import { ev, jobRecord, makeDeps } from '../fakes.test-support.js';
import { runMigrateEnd, runMigratePlan, runMigrateResume, runMigrateStart } from './migrate.js';

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
    expect(out).toContain('`ffkeeper migrate start --site msk-1 --to-model face/ifruit_512.cpu.fnk` runs these steps as a job.');
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

const detail: MigrationDetail = {
  toModel: 'face/ifruit_512.cpu.fnk',
  fromModel: 'face/mango_512.cpu.fnk',
  portOffset: 10,
  shards: [{ host: 'tnt', from: 'shard-001', to: 'shard-011' }],
  done: ['plan', 'snapshot', 'create-shards', 'extraction-model', 'tnt-schema', 'start-shards', 'reextract', 'switch', 'adopt', 'security', 'snapshot-after'],
  snapshotId: 'c-before',
  snapshotAfterId: 'c-after',
  progress: { 'shard-011': { ffsec_face_events: { written: 1999, failed: 1, done: true, face: true } } },
  extracted: 2040,
  failed: [{ gallery: 'ffsec_face_events', id: '7', reason: 'normalized image events/7.jpg: missing' }],
  failedTotal: 1,
  downtimeMs: 830,
  writesStoppedMs: 9300,
  counts: { ffsec_face_events: { old: 2000, new: 1999, failed: 1 }, ffsec_body_events: { old: 0, new: 0, failed: 0 } },
};

describe('ffkeeper migrate start / resume / rollback', () => {
  it('start asks first, follows the job and reports counts per gallery, the faces not migrated, the downtime and the way back', async () => {
    const { deps, api, cap } = makeDeps({ interactive: true, answers: ['y'] });
    api.job = { events: [ev.message(0, 'plan', 'checking'), ev.outcome(20_000, 'Completed')] };
    api.jobs = [jobRecord({ kind: 'migrate', detail: detail as unknown as Record<string, unknown> })];
    await runMigrateStart({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk', json: false, yes: false }, deps);
    expect(cap.questions[0]).toContain("migrate every face of site 'msk-1' to face/ifruit_512.cpu.fnk");
    expect(api.calls[0]).toEqual({ method: 'migrate', args: [{ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk' }] });
    const out = cap.out.join('\n');
    expect(out).toMatch(/ffsec_face_events\s+2000\s+1999\s+1/);
    expect(out).toContain('(1 empty gallery not shown)');
    expect(out).toContain('ffsec_face_events 7: normalized image events/7.jpg: missing');
    expect(out).toContain('sf-api down at the switch: 830ms');
    expect(out).toContain('ffkeeper migrate rollback --site msk-1 goes back to them');
  });

  it('a failed job says how to resume it; resume refuses another kind of job or a completed one', async () => {
    const { deps, api } = makeDeps();
    api.job = { events: [ev.outcome(5000, 'Failed', { code: 'UNAVAILABLE', message: 'agent gone' })] };
    api.jobs = [jobRecord({ kind: 'migrate', phase: 'Failed', step: 'reextract', detail: detail as unknown as Record<string, unknown> })];
    const err = await runMigrateStart({ site: 'msk-1', toModel: 'face/ifruit_512.cpu.fnk', json: false, yes: true }, deps).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(EXIT_CODES.UNAVAILABLE);
    expect(String(err)).toContain('continue it with: ffkeeper migrate resume j-1');
    api.jobs = [jobRecord({ kind: 'restore' })];
    expect(exitCodeFor(await runMigrateResume('j-1', { json: false }, deps).catch((e: unknown) => e))).toBe(EXIT_CODES.VALIDATION);
    api.jobs = [jobRecord({ kind: 'migrate', phase: 'Completed' })];
    expect(exitCodeFor(await runMigrateResume('j-1', { json: false }, deps).catch((e: unknown) => e))).toBe(EXIT_CODES.ILLEGAL_STATE);
  });

  it('rollback reports what was carried back and the snapshots either side', async () => {
    const { deps, api, cap } = makeDeps();
    api.job = { events: [ev.outcome(9000, 'Completed')] };
    api.jobs = [jobRecord({ kind: 'migrate-rollback', detail: { migration: 'j-0', fromModel: 'face/mango_512.cpu.fnk', toModel: 'face/ifruit_512.cpu.fnk', done: [], snapshotId: 'c-mig', snapshotAfterId: 'c-back', carriedBack: 29, downtimeMs: 4700 } })];
    await runMigrateEnd('rollback', { site: 'msk-1', json: false, yes: true }, deps);
    expect(api.calls[0]).toEqual({ method: 'rollbackMigration', args: ['msk-1'] });
    const out = cap.out.join('\n');
    expect(out).toContain('migration j-0 undone: face/ifruit_512.cpu.fnk → face/mango_512.cpu.fnk');
    expect(out).toContain('records written since the switch, carried back to the old shards: 29');
    expect(out).toContain('snapshot of the site as it is again: c-back');
  });

  it('finish asks first (no rollback after it) and reports what each agent removed', async () => {
    const { deps, api, cap } = makeDeps({ interactive: true, answers: ['y'] });
    api.job = { events: [ev.outcome(2000, 'Completed')] };
    api.jobs = [jobRecord({ kind: 'migrate-finish', detail: { migration: 'j-0', removed: [{ host: 'tnt', shard: 'shard-001', paths: ['/etc/tarantool/instances.available/shard-001.lua', '/var/lib/tarantool/shard-001'], bytes: 3 * 2 ** 20 }] } })];
    await runMigrateEnd('finish', { site: 'msk-1', json: false, yes: false }, deps);
    expect(cap.questions[0]).toContain('no rollback after this');
    expect(api.calls[0]).toEqual({ method: 'finishMigration', args: ['msk-1'] });
    expect(cap.out.join('\n')).toContain('tnt shard-001: 3.0 MiB freed; removed /etc/tarantool/instances.available/shard-001.lua, /var/lib/tarantool/shard-001');
  });
});
