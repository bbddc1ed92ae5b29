/**
 * The sandbox manager against an in-memory store and fake drivers: restores go to the drivers' sandbox
 * paths with a directory and a ledger, drops release every recorded resource through its driver (newest
 * first) and are idempotent, a failed release keeps the sandbox for a later drop, and `dropAll` (agent
 * start) clears what a previous run left.
 */
import { describe, expect, it } from 'vitest';
import { unusedDriver } from '../drivers/fakes.test-support.js';
import { ConflictError, InternalError, NotFoundError, ValidationError } from '../../../shared/errors.js';
import { silentLogger } from '../../../shared/logger.js';
import type { Repository } from '../../../shared/repository/repository.js';
import type { ComponentArtifact, ComponentDriver, SandboxResource, SandboxRestoreContext, SandboxRestoreReport } from '../drivers/types.js';
import { SandboxManager } from './manager.js';
import type { SandboxStore } from './ports.js';

class MemoryStore implements SandboxStore {
  readonly root = '/cache/sandbox';
  readonly sandboxes = new Map<string, { resources: SandboxResource[]; files: Map<string, string> }>();

  async exists(id: string): Promise<boolean> {
    return this.sandboxes.has(id);
  }
  async componentDir(id: string, component: string): Promise<string> {
    this.open(id);
    return `${this.root}/${id}/${component.replace(':', '-')}`;
  }
  async record(id: string, resource: SandboxResource): Promise<void> {
    this.open(id).resources.push(resource);
  }
  async resources(id: string): Promise<SandboxResource[] | undefined> {
    return this.sandboxes.get(id)?.resources;
  }
  async writeFile(id: string, name: string, content: string): Promise<string> {
    this.open(id).files.set(name, content);
    return `${this.root}/${id}/${name}`;
  }
  async list(): Promise<string[]> {
    return [...this.sandboxes.keys()];
  }
  async remove(id: string): Promise<boolean> {
    return this.sandboxes.delete(id);
  }
  private open(id: string) {
    let s = this.sandboxes.get(id);
    if (!s) this.sandboxes.set(id, (s = { resources: [], files: new Map() }));
    return s;
  }
}

/** A driver whose sandbox restore records `resources` (then fails when `failWith` is set) and whose releases are logged. */
function fakeDriver(ref: string, calls: string[], o: { resources?: SandboxResource[]; failWith?: Error; releaseFails?: Error; noSandbox?: boolean } = {}): ComponentDriver {
  const driver: ComponentDriver = {
    ...unusedDriver(ref),
    async releaseSandbox(resource: SandboxResource): Promise<string> {
      calls.push(`release ${resource.kind} ${resource.component}`);
      if (o.releaseFails) throw o.releaseFails;
      return `${resource.kind} of ${ref} released`;
    },
  };
  if (!o.noSandbox) {
    driver.restoreSandbox = async (ctx: SandboxRestoreContext): Promise<SandboxRestoreReport> => {
      calls.push(`restore ${ref} into ${ctx.dir}`);
      for (const r of o.resources ?? []) await ctx.record(r);
      if (o.failWith) throw o.failWith;
      return { component: ref, steps: [{ step: 'load', ok: true, durationMs: 3 }], endpoint: { kind: 'tarantool', component: ref, name: driver.name, host: '127.0.0.1', port: 4000 } };
    };
  }
  return driver;
}

function artifact(ref: string): ComponentArtifact {
  const kind = ref.split(':')[0] as ComponentArtifact['kind'];
  return { component: ref, kind, cut: { kind: 'uploads', component: ref, time: new Date(0) }, snapshotIds: ['s1'], bytes: 1, files: 1, dataAddedBytes: 0 };
}

function setup(drivers: (calls: string[]) => ComponentDriver[]) {
  const calls: string[] = [];
  const list = drivers(calls);
  const store = new MemoryStore();
  const manager = new SandboxManager({
    select: (refs) => refs.map((r) => list.find((d) => d.ref === r) ?? (() => { throw new NotFoundError(`component '${r}' is not served by this agent`); })()),
    store,
    logger: silentLogger(),
  });
  return { calls, store, manager };
}

const repository = {} as Repository;
const db = (c: string): SandboxResource => ({ kind: 'database', component: c, database: 'ffk_drill_1' });
const inst = (c: string): SandboxResource => ({ kind: 'instance', component: c, dir: `/cache/sandbox/j-1/${c}` });

describe('SandboxManager', () => {
  it('restores each component into its directory of the sandbox, in order, and says where each can be reached', async () => {
    const { calls, manager, store } = setup((c) => [fakeDriver('postgres:main', c, { resources: [db('postgres:main')] }), fakeDriver('tarantool:shard-1', c)]);
    const steps: string[] = [];
    const r = await manager.restore({ sandboxId: 'j-1', jobId: 'j-1', artifacts: [artifact('postgres:main'), artifact('tarantool:shard-1')], repository, onStep: (c, s) => steps.push(`${c} ${s.step}`) });
    expect(calls).toEqual(['restore postgres:main into /cache/sandbox/j-1/postgres-main', 'restore tarantool:shard-1 into /cache/sandbox/j-1/tarantool-shard-1']);
    expect(r.components.map((c) => c.component)).toEqual(['postgres:main', 'tarantool:shard-1']);
    expect(steps).toEqual(['postgres:main load', 'tarantool:shard-1 load']);
    expect(await store.resources('j-1')).toEqual([db('postgres:main')]);
  });

  it.each([
    ['an existing sandbox', 'j-1', ConflictError, "sandbox 'j-1' already exists on this agent; drop it first"],
    ['a bad id', '../x', ValidationError, "sandbox id '../x' must be"],
  ])('refuses %s', async (_what, id, cls, message) => {
    const { manager, store } = setup((c) => [fakeDriver('postgres:main', c)]);
    await store.record('j-1', db('postgres:main'));
    const p = manager.restore({ sandboxId: id, jobId: 'j-2', artifacts: [artifact('postgres:main')], repository });
    await expect(p).rejects.toThrow(cls);
    await expect(manager.restore({ sandboxId: id, jobId: 'j-2', artifacts: [artifact('postgres:main')], repository })).rejects.toThrow(message);
  });

  it('refuses a component whose driver has no sandbox restore, before restoring anything', async () => {
    const { calls, manager } = setup((c) => [fakeDriver('postgres:main', c), fakeDriver('uploads:media', c, { noSandbox: true })]);
    await expect(manager.restore({ sandboxId: 'j-1', jobId: 'j-1', artifacts: [artifact('postgres:main'), artifact('uploads:media')], repository })).rejects.toThrow(
      'component uploads:media cannot be restored into a sandbox',
    );
    expect(calls).toEqual([]);
  });

  it('drops what a failed restore made: every recorded resource, newest first, then the directory; a second drop finds nothing', async () => {
    const { calls, manager, store } = setup((c) => [
      fakeDriver('postgres:main', c, { resources: [db('postgres:main')] }),
      fakeDriver('tarantool:shard-1', c, { resources: [inst('tarantool:shard-1')], failWith: new Error('did not start') }),
    ]);
    await expect(manager.restore({ sandboxId: 'j-1', jobId: 'j-1', artifacts: [artifact('postgres:main'), artifact('tarantool:shard-1')], repository })).rejects.toThrow('did not start');
    calls.length = 0;
    const dropped = await manager.drop('j-1');
    expect(calls).toEqual(['release instance tarantool:shard-1', 'release database postgres:main']);
    expect(dropped.existed).toBe(true);
    expect(dropped.released.at(-1)).toBe('directory /cache/sandbox/j-1 removed');
    expect(store.sandboxes.has('j-1')).toBe(false);
    expect(await manager.drop('j-1')).toEqual({ existed: false, released: [] });
  });

  it('a failed release keeps the sandbox (and says so); the other resources are still released, and a later drop finishes it', async () => {
    let failing = true;
    const { calls, manager, store } = setup((c) => {
      const pgDriver = fakeDriver('postgres:main', c);
      pgDriver.releaseSandbox = async (r) => {
        c.push(`release ${r.kind} ${r.component}`);
        if (failing) throw new Error('server down');
        return 'dropped';
      };
      return [pgDriver, fakeDriver('tarantool:shard-1', c)];
    });
    await store.record('j-1', db('postgres:main'));
    await store.record('j-1', inst('tarantool:shard-1'));
    const err = await manager.drop('j-1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as Error).message).toContain("sandbox 'j-1' was not dropped completely");
    expect((err as Error).message).toContain('database of postgres:main: server down');
    expect(calls).toEqual(['release instance tarantool:shard-1', 'release database postgres:main']);
    expect(store.sandboxes.has('j-1')).toBe(true);
    failing = false;
    expect((await manager.drop('j-1')).existed).toBe(true);
    expect(store.sandboxes.has('j-1')).toBe(false);
  });

  it('dropAll (agent start) drops every sandbox a previous run left, and never throws', async () => {
    const { calls, manager, store } = setup((c) => [fakeDriver('postgres:main', c), fakeDriver('tarantool:shard-1', c, { releaseFails: new Error('gone') })]);
    await store.record('j-old-1', db('postgres:main'));
    await store.record('j-old-2', inst('tarantool:shard-1'));
    await store.writeFile('j-old-3', 'check-sandbox.json', '{}');
    const dropped = await manager.dropAll('left by a previous run');
    expect(dropped.sort()).toEqual(['j-old-1', 'j-old-3']);
    expect(calls).toEqual(['release database postgres:main', 'release instance tarantool:shard-1']);
    expect([...store.sandboxes.keys()]).toEqual(['j-old-2']);
  });
});
