/**
 * A FindFace Tarantool shard's instance file (`/etc/tarantool/instances.available/shard-001.lua`): the
 * `box.cfg{}` settings that place it (`listen`, `work_dir`, `memtx_dir`, `wal_dir`, `vinyl_dir`,
 * `memtx_memory`) and the HTTP port sf-api reaches it on (`FindFace.start("127.0.0.1", 8101, {...})`).
 * Read as text, as an operator edits it; both quote styles, `--` comments ignored. Pure: no file access.
 */
import { ValidationError } from '../errors.js';

export interface InstanceFile {
  listen: { host: string; port: number };
  workDir: string | undefined;
  memtxDir: string | undefined;
  walDir: string | undefined;
  vinylDir: string | undefined;
  /** Bytes (`2 * 1024*1024*1024` is evaluated), or undefined. */
  memtxMemory: number | undefined;
  /** `FindFace.start(host, port, ...)`, or undefined when the file has none. */
  http: { host: string; port: number } | undefined;
}

const stripComments = (text: string): string => text.split('\n').map((l) => l.replace(/--.*$/, '')).join('\n');

function stringSetting(text: string, name: string): string | undefined {
  return new RegExp(`\\b${name}\\s*=\\s*(['"])(.*?)\\1`).exec(text)?.[2];
}

function product(expr: string): number | undefined {
  const factors = expr.split('*').map((f) => f.trim());
  if (factors.some((f) => !/^\d+$/.test(f))) return undefined;
  return factors.reduce((p, f) => p * Number(f), 1);
}

/** Parses an instance file; ValidationError naming the file when `listen` is missing or malformed. */
export function parseInstanceFile(text: string, file: string): InstanceFile {
  const lua = stripComments(text);
  const listenRaw = stringSetting(lua, 'listen') ?? /\blisten\s*=\s*(\d+)/.exec(lua)?.[1];
  const listen = /^(?:(.*):)?(\d+)$/.exec(listenRaw ?? '');
  if (!listen) throw new ValidationError(`${file}: no box.cfg listen = 'host:port'`, { field: 'listen' });
  const memtx = /\bmemtx_memory\s*=\s*([\d\s*]+)/.exec(lua)?.[1];
  const start = /FindFace\.start\(\s*(['"])(.*?)\1\s*,\s*(\d+)/.exec(lua);
  return {
    listen: { host: listen[1] || '127.0.0.1', port: Number(listen[2]) },
    workDir: stringSetting(lua, 'work_dir'),
    memtxDir: stringSetting(lua, 'memtx_dir'),
    walDir: stringSetting(lua, 'wal_dir'),
    vinylDir: stringSetting(lua, 'vinyl_dir'),
    memtxMemory: memtx === undefined ? undefined : product(memtx),
    http: start ? { host: start[2] || '127.0.0.1', port: Number(start[3]) } : undefined,
  };
}
