/**
 * The dev site's own unit processes and shims, each in a process that loads only what it needs:
 * `unit-main <tool> --site SITE [--root DIR] -- ARGS...` where tool is
 * - `systemctl`, `findface-security`: the shims (shims.ts) the site's agents find first on PATH;
 * - `writer` (ARGS: `--rate N --concurrency N [--event-cap N]`): the findface-security stand-in, in the
 *   foreground until SIGTERM;
 * - `sf-api`: the findface-sf-api stand-in, in the foreground until SIGTERM.
 * The full CLI (cli.ts) loads every command's modules; these run at every unit call of every agent and at
 * every unit start (a real `systemctl` answers in milliseconds), so their start-up is kept short.
 */
import { describeError } from '../../shared/errors.js';
import { exitCodeFor } from '../../shared/exit-codes.js';
import { setProcessTitle } from '../../shared/process.js';
import { loadSiteState, type SiteState } from './state.js';

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
  if (!site) throw new Error('usage: unit-main <systemctl|findface-security|writer|sf-api> --site SITE [--root DIR] -- ARGS...');
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

async function writer(state: SiteState, args: string[]): Promise<void> {
  const [{ createLogger }, { runWriter }, { writerStatsFile }] = await Promise.all([import('../../shared/logger.js'), import('./writer.js'), import('./units.js')]);
  const abort = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => abort.abort());
  const logger = createLogger({ name: 'devsite-writer' }).child({ site: state.site });
  const eventCap = intFlag(args, '--event-cap');
  const options = {
    rate: intFlag(args, '--rate') ?? state.writer.rate,
    concurrency: intFlag(args, '--concurrency') ?? state.writer.concurrency,
    statsFile: writerStatsFile(state),
    logger,
    ...(eventCap === undefined ? {} : { eventCap }),
  };
  logger.info(options.rate, 'writer started (writes/s)');
  const stats = await runWriter(state, options, abort.signal);
  logger.info({ writes: stats.writes, rate: stats.rate, errors: stats.errors }, 'writer stopped');
}

async function sfApi(state: SiteState): Promise<void> {
  const { serveSfApiStandIn } = await import('./sfapi.js');
  const server = serveSfApiStandIn(state);
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => server.close(() => process.exit(0)));
}

async function main(): Promise<void> {
  const { tool, site, root, args } = parse(process.argv.slice(2));
  // Told apart in `ps` as the CLI's own commands were: ffkdev-systemctl, ffkdev-writer, ffkdev-sf-api-run.
  setProcessTitle(`ffkdev-${tool === 'sf-api' ? 'sf-api-run' : tool}`);
  const state = loadSiteState(site, root);
  if (tool === 'systemctl' || tool === 'findface-security') return shim(state, tool, args);
  if (tool === 'writer') return writer(state, args);
  if (tool === 'sf-api') return sfApi(state);
  throw new Error(`unknown dev site unit or shim '${tool}'`);
}

try {
  await main();
} catch (err) {
  process.stderr.write(`ffkeeper-devsite: ${describeError(err)}\n`);
  process.exitCode = exitCodeFor(err);
}
