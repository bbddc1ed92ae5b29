import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { IllegalStateError, ValidationError } from '../../shared/errors.js';
import type { Qualification } from '../domain/repository/qualify.js';
import { ev, FakeApi, makeDeps, snapshotSummary } from './fakes.test-support.js';
import { registerJobCommands } from './register-jobs.js';

/** A program as main.ts builds it, with the fake API; returns what the run left behind. */
async function run(argv: string[], api = new FakeApi()): Promise<{ api: FakeApi; out: string[]; exits: number; closed: number }> {
  const { deps, cap } = makeDeps({ api, interactive: false });
  let exits = 0;
  let closed = 0;
  const program = new Command('ffkeeper').option('--json', 'json', false).exitOverride();
  program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerJobCommands(program, {
    io: deps.io,
    term: deps.term,
    withApi: async (cmd, fn) => {
      try {
        await fn(api, cmd.optsWithGlobals<{ json: boolean }>());
      } finally {
        closed++;
      }
    },
    exitNow: () => {
      exits++;
    },
  });
  await program.parseAsync(['node', 'ffkeeper', ...argv]);
  return { api, out: cap.out, exits, closed };
}

function withJob(): FakeApi {
  const api = new FakeApi();
  api.job = { events: [ev.message(0, 'new', 'started'), ev.outcome(10, 'Completed')] };
  api.snapshots = [snapshotSummary()];
  return api;
}

describe('registerJobCommands', () => {
  it('restore: flags become the request (repeatable --component, --no-safety-snapshot)', async () => {
    const api = withJob();
    api.plan = { snapshot: snapshotSummary(), targetSite: 'spb-2', safetySnapshot: false, steps: [] };
    const argv = ['restore', '--site', 'msk-1', '--latest', '--component', 'postgres:main', 'tarantool:shard-1', '--component', 'uploads:media'];
    await run([...argv, '--to-site', 'spb-2', '--no-safety-snapshot', '--yes'], api);
    expect(api.calls[0]).toEqual({
      method: 'planRestore',
      args: [{ site: 'msk-1', selector: { kind: 'latest' }, components: ['postgres:main', 'tarantool:shard-1', 'uploads:media'], toSite: 'spb-2', noSafetySnapshot: true }],
    });
    expect(api.names()).toEqual(['planRestore', 'restore', 'getJob']);
  });

  it('restore: a safety snapshot is the default', async () => {
    const api = withJob();
    api.plan = { snapshot: snapshotSummary(), targetSite: 'msk-1', safetySnapshot: true, steps: [] };
    await run(['restore', '--site', 'msk-1', '--snapshot', 'c-1', '--yes'], api);
    expect(api.calls[0]?.args[0]).toMatchObject({ selector: { kind: 'id', id: 'c-1' }, components: [], noSafetySnapshot: false });
  });

  it('snapshot create without --wait ends the process at once; with --wait it does not', async () => {
    const detached = await run(['snapshot', 'create', '--site', 'msk-1', '--lease-ms', '4000'], withJob());
    expect(detached.exits).toBe(1);
    expect(detached.closed).toBe(1);
    expect(detached.api.calls[0]?.args[0]).toEqual({ site: 'msk-1', leaseMs: 4000, reason: 'manual' });
    const waited = await run(['snapshot', 'create', '--site', 'msk-1', '--wait'], withJob());
    expect(waited.exits).toBe(0);
    expect(waited.out.join('\n')).toContain("snapshot c-20261121-1000 of site 'msk-1' sealed");
  });

  it('the global --json reaches the commands', async () => {
    const { out } = await run(['--json', 'snapshot', 'list', '--site', 'msk-1'], withJob());
    expect(JSON.parse(out.join(''))).toMatchObject([{ id: 'c-20261121-1000' }]);
  });

  it.each([
    [['snapshot', 'create', '--site', 'msk-1', '--lease-ms', '5s'], "--lease-ms '5s' must be a positive whole number"],
    [['jobs', 'list', '--limit', '0'], "--limit '0' must be a positive whole number"],
  ])('%j is refused naming the flag', async (argv, message) => {
    const err = await run(argv).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toBe(message);
  });

  it('a missing required --site is a usage error', async () => {
    const err = await run(['snapshot', 'list']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CommanderError);
    expect((err as CommanderError).message).toBe("error: required option '--site <site>' not specified");
  });

  it('every command is registered', async () => {
    const api = withJob();
    api.jobs = [];
    await run(['jobs', 'list'], api);
    await run(['jobs', 'logs', 'j-1', '--follow'], api);
    await run(['catalog', 'rebuild', '--site', 'msk-1'], api);
    await run(['snapshot', 'delete', 'c-1', '--site', 'msk-1', '--yes'], api);
    expect(api.names()).toEqual(['listJobs', 'watchJob', 'rebuildCatalog', 'deleteSnapshot']);
  });
});

describe('ffkeeper repo qualify', () => {
  const step = (credentials: 'agent' | 'maintenance', name: string, ok = true, detail = 'done'): Qualification['steps'][number] => ({ credentials, step: name, ok, detail, ms: 12 });
  const qualified: Qualification = {
    site: 'msk-1',
    agentUrl: 'rest:https://agent:***@repo:8001/msk-1',
    maintenanceUrl: 'rest:https://maint:***@repo:8002/msk-1',
    separate: true,
    steps: [step('agent', 'open'), step('agent', 'write'), step('agent', 'list'), step('agent', 'read'), step('agent', 'delete', true, 'refused, as it should be: 403 Forbidden'), step('maintenance', 'open'), step('maintenance', 'delete')],
    bytes: 4 * 1048576,
    writeMiBps: 12.5,
    readMiBps: 40,
    listMs: 90,
    appendOnly: 'append-only',
    ok: true,
    findings: [],
  };

  it('prints each step, the speeds and the append-only verdict; --size-mib goes in bytes', async () => {
    const api = new FakeApi();
    api.qualification = qualified;
    const { out } = await run(['repo', 'qualify', '--site', 'msk-1', '--size-mib', '4'], api);
    expect(api.calls).toEqual([{ method: 'qualifyRepository', args: ['msk-1', 4 * 1048576] }]);
    const text = out.join('\n');
    expect(text).toContain('controller deletes:  rest:https://maint:***@repo:8002/msk-1');
    expect(text).toMatch(/agent\s+delete\s+ok\s+12 ms\s+refused, as it should be: 403 Forbidden/);
    expect(text).toContain('write 12.5 MiB/s · read 40 MiB/s · list 90 ms (4 MiB test object');
    expect(text).toContain("append-only: the agents' credentials cannot delete backups");
    expect(text.endsWith('qualified')).toBe(true);
  });

  it('a storage that did not qualify is printed, then exits with ILLEGAL_STATE naming the findings', async () => {
    const api = new FakeApi();
    api.qualification = { ...qualified, appendOnly: 'can-delete', ok: false, findings: ["the agents' credentials can delete backups"] };
    const err = await run(['repo', 'qualify', '--site', 'msk-1'], api).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IllegalStateError);
    expect((err as Error).message).toBe("the repository of site 'msk-1' did not qualify: the agents' credentials can delete backups");
    expect(api.calls).toEqual([{ method: 'qualifyRepository', args: ['msk-1', 0] }]);
  });

  it('a bad --size-mib is a usage error before any call', async () => {
    const api = new FakeApi();
    const err = await run(['repo', 'qualify', '--site', 'msk-1', '--size-mib', '0'], api).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(api.calls).toEqual([]);
  });
});
