import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.js';
import { FakeApi, makeDeps } from './fakes.test-support.js';
import { registerSyncCommands } from './register-sync.js';

/** A program as main.ts builds it, with the fake API. */
async function run(argv: string[], api = new FakeApi()): Promise<{ api: FakeApi; out: string[] }> {
  const { deps, cap } = makeDeps({ api, interactive: false });
  const program = new Command('ffkeeper').option('--json', 'json', false).exitOverride();
  program.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerSyncCommands(program, { io: deps.io, term: deps.term, withApi: (cmd, fn) => fn(api, cmd.optsWithGlobals<{ json: boolean }>()), exitNow: () => undefined });
  await program.parseAsync(['node', 'ffkeeper', ...argv]);
  return { api, out: cap.out };
}

describe('registerSyncCommands', () => {
  it('sync link: flags become the request; defaults for --mode, --at and --timezone', async () => {
    const { api } = await run(['sync', 'link', '--from', 'msk-1:1', '--to', 'spb-1:2']);
    expect(api.calls[0]).toEqual({ method: 'createSyncLink', args: [{ from: { site: 'msk-1', list: 1 }, to: { site: 'spb-1', list: 2 }, noSafetySnapshot: false, mode: 'continuous', at: '03:00', timezone: 'UTC' }] });
  });

  it('sync link --no-safety-snapshot --at --timezone --json', async () => {
    const { api, out } = await run(['--json', 'sync', 'link', '--from', 'msk-1:1', '--to', 'spb-1:2', '--no-safety-snapshot', '--at', '04:15', '--timezone', 'Europe/Moscow']);
    expect(api.calls[0]?.args[0]).toMatchObject({ noSafetySnapshot: true, at: '04:15', timezone: 'Europe/Moscow' });
    expect(JSON.parse(out[0] ?? '')).toMatchObject({ id: 'msk-1.1.spb-1.2' });
  });

  it('a missing --to is a usage error; a malformed one a ValidationError naming it', async () => {
    await expect(run(['sync', 'link', '--from', 'msk-1:1'])).rejects.toBeInstanceOf(CommanderError);
    const err = await run(['sync', 'link', '--from', 'msk-1:1', '--to', 'spb-1']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).message).toBe("--to 'spb-1' must be SITE:LIST, a site and a watch-list id (e.g. msk-1:1)");
    expect((err as ValidationError).field).toBe('to');
  });

  it('pause, resume, unlink and show take the LINK argument', async () => {
    const api = new FakeApi();
    await run(['sync', 'link', '--from', 'msk-1:1', '--to', 'spb-1:2'], api);
    for (const verb of ['pause', 'resume', 'show', 'unlink']) await run(['sync', verb, 'msk-1.1.spb-1.2'], api);
    await run(['sync', 'list', '--site', 'msk-1'], api);
    expect(api.calls.slice(1)).toEqual([
      { method: 'setSyncLinkPaused', args: ['msk-1.1.spb-1.2', true] },
      { method: 'setSyncLinkPaused', args: ['msk-1.1.spb-1.2', false] },
      { method: 'getSyncLink', args: ['msk-1.1.spb-1.2'] },
      { method: 'deleteSyncLink', args: ['msk-1.1.spb-1.2'] },
      { method: 'listSyncLinks', args: ['msk-1'] },
    ]);
  });
});
