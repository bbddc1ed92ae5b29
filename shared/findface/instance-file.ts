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
  /** The `tnt_schema.lua` the file loads (`dofile('/etc/findface-security/tnt_schema.lua')`), or undefined. */
  tntSchema: string | undefined;
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
    tntSchema: /\bdofile\(\s*(['"])([^'"]*tnt_schema\.lua)\1\s*\)/.exec(lua)?.[2],
  };
}

/** `shard-001` + 10 → `shard-011` (the number keeps its width); ValidationError for a name that ends in no number. */
export function shiftedShardName(name: string, offset: number): string {
  const m = /^(.*?)(\d+)$/.exec(name);
  if (!m) throw new ValidationError(`shard '${name}' ends in no number: the new shard's name cannot be derived from it`, { field: 'name' });
  const digits = m[2] as string;
  return `${m[1] as string}${String(Number(digits) + offset).padStart(digits.length, '0')}`;
}

const DIR_SETTINGS = ['work_dir', 'memtx_dir', 'wal_dir', 'vinyl_dir'] as const;

/**
 * The instance file of a migration's new shard, made from an old shard's as FindFace's procedure says
 * (reference 001, step 3): `listen` and the `FindFace.start` port moved by `portOffset`, and in every
 * directory setting the old shard's name replaced by the new one's. Comments and every other line are kept.
 * ValidationError naming the file when a directory setting does not name the old shard (no new directory
 * can be derived from it) or there is no `FindFace.start` port.
 */
export function shiftInstanceFile(text: string, file: string, shift: { fromName: string; toName: string; portOffset: number }): string {
  const parsed = parseInstanceFile(text, file);
  if (!parsed.http) throw new ValidationError(`${file}: no FindFace.start(host, port, ...): the shard's HTTP port is unknown`, { field: 'FindFace.start' });
  for (const setting of DIR_SETTINGS) {
    const value = stringSetting(stripComments(text), setting);
    if (value !== undefined && !value.split('/').includes(shift.fromName)) {
      throw new ValidationError(`${file}: ${setting} = '${value}' has no path segment '${shift.fromName}': the new shard's ${setting} cannot be derived from it`, { field: setting });
    }
  }
  const segment = new RegExp(`(^|/)${shift.fromName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=/|$)`, 'g');
  const moved = (port: string): string => String(Number(port) + shift.portOffset);
  return text
    .split('\n')
    .map((line) => {
      const cut = line.indexOf('--');
      const code = cut < 0 ? line : line.slice(0, cut);
      const comment = cut < 0 ? '' : line.slice(cut);
      const edited = code
        .replace(/(\blisten\s*=\s*(['"])(?:[^'"]*:)?)(\d+)(\2)/, (_m, head: string, _q, port: string, tail: string) => `${head}${moved(port)}${tail}`)
        .replace(/(\blisten\s*=\s*)(\d+)(\s*[,}]|\s*$)/, (_m, head: string, port: string, tail: string) => `${head}${moved(port)}${tail}`)
        .replace(/(FindFace\.start\(\s*(['"]).*?\2\s*,\s*)(\d+)/, (_m, head: string, _q, port: string) => `${head}${moved(port)}`)
        .replace(new RegExp(`(\\b(?:${DIR_SETTINGS.join('|')})\\s*=\\s*)(['"])(.*?)\\2`, 'g'), (_m, head: string, q: string, dir: string) => `${head}${q}${dir.replace(segment, `$1${shift.toName}`)}${q}`);
      return edited + comment;
    })
    .join('\n');
}
