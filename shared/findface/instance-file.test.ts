import { describe, expect, it } from 'vitest';
import { parseInstanceFile, shiftedShardName, shiftInstanceFile } from './instance-file.js';

const LUA = [
  '-- shard-001: listen = 1 is a comment',
  'box.cfg{',
  '  listen = "0.0.0.0:32001",',
  "  work_dir = '/opt/ntech/var/lib/tarantool/shard-001',",
  "  memtx_dir = '/opt/ntech/var/lib/tarantool/shard-001/snapshots',",
  "  wal_dir = '/opt/ntech/var/lib/tarantool/shard-001/xlogs',",
  '  memtx_memory = 2 * 1024 * 1024 * 1024,',
  '}',
  "dofile('/etc/findface-security/tnt_schema.lua')",
  "FindFace.start('127.0.0.1', 8101, {meta_scheme = meta_scheme})",
].join('\n');

describe('shiftInstanceFile', () => {
  it("moves listen and the FindFace.start port, renames the shard's directories, keeps the rest", () => {
    const out = shiftInstanceFile(LUA, 'shard-001.lua', { fromName: 'shard-001', toName: 'shard-011', portOffset: 10 });
    const f = parseInstanceFile(out, 'shard-011.lua');
    expect(f).toEqual({
      listen: { host: '0.0.0.0', port: 32011 },
      workDir: '/opt/ntech/var/lib/tarantool/shard-011',
      memtxDir: '/opt/ntech/var/lib/tarantool/shard-011/snapshots',
      walDir: '/opt/ntech/var/lib/tarantool/shard-011/xlogs',
      vinylDir: undefined,
      memtxMemory: 2 * 1024 ** 3,
      http: { host: '127.0.0.1', port: 8111 },
      tntSchema: '/etc/findface-security/tnt_schema.lua',
    });
    expect(out.split('\n')[0]).toBe('-- shard-001: listen = 1 is a comment');
    expect(out.split('\n')).toHaveLength(LUA.split('\n').length);
  });

  it('refuses a directory that does not name the shard, naming the setting', () => {
    const lua = LUA.replace("'/opt/ntech/var/lib/tarantool/shard-001/xlogs'", "'/srv/xlogs'");
    expect(() => shiftInstanceFile(lua, 'shard-001.lua', { fromName: 'shard-001', toName: 'shard-011', portOffset: 10 })).toThrow(/shard-001\.lua: wal_dir = '\/srv\/xlogs' has no path segment 'shard-001'/);
  });

  it('derives new names keeping the width of the number', () => {
    expect(shiftedShardName('shard-001', 10)).toBe('shard-011');
    expect(shiftedShardName('shard-12', 100)).toBe('shard-112');
    expect(() => shiftedShardName('main', 10)).toThrow(/ends in no number/);
  });
});
