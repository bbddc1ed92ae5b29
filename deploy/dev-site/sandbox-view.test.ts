/** The checker's view of a verify sandbox: every part of the site replaced by the sandbox's, or refused. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors.js';
import type { SandboxDescription } from '../../shared/sandbox.js';
import { sandboxView, stateToCheck } from './sandbox-view.js';
import type { ShardState, SiteState } from './state.js';

const shard = (name: string, port: number): ShardState => ({
  name, unit: `tarantool@${name}`, port, httpPort: port + 1000, dir: `/s/${name}`, memtxDir: `/s/${name}/snapshots`, walDir: `/s/${name}/xlogs`,
  vinylDir: `/s/${name}/index`, instanceFile: `/s/${name}.lua`, memtxMemoryBytes: 1,
});

const state = {
  site: 'msk-1',
  postgres: { host: '127.0.0.1', port: 5432, superuser: 'postgres', database: 'ffsecurity_msk_1', owner: 'ntech' },
  shards: [shard('shard-001', 33001), shard('shard-002', 33002)],
  uploads: { uploadsDir: '/s/uploads', ffuploadDir: '/s/ffupload' },
} as SiteState;

const sandbox: SandboxDescription = {
  sandboxId: 'j-1',
  snapshotId: 'c-1',
  site: 'msk-1',
  components: [
    { kind: 'postgres', component: 'postgres:ffsecurity', host: '127.0.0.1', port: 5433, database: 'ffk_drill_abc', owner: 'ntech', agentHost: 'db' },
    { kind: 'tarantool', component: 'tarantool:shard-002', name: 'shard-002', host: '127.0.0.1', port: 41002, agentHost: 'tnt' },
    { kind: 'tarantool', component: 'tarantool:shard-001', name: 'shard-001', host: '127.0.0.1', port: 41001, agentHost: 'tnt' },
    { kind: 'uploads', component: 'uploads:uploads', agentHost: 'files', roots: [{ original: '/s/uploads', restored: '/box/s/uploads' }, { original: '/s/ffupload', restored: '/box/s/ffupload' }] },
  ],
};

describe('sandboxView', () => {
  it('points the checker at the scratch database, the scratch shards by name and the restored upload roots', () => {
    const view = sandboxView(state, sandbox);
    expect(view.postgres).toEqual({ ...state.postgres, port: 5433, database: 'ffk_drill_abc' });
    expect(view.shards.map((s) => [s.name, s.port])).toEqual([['shard-001', 41001], ['shard-002', 41002]]);
    expect(view.uploads).toEqual({ uploadsDir: '/box/s/uploads', ffuploadDir: '/box/s/ffupload' });
  });

  it.each([
    ['a shard', { ...sandbox, components: sandbox.components.filter((c) => c.component !== 'tarantool:shard-002') }, 'holds no shard shard-002'],
    ['the database', { ...sandbox, components: sandbox.components.filter((c) => c.kind !== 'postgres') }, 'holds no PostgreSQL database'],
    ['an upload root', { ...sandbox, components: sandbox.components.filter((c) => c.kind !== 'uploads') }, 'holds no upload directory /s/uploads'],
  ])('refuses a sandbox without %s (a partial drill never checks the live part)', (_what, partial, message) => {
    expect(() => sandboxView(state, partial)).toThrow(ValidationError);
    expect(() => sandboxView(state, partial)).toThrow(`sandbox 'j-1' of site 'msk-1' ${message} of dev site 'msk-1'`);
  });

  it('reads FFK_SANDBOX; without it the live site is checked', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ffk-sandbox-view-'));
    try {
      const file = path.join(dir, 'sandbox.json');
      writeFileSync(file, JSON.stringify(sandbox));
      expect(stateToCheck(state, { FFK_SANDBOX: file }).state.postgres.database).toBe('ffk_drill_abc');
      expect(stateToCheck(state, {}).state).toBe(state);
      writeFileSync(file, '{"sandboxId": "j-1"}');
      expect(() => stateToCheck(state, { FFK_SANDBOX: file })).toThrow(`FFK_SANDBOX file ${file} is not a sandbox description`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
