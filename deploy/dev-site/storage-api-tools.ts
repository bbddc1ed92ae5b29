/**
 * The dev site's `findface-storage-api-dump` and `findface-storage-api-restore` (FindFace's feature-vector
 * backup tools, installed with findface-sf-api) and `findface-sf-api-migrate` (its model migration tool,
 * sf-api-migrate.ts), with FindFace's command lines:
 *
 *   findface-storage-api-dump -output-dir=/etc/findface_dump -config /etc/findface-sf-api.ini
 *   findface-storage-api-restore -config /etc/findface-sf-api.ini /etc/findface_dump/*.json
 *   findface-sf-api-migrate -config migration.ini
 *
 * Flags are Go's (`-name value`, `-name=value`, `--name` alike; they end at the first other argument or
 * `--`; `-h` prints the usage). The shims in the site's bin dir (shims.ts) run these through unit-main.ts.
 * Exit codes: 0 done, 2 bad arguments or a bad line, 3 a file or gallery not found, 5 a shard down
 * (shared/exit-codes.ts).
 */
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { describeError, NotFoundError, ValidationError } from '../../shared/errors.js';
import { parseMigrationIni } from '../../shared/findface/migration-ini.js';
import { migrateFaces } from './sf-api-migrate.js';
import { exitCodeFor } from '../../shared/exit-codes.js';
import type { SiteState } from './state.js';
import { dumpGalleries } from './storage-api-dump.js';
import { DEFAULT_BATCH_LINES, restoreFiles } from './storage-api-restore.js';
import { StorageShards } from './storage-api-shards.js';

export type StorageApiTool = 'findface-storage-api-dump' | 'findface-storage-api-restore' | 'findface-sf-api-migrate';

/** A tool's surroundings: where its output goes (what it did, what went wrong) and its working directory. */
export interface ToolEnv {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Relative paths in the arguments are taken from here; default the process's. */
  cwd?: string;
}

/** Parsed arguments and the surroundings, as `dump` and `restore` get them. */
interface Invocation {
  flags: Map<string, string>;
  args: string[];
  env: ToolEnv;
  cwd: string;
}

interface FlagSpec {
  name: string;
  kind: 'string' | 'int';
  usage: string;
}

const FLAGS: Record<StorageApiTool, { synopsis: string; flags: FlagSpec[] }> = {
  'findface-storage-api-dump': {
    synopsis: '-output-dir=DIR -config /etc/findface-sf-api.ini',
    flags: [
      { name: 'config', kind: 'string', usage: "findface-sf-api's config: the shards to dump (storage-api.shards)" },
      { name: 'output-dir', kind: 'string', usage: 'directory for the <gallery>.json files (created if missing)' },
    ],
  },
  'findface-storage-api-restore': {
    synopsis: '-config /etc/findface-sf-api.ini DIR/*.json',
    flags: [
      { name: 'batch-size', kind: 'int', usage: `lines per batch (default ${DEFAULT_BATCH_LINES})` },
      { name: 'config', kind: 'string', usage: "findface-sf-api's config: the shards to restore into (storage-api.shards)" },
    ],
  },
  'findface-sf-api-migrate': {
    synopsis: '-config migration.ini',
    flags: [{ name: 'config', kind: 'string', usage: 'the migration settings: extraction-api, storage-api-from, storage-api-to, workers_num, faces_limit, extraction_batch_size' }],
  },
};

/** Go's flag parsing: flag values by name and the arguments after the flags; `help` for -h / -help. */
export function parseGoFlags(argv: readonly string[], specs: readonly FlagSpec[]): { help: true } | { values: Map<string, string>; args: string[] } {
  const values = new Map<string, string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') return { values, args: argv.slice(i + 1) };
    if (arg.length < 2 || !arg.startsWith('-')) break;
    const body = arg.slice(arg.startsWith('--') ? 2 : 1);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) throw new ValidationError(`bad flag syntax: ${arg}`);
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    const spec = specs.find((s) => s.name === name);
    if (!spec && (name === 'h' || name === 'help')) return { help: true };
    if (!spec) throw new ValidationError(`flag provided but not defined: -${name}`, { field: name });
    let value = eq < 0 ? undefined : body.slice(eq + 1);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new ValidationError(`flag needs an argument: -${name}`, { field: name });
      value = argv[++i] as string;
    }
    if (spec.kind === 'int' && !/^\d+$/.test(value)) throw new ValidationError(`invalid value "${value}" for flag -${name}: not an unsigned integer`, { field: name });
    values.set(name, value);
  }
  const args = argv.slice(i);
  // Go would take a flag after the files for a file; say what went wrong instead.
  const late = args.find((a) => specs.some((s) => new RegExp(`^--?${s.name}(=|$)`).test(a)));
  if (late !== undefined) throw new ValidationError(`flags go before the files: '${late}' follows '${args[0]}'`);
  return { values, args };
}

function usage(tool: StorageApiTool, state: SiteState): string {
  const { synopsis, flags } = FLAGS[tool];
  const lines = flags.map((f) => `  -${f.name} ${f.kind === 'int' ? 'int' : 'string'}\n    \t${f.usage}`);
  return `Usage of ${tool} (dev site ${state.site}):\n  ${tool} ${synopsis}\n${lines.join('\n')}\n`;
}

/** Runs a tool as its shim does; returns the exit code. */
export async function runStorageApiTool(state: SiteState, tool: StorageApiTool, argv: readonly string[], env: ToolEnv): Promise<number> {
  const cwd = env.cwd ?? process.cwd();
  let parsed: ReturnType<typeof parseGoFlags>;
  try {
    parsed = parseGoFlags(argv, FLAGS[tool].flags);
  } catch (err) {
    env.err(`${tool}: ${describeError(err)}\n${usage(tool, state)}`);
    return exitCodeFor(err);
  }
  if ('help' in parsed) {
    env.out(usage(tool, state));
    return 0;
  }
  try {
    const config = parsed.values.get('config');
    if (tool === 'findface-sf-api-migrate') return await migrate(state, config, parsed.args, env, cwd);
    if (!config) throw new ValidationError(`-config is required: findface-sf-api's config, e.g. -config ${state.sfApi.configPath}`, { field: 'config' });
    const run: Invocation = { flags: parsed.values, args: parsed.args, env, cwd };
    checkArguments(tool, run);
    const started = Date.now();
    const shards = await StorageShards.open(state, path.resolve(cwd, config));
    try {
      const summary = tool === 'findface-storage-api-dump' ? await dump(shards, run) : await restore(shards, run);
      env.out(`${summary} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    } finally {
      shards.close();
    }
    return 0;
  } catch (err) {
    env.err(`${tool}: ${describeError(err)}\n`);
    return exitCodeFor(err);
  }
}

/** `findface-sf-api-migrate -config migration.ini`: 0 when every face was migrated or listed as failed. */
async function migrate(state: SiteState, config: string | undefined, args: readonly string[], env: ToolEnv, cwd: string): Promise<number> {
  if (!config) throw new ValidationError('-config is required: the migration settings, e.g. -config migration.ini', { field: 'config' });
  if (args.length > 0) throw new ValidationError(`unexpected arguments: ${args.join(' ')}`);
  const file = path.resolve(cwd, config);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new NotFoundError(`cannot read ${file}: ${describeError(err)}`, { cause: err });
  }
  const ini = parseMigrationIni(text, file);
  const started = Date.now();
  const from = await StorageShards.openMasters(state, ini.from, `${file} storage-api-from`);
  try {
    const to = await StorageShards.openMasters(state, ini.to, `${file} storage-api-to`);
    try {
      const r = await migrateFaces(state, ini, from, to, (line) => env.out(`${line}\n`));
      for (const f of r.failed) env.err(`face ${f.id} of ${f.gallery} not migrated: ${f.reason}\n`);
      env.out(`migrated ${r.faces} faces with ${r.model} and copied ${r.copied} other records into ${to.shards.length} shards, ${r.failed.length} faces failed${r.failed.length > 0 ? ' (listed on stderr)' : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    } finally {
      to.close();
    }
  } finally {
    from.close();
  }
  return 0;
}

/** What each tool needs besides -config, checked before any shard is reached. */
function checkArguments(tool: StorageApiTool, { flags, args }: Invocation): void {
  if (tool === 'findface-storage-api-dump') {
    if (!flags.get('output-dir')) throw new ValidationError('-output-dir is required: the directory for the <gallery>.json files', { field: 'output-dir' });
    if (args.length > 0) throw new ValidationError(`unexpected arguments: ${args.join(' ')}`);
    return;
  }
  if (args.length === 0) throw new ValidationError('no files to restore: give the <gallery>.json files of a dump, e.g. DIR/*.json');
  if (Number(flags.get('batch-size') ?? DEFAULT_BATCH_LINES) < 1) throw new ValidationError('-batch-size must be 1 or more', { field: 'batch-size' });
}

async function dump(shards: StorageShards, { flags, env, cwd }: Invocation): Promise<string> {
  const dir = path.resolve(cwd, flags.get('output-dir') as string);
  const dumped = await dumpGalleries(shards, dir, (line) => env.out(`${line}\n`));
  const records = dumped.reduce((sum, g) => sum + g.records.reduce((a, b) => a + b, 0), 0);
  return `dumped ${dumped.length} galleries, ${records} records from ${shards.shards.length} shards into ${dir}`;
}

async function restore(shards: StorageShards, { flags, args, env, cwd }: Invocation): Promise<string> {
  const batchLines = Number(flags.get('batch-size') ?? DEFAULT_BATCH_LINES);
  const restored = await restoreFiles({ shards, batchLines, say: (line) => env.out(`${line}\n`) }, args.map((f) => path.resolve(cwd, f)));
  const records = restored.reduce((sum, f) => sum + f.restored, 0);
  return `restored ${restored.length} files, ${records} records into ${shards.shards.length} shards`;
}
