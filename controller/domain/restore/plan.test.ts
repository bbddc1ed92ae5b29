import { describe, expect, it } from 'vitest';
import { NotFoundError, UnavailableError, ValidationError } from '../../../shared/errors.js';
import { manifest, pg, sfApi, shard, standardSite, uploads, world } from './fakes.test-support.js';
import type { RestoreRequest } from './types.js';

const SNAP = manifest('msk-1', 'c-0100', '2026-01-01T00:00:00Z');

function req(over: Partial<RestoreRequest> = {}): RestoreRequest {
  return { site: 'msk-1', selector: { kind: 'id', id: 'c-0100' }, components: [], noSafetySnapshot: false, ...over };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

describe('RestoreOrchestrator.plan', () => {
  it('maps every component to the manifest host of the same site, shards and uploads before PostgreSQL, without side effects', async () => {
    const w = world(SNAP);
    standardSite(w.fleet, 'msk-1');
    const plan = await w.orchestrator.plan(req());
    expect(plan.targetSite).toBe('msk-1');
    expect(plan.crossSite).toBe(false);
    expect(plan.components.map((c) => `${c.ref}@${c.host} ${c.address}`)).toEqual([
      'tarantool:shard-1@t1 msk-1-t1:50051',
      'tarantool:shard-2@t2 msk-1-t2:50051',
      'uploads:uploads@up msk-1-up:50051',
      'postgres:main@db msk-1-db:50051',
    ]);
    expect(plan.writers).toEqual([
      { host: 'db', address: 'msk-1-db:50051', unit: 'findface-security', component: 'postgres:main', kind: 'postgres' },
      { host: 'api', address: 'msk-1-api:50051', unit: 'findface-sf-api', component: 'sf-api:sf-api', kind: 'sf-api' },
    ]);
    expect(plan.steps.map((s) => `${s.host} ${s.action}`)).toEqual([
      "* take a safety snapshot of site 'msk-1'",
      "t1 stage from snapshot 'c-0100' while the site runs",
      "t2 stage from snapshot 'c-0100' while the site runs",
      "up stage from snapshot 'c-0100' while the site runs",
      "db stage from snapshot 'c-0100' while the site runs",
      'db stop findface-security',
      'api stop findface-sf-api',
      't1 switch the staged copy in (the current one moved aside)',
      't2 switch the staged copy in (the current one moved aside)',
      'up switch the staged copy in (the current one moved aside)',
      'db switch the staged copy in (the current one moved aside)',
      'api start findface-sf-api',
      'db start findface-security',
      't1 delete what was moved aside',
      't2 delete what was moved aside',
      'up delete what was moved aside',
      'db delete what was moved aside',
      "* integrity check of site 'msk-1'",
    ]);
    expect(w.calls).toEqual([]);
  });

  it('stops findface-security before sf-api on a host that has both, and starts it when PostgreSQL is not restored', async () => {
    const w = world(SNAP);
    w.fleet.add('msk-1', 'db', [pg(), sfApi()]).add('msk-1', 'up', [uploads()]);
    const plan = await w.orchestrator.plan(req({ components: ['uploads:uploads'] }));
    expect(plan.components.map((c) => c.ref)).toEqual(['uploads:uploads']);
    expect(plan.steps.filter((s) => /^(stop|start)/.test(s.action)).map((s) => s.action)).toEqual([
      'stop findface-security',
      'stop findface-sf-api',
      'start findface-sf-api',
      'start findface-security',
    ]);
  });

  it('maps components onto another site by component ref with --to-site, and says so', async () => {
    const w = world(SNAP);
    standardSite(w.fleet, 'msk-1');
    standardSite(w.fleet, 'scratch', { db: 's-db', api: 's-api', t1: 's-t1', t2: 's-t2', up: 's-up' });
    const plan = await w.orchestrator.plan(req({ toSite: 'scratch' }));
    expect(plan.targetSite).toBe('scratch');
    expect(plan.sourceSite).toBe('msk-1');
    expect(plan.crossSite).toBe(true);
    expect(plan.components.map((c) => `${c.ref}: ${c.sourceHost}→${c.host} ${c.address}`)).toEqual([
      'tarantool:shard-1: t1→s-t1 scratch-s-t1:50051',
      'tarantool:shard-2: t2→s-t2 scratch-s-t2:50051',
      'uploads:uploads: up→s-up scratch-s-up:50051',
      'postgres:main: db→s-db scratch-s-db:50051',
    ]);
    expect(plan.notes).toContain("restoring site 'msk-1's snapshot 'c-0100' into another site, 'scratch'");
    expect(plan.steps).toContainEqual({ host: 's-t1', component: 'tarantool:shard-1', action: "stage from snapshot 'c-0100' (taken on msk-1/t1) while the site runs" });
  });

  it('prefers the manifest host when several hosts of the target serve the same component', async () => {
    const snap = manifest('msk-1', 'c-0100', '2026-01-01T00:00:00Z', { components: ['uploads:uploads@up1', 'uploads:uploads@up2'] });
    const w = world(snap);
    w.fleet.add('scratch', 'up2', [uploads()]).add('scratch', 'up1', [uploads()]);
    const plan = await w.orchestrator.plan(req({ toSite: 'scratch' }));
    expect(plan.components.map((c) => `${c.sourceHost}→${c.host}`)).toEqual(['up1→up1', 'up2→up2']);
  });

  it('notes when no safety snapshot is taken', async () => {
    const w = world(SNAP);
    standardSite(w.fleet, 'msk-1');
    const plan = await w.orchestrator.plan(req({ noSafetySnapshot: true }));
    expect(plan.safetySnapshot).toBe(false);
    expect(plan.steps[0]?.action).toBe("stage from snapshot 'c-0100' while the site runs");
    expect(plan.notes).toContain("no safety snapshot of site 'msk-1' is taken: its current data cannot be restored afterwards");
  });

  it.each<{ name: string; setup: (w: ReturnType<typeof world>) => void; request: Partial<RestoreRequest>; cls: new (...a: never[]) => Error; message: string }>([
    {
      name: 'a component the snapshot lacks',
      setup: (w) => standardSite(w.fleet, 'msk-1'),
      request: { components: ['tarantool:shard-9'] },
      cls: ValidationError,
      message: "component 'tarantool:shard-9' is not in snapshot 'c-0100' of site 'msk-1' (it has: postgres:main, tarantool:shard-1, tarantool:shard-2, uploads:uploads)",
    },
    {
      name: 'a target site nobody serves a component in',
      setup: (w) => w.fleet.add('scratch', 's-db', [pg()]).add('scratch', 's-t1', [shard('shard-1')]).add('scratch', 's-up', [uploads()]),
      request: { toSite: 'scratch' },
      cls: ValidationError,
      message: "no agent of site 'scratch' serves component 'tarantool:shard-2' (taken on host 't2' of site 'msk-1')",
    },
    {
      name: 'an unknown target site',
      setup: (w) => standardSite(w.fleet, 'msk-1'),
      request: { toSite: 'nowhere' },
      cls: ValidationError,
      message: "site 'nowhere' has no known agents to restore snapshot 'c-0100' into",
    },
    {
      name: 'an offline agent of a component',
      setup: (w) => w.fleet.add('msk-1', 'db', [pg()]).add('msk-1', 't1', [shard('shard-1')], { offline: true }),
      request: { components: ['tarantool:shard-1'] },
      cls: UnavailableError,
      message: "component 'tarantool:shard-1' of site 'msk-1': the agent on host 't1' is offline",
    },
    {
      name: 'an offline writer host',
      setup: (w) => w.fleet.add('msk-1', 'up', [uploads()]).add('msk-1', 'api', [sfApi()], { offline: true }),
      request: { components: ['uploads:uploads'] },
      cls: UnavailableError,
      message: "cannot stop the writers of site 'msk-1': the agent on host 'api' (findface-sf-api) is offline",
    },
    {
      name: 'several target hosts serving a component, none by its name',
      setup: (w) => w.fleet.add('scratch', 'a', [uploads()]).add('scratch', 'b', [uploads()]),
      request: { toSite: 'scratch', components: ['uploads:uploads'] },
      cls: ValidationError,
      message: "component 'uploads:uploads' (taken on host 'up' of site 'msk-1') is served by several hosts of site 'scratch' ('a', 'b'); none is named 'up'",
    },
    {
      name: "another site's snapshot without --to-site",
      setup: (w) => standardSite(w.fleet, 'spb-2'),
      request: { site: 'spb-2' },
      cls: ValidationError,
      message: "snapshot 'c-0100' belongs to site 'msk-1', not 'spb-2'; to restore it into site 'spb-2' use --site msk-1 --to-site spb-2",
    },
    {
      name: 'a snapshot that does not exist',
      setup: (w) => standardSite(w.fleet, 'msk-1'),
      request: { selector: { kind: 'id', id: 'c-0999' } },
      cls: NotFoundError,
      message: "snapshot 'c-0999' not found for site 'msk-1'",
    },
  ])('refuses $name', async ({ setup, request, cls, message }) => {
    const w = world(SNAP);
    setup(w);
    const err = await failure(w.orchestrator.plan(req(request)));
    expect(err).toBeInstanceOf(cls);
    expect(err.message).toBe(message);
    expect(w.calls).toEqual([]);
  });
});

describe('feature-vector model compatibility', () => {
  const models = { ffsec_face_objects: 'face-v1', ffsec_body_objects: 'body-v1' };
  const snap = manifest('msk-1', 'c-0100', '2026-01-01T00:00:00Z', { models, shardModels: models });

  it.each<{ name: string; target: Record<string, string> | undefined; status: string; detail: string }>([
    { name: 'the same models', target: models, status: 'compatible', detail: "2 galleries match site 'scratch's newest snapshot 'c-s1'" },
    {
      name: 'no snapshot of the target',
      target: undefined,
      status: 'unchecked',
      detail: "site 'scratch' has no sealed snapshot recording its models; the snapshot's are ffsec_face_objects: face-v1, ffsec_body_objects: body-v1",
    },
    { name: 'no common gallery', target: { other: 'x' }, status: 'unchecked', detail: "site 'scratch's newest snapshot 'c-s1' shares no gallery with the snapshot's (ffsec_face_objects: face-v1, ffsec_body_objects: body-v1)" },
  ])('with $name is $status', async ({ target, status, detail }) => {
    const w = world(snap, ...(target ? [manifest('scratch', 'c-s1', '2026-01-05T00:00:00Z', { models: target })] : []));
    standardSite(w.fleet, 'scratch');
    const plan = await w.orchestrator.plan(req({ toSite: 'scratch' }));
    expect(plan.models).toEqual({ status, detail });
    if (status === 'unchecked') expect(plan.notes).toContain(`feature-vector models not checked: ${detail}`);
  });

  it('uses the newest snapshot of the target and refuses a different model, naming gallery and both models', async () => {
    const w = world(
      snap,
      manifest('scratch', 'c-s2', '2026-01-06T00:00:00Z', { models: { ffsec_face_objects: 'face-v2', ffsec_body_objects: 'body-v1' } }),
      manifest('scratch', 'c-s1', '2026-01-05T00:00:00Z', { models }),
    );
    standardSite(w.fleet, 'scratch');
    const err = await failure(w.orchestrator.plan(req({ toSite: 'scratch' })));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toBe(
      "feature-vector models differ (per site 'scratch's newest snapshot 'c-s2'): gallery 'ffsec_face_objects' is 'face-v1' in snapshot 'c-0100' but 'face-v2' in site 'scratch'",
    );
  });

  it('is not applicable when no shard is restored', async () => {
    const w = world(snap, manifest('scratch', 'c-s2', '2026-01-06T00:00:00Z', { models: { ffsec_face_objects: 'face-v2' } }));
    standardSite(w.fleet, 'scratch');
    const plan = await w.orchestrator.plan(req({ toSite: 'scratch', components: ['uploads:uploads'] }));
    expect(plan.models.status).toBe('not-applicable');
  });

  it('falls back to the manifest models when the shard artifacts carry none', async () => {
    const w = world(manifest('msk-1', 'c-0100', '2026-01-01T00:00:00Z', { models }), manifest('scratch', 'c-s1', '2026-01-05T00:00:00Z', { models: { ffsec_face_objects: 'face-v9' } }));
    standardSite(w.fleet, 'scratch');
    const err = await failure(w.orchestrator.plan(req({ toSite: 'scratch' })));
    expect(err.message).toContain("gallery 'ffsec_face_objects' is 'face-v1' in snapshot 'c-0100' but 'face-v9' in site 'scratch'");
  });
});
