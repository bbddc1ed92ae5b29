/**
 * The dev site's own unit processes and shims, each in a process that loads only what it needs:
 * `unit-main <tool> --site SITE [--root DIR] -- ARGS...` where tool is
 * - `systemctl`, `findface-security`: the shims (shims.ts) the site's agents find first on PATH;
 * - `findface-storage-api-dump`, `findface-storage-api-restore`: FindFace's feature-vector backup tools
 *   (storage-api-tools.ts), shims in the same bin dir;
 * - `writer` (ARGS: `--rate N --concurrency N [--event-cap N]`): the findface-security stand-in, in the
 *   foreground until SIGTERM: the writes (none at rate 0), its HTTP API and nightly sync (security-service.ts);
 * - `sf-api`: the findface-sf-api stand-in, in the foreground until SIGTERM;
 * - `extraction-api`: findface-extraction-api, in the foreground until SIGTERM.
 * - `upload`: findface-upload (the ffupload directory over HTTP), in the foreground until SIGTERM.
 * The full CLI (cli.ts) loads every command's modules; these run at every unit call of every agent and at
 * every unit start (a real `systemctl` answers in milliseconds), so their start-up is kept short.
 */
import { describeError } from '../../shared/errors.js';
import { exitCodeFor } from '../../shared/exit-codes.js';
import { setProcessTitle } from '../../shared/process.js';
import { loadSiteState, type SiteState } from './state.js';
import type { StorageApiTool } from './storage-api-tools.js';

interface Invocation {
  tool: string;
  site: string;
  root: string | undefined;
  args: string[];
}

function parse(argv: string[]): Invocation {
  const [tool = '', ...rest] = argv;
  const cut = rest.indexOf('--');
  const own = cut < 0 ? rest : rest.slice(0, cut);
  const site = flag(own, '--site');
  if (!site) throw new Error('usage: unit-main <systemctl|findface-security|findface-storage-api-dump|findface-storage-api-restore|writer|sf-api|extraction-api|upload> --site SITE [--root DIR] -- ARGS...');
  return { tool, site, root: flag(own, '--root'), args: cut < 0 ? [] : rest.slice(cut + 1) };
}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

function intFlag(args: readonly string[], name: string): number | undefined {
  const v = flag(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${name}: not an integer: ${v}`);
  return n;
}

async function shim(state: SiteState, tool: 'systemctl' | 'findface-security', args: string[]): Promise<void> {
  const shims = await import('./shims.js');
  const r = tool === 'systemctl' ? await shims.runSystemctl(state, args) : await shims.runFindfaceSecurity(state, args);
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.code;
}

async function storageApiTool(state: SiteState, tool: StorageApiTool, args: string[]): Promise<void> {
  const { runStorageApiTool } = await import('./storage-api-tools.js');
  const io = { out: (text: string) => void process.stdout.write(text), err: (text: string) => void process.stderr.write(text) };
  process.exitCode = await runStorageApiTool(state, tool, args, io);
}

async function writer(state: SiteState, args: string[]): Promise<void> {
  const eventCap = intFlag(args, '--event-cap');
  const rate = intFlag(args, '--rate');
  const concurrency = intFlag(args, '--concurrency');
  if (rate !== undefined && rate < 0) throw new Error(`--rate: must be 0 or more, got ${rate}`);
  const { runWriterForeground } = await import('./foreground.js');
  // The unit also serves findface-security's API and nightly sync (sites brought up before it: none).
  const service = state.security ? await startSecurity(state) : undefined;
  try {
    await runWriterForeground(state, {
      ...(rate === undefined ? {} : { rate }),
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(eventCap === undefined ? {} : { eventCap }),
    });
  } finally {
    await service?.close();
  }
}

async function startSecurity(state: SiteState): Promise<{ close: () => Promise<void> }> {
  const [{ startSecurityService }, { createLogger }] = await Promise.all([import('./security-service.js'), import('../../shared/logger.js')]);
  return startSecurityService(state, createLogger({ name: 'devsite-security' }).child({ site: state.site }));
}

async function sfApi(state: SiteState): Promise<void> {
  await (await import('./foreground.js')).serveSfApiForeground(state);
}

async function extractionApi(state: SiteState): Promise<void> {
  await (await import('./foreground.js')).serveExtractionApiForeground(state);
}

async function upload(state: SiteState): Promise<void> {
  await (await import('./upload.js')).serveUploadForeground(state);
}

async function main(): Promise<void> {
  const { tool, site, root, args } = parse(process.argv.slice(2));
  // Told apart in `ps`: ffkdev-systemctl, ffkdev-findface-security, ffkdev-writer, ffkdev-sf-api, ffkdev-extraction-api,
  // ffkdev-findface-storage-api-dump / -restore, ffkdev-findface-sf-api-migrate.
  setProcessTitle(`ffkdev-${tool}`);
  const state = loadSiteState(site, root);
  if (tool === 'systemctl' || tool === 'findface-security') return shim(state, tool, args);
  // findface-security writes with the model its extraction-api serves now (a model migration changes it).
  if (tool === 'writer') return writer((await import('./instances.js')).currentState(state), args);
  if (tool === 'sf-api') return sfApi(state);
  if (tool === 'extraction-api') return extractionApi(state);
  if (tool === 'upload') return upload(state);
  if (tool === 'findface-storage-api-dump' || tool === 'findface-storage-api-restore' || tool === 'findface-sf-api-migrate') return storageApiTool(state, tool, args);
  throw new Error(`unknown dev site unit or shim '${tool}'`);
}

try {
  await main();
} catch (err) {
  process.stderr.write(`ffkeeper-devsite: ${describeError(err)}\n`);
  process.exitCode = exitCodeFor(err);
}
