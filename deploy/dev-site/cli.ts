#!/usr/bin/env node
/**
 * `ffkeeper-devsite`: bring FindFace-like dev sites of real servers up and down, load them, run the
 * writer, check their integrity. The site's own unit processes and shims start from unit-main.ts.
 *
 * Exit codes: those of shared/exit-codes.ts (README); `check` also exits 1 when it found errors.
 */
import { Command } from 'commander';
import { describeError, ValidationError } from '../../shared/errors.js';
import { setProcessTitle } from '../../shared/process.js';
import { exitCodeFor } from '../../shared/exit-codes.js';
import { formatReport } from './check-report.js';
import { EXTRACTION_DEFAULTS } from './extraction-config.js';
import { checkSiteState } from './checker.js';
import { loadData } from './load.js';
import { runWriterForeground } from './foreground.js';
import { stateToCheck } from './sandbox-view.js';
import { resetSecurityClock, setSecurityClock } from './security-config.js';
import { downSite, listSites, upSite, UP_DEFAULTS } from './site.js';
import { loadSiteState } from './state.js';
import { formatStatus, siteStatus } from './status.js';
import { setUnitFault } from './unit-faults.js';
import { startWriter, stopWriter } from './units.js';

interface SiteOpts {
  site: string;
  root?: string;
  json?: boolean;
}

const int = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`not an integer: ${v}`);
  return n;
};

function print(opts: { json?: boolean }, data: unknown, human: string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
}

function siteCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .requiredOption('--site <site>', 'dev site id, e.g. msk-1')
    .option('--root <dir>', 'directory holding the sites (default $FFK_DEVSITE_ROOT or <tmp>/ffkeeper-devsites)');
}

function addUp(program: Command): void {
  siteCommand(program, 'up', 'create, start and fill a dev site')
    .option('--shards <n>', 'Tarantool shards', int, UP_DEFAULTS.shards)
    .option('--dossiers <n>', 'dossiers to generate (1–2 faces each)', int, UP_DEFAULTS.dossiers)
    .option('--events <n>', 'events to generate', int, UP_DEFAULTS.events)
    .option('--vector-dim <n>', 'feature vector dimension', int, UP_DEFAULTS.vectorDim)
    .option('--db <name>', 'database name (default ffsecurity_<site>)')
    .option('--nats <urls>', 'NATS servers for the agent configs, comma-separated')
    .option('--writer-rate <n>', 'default writes/s of the findface-security unit', int, UP_DEFAULTS.writerRate)
    .option('--image-scale <x>', 'image sizes relative to FindFace\'s (0 < x ≤ 1): the same files, fewer bytes', Number)
    .option('--pki-dir <dir>', 'a fleet CA directory (ffkeeper ca init): the agents get certificates and mTLS; without it their configs say insecure: true')
    .option('--extraction-cost-ms <n>', 'what extracting one face costs the extraction-api, in ms', Number, EXTRACTION_DEFAULTS.faceCostMs)
    .option('--extraction-cost <mode>', 'sleep (waits on one of the instances) or busy (burns the CPU)', EXTRACTION_DEFAULTS.mode)
    .option('--extraction-instances <n>', 'faces the extraction-api extracts at a time (sleep cost)', int, EXTRACTION_DEFAULTS.instances)
    .option('--json', 'print the result as JSON')
    .action(async (o: SiteOpts & { shards: number; dossiers: number; events: number; vectorDim: number; db?: string; nats?: string; writerRate: number; imageScale?: number; pkiDir?: string;
      extractionCostMs: number; extractionCost: string; extractionInstances: number }) => {
      if (o.extractionCost !== 'sleep' && o.extractionCost !== 'busy') throw new ValidationError(`--extraction-cost: 'sleep' or 'busy', not '${o.extractionCost}'`, { field: 'extraction-cost' });
      const r = await upSite({
        extraction: { cost: { faceCostMs: o.extractionCostMs, mode: o.extractionCost }, instances: o.extractionInstances },
        site: o.site, root: o.root, shards: o.shards, dossiers: o.dossiers, events: o.events, vectorDim: o.vectorDim, database: o.db,
        nats: o.nats?.split(',').map((s) => s.trim()).filter(Boolean), writerRate: o.writerRate, imageScale: o.imageScale, ...(o.pkiDir ? { pkiDir: o.pkiDir } : {}),
        onProgress: o.json ? undefined : (m) => process.stderr.write(`${m}\n`),
      });
      const mib = Math.round(r.loaded.bytes / 2 ** 20);
      print(o, { site: r.state.site, siteDir: r.state.siteDir, loaded: r.loaded, timingsMs: r.timingsMs, agentConfigs: r.state.agentConfigs },
        `dev site '${r.state.site}' up at ${r.state.siteDir} in ${(r.timingsMs.total / 1000).toFixed(1)} s: ${r.loaded.dossiers} dossiers, ` +
          `${r.loaded.faces} faces, ${r.loaded.events} events, ${mib} MiB of files\n  agent configs: ${Object.values(r.state.agentConfigs).join(' ')}`);
    });
  siteCommand(program, 'load', 'add dossiers and events to a site that is up')
    .option('--dossiers <n>', 'dossiers to add', int, 0)
    .option('--events <n>', 'events to add', int, 0)
    .option('--json', 'print the result as JSON')
    .action(async (o: SiteOpts & { dossiers: number; events: number }) => {
      const p = await loadData(loadSiteState(o.site, o.root), { dossiers: o.dossiers, events: o.events });
      print(o, p, `added ${p.dossiers} dossiers (${p.faces} faces) and ${p.events} events, ${Math.round(p.bytes / 2 ** 20)} MiB of files`);
    });
}

function addWriter(program: Command): void {
  const writer = program.command('writer').description('the findface-security-like writer');
  siteCommand(writer, 'start', 'start the writer in the background')
    .option('--rate <n>', 'writes per second', int)
    .option('--concurrency <n>', 'writes in flight', int)
    .option('--event-cap <n>', 'retention keeps at most this many events', int)
    .action(async (o: SiteOpts & { rate?: number; concurrency?: number; eventCap?: number }) => {
      const pid = await startWriter(loadSiteState(o.site, o.root), { rate: o.rate, concurrency: o.concurrency, eventCap: o.eventCap });
      process.stdout.write(`writer of '${o.site}' running (pid ${pid})\n`);
    });
  siteCommand(writer, 'stop', 'stop the writer (in-flight writes finish)')
    .option('--json', 'print the final stats as JSON')
    .action(async (o: SiteOpts) => {
      const stats = await stopWriter(loadSiteState(o.site, o.root));
      print(o, stats ?? null, stats ? `writer stopped: ${stats.writes} writes in ${stats.elapsed.toFixed(1)} s = ${stats.rate}/s, ${stats.errors} errors` : 'writer never ran');
    });
  siteCommand(writer, 'run', 'run the writer in the foreground until SIGTERM')
    .option('--rate <n>', 'writes per second', int)
    .option('--concurrency <n>', 'writes in flight', int)
    .option('--event-cap <n>', 'retention keeps at most this many events', int)
    .action((o: SiteOpts & { rate?: number; concurrency?: number; eventCap?: number }) =>
      runWriterForeground(loadSiteState(o.site, o.root), {
        ...(o.rate === undefined ? {} : { rate: o.rate }),
        ...(o.concurrency === undefined ? {} : { concurrency: o.concurrency }),
        ...(o.eventCap === undefined ? {} : { eventCap: o.eventCap }),
      }),
    );
}

function addInspection(program: Command): void {
  siteCommand(program, 'check', 'verify every row → record → file reference; exit 1 on errors (FFK_SANDBOX: check that sandbox)')
    .option('--json', 'print the report as JSON')
    .action(async (o: SiteOpts) => {
      const { state, sandbox } = stateToCheck(loadSiteState(o.site, o.root));
      const report = await checkSiteState(state);
      const where = sandbox ? `sandbox '${sandbox.sandboxId}' (snapshot ${sandbox.snapshotId}) of ` : '';
      print(o, sandbox ? { ...report, sandbox: sandbox.sandboxId } : report, `${where}${formatReport(report)}`);
      if (!report.ok) process.exitCode = 1;
    });

  siteCommand(program, 'status', 'units, counts and writer stats')
    .option('--json', 'print as JSON')
    .action(async (o: SiteOpts) => {
      const s = await siteStatus(loadSiteState(o.site, o.root));
      print(o, s, formatStatus(s));
    });

  siteCommand(program, 'down', 'stop everything, drop the database, remove the directory')
    .option('--json', 'print the result as JSON')
    .action(async (o: SiteOpts) => {
      const r = await downSite(o.site, o.root);
      print(o, r, `dev site '${o.site}' down: stopped ${r.stopped.join(', ') || 'nothing'}; dropped ${r.databaseDropped ?? '-'}; removed ${r.removed ?? '-'}`);
    });
  program
    .command('list')
    .description('sites under the root')
    .option('--root <dir>', 'directory holding the sites')
    .option('--json', 'print as JSON')
    .action((o: { root?: string; json?: boolean }) => {
      const sites = listSites(o.root);
      print(o, sites, sites.join('\n') || '(no dev sites)');
    });
}

function addFaults(program: Command): void {
  siteCommand(program, 'unit-fault', "make the systemctl shim's start of a unit slow, hang or fail (fault injection)")
    .requiredOption('--unit <unit>', 'e.g. findface-security, tarantool@shard-001')
    .option('--start-delay-ms <n>', 'systemctl start sleeps this long first', int)
    .option('--never-starts', 'systemctl start never returns')
    .option('--fail-starts <n>', 'the next N systemctl starts fail (the unit stays down)', int)
    .option('--clear', 'remove the fault')
    .action((o: SiteOpts & { unit: string; startDelayMs?: number; neverStarts?: boolean; failStarts?: number; clear?: boolean }) => {
      const fault = o.clear
        ? undefined
        : { ...(o.startDelayMs === undefined ? {} : { startDelayMs: o.startDelayMs }), ...(o.neverStarts ? { neverStarts: true } : {}), ...(o.failStarts ? { failStarts: o.failStarts } : {}) };
      setUnitFault(loadSiteState(o.site, o.root), o.unit, fault);
      process.stdout.write(`unit ${o.unit} of '${o.site}': ${fault ? JSON.stringify(fault) : 'no fault'}
`);
    });
}

function addClock(program: Command): void {
  siteCommand(program, 'clock', "set the site clock of findface-security's nightly sync job (read every second, no restart)")
    .option('--set <time>', 'ISO time the site clock reads now, e.g. 2026-03-01T02:59:55Z')
    .option('--reset', 'back to the machine clock')
    .action((o: SiteOpts & { set?: string; reset?: boolean }) => {
      const state = loadSiteState(o.site, o.root);
      if (o.reset === (o.set !== undefined)) throw new ValidationError('clock: give exactly one of --set <ISO time> and --reset', { field: 'set' });
      if (o.reset) {
        resetSecurityClock(state);
        process.stdout.write(`site clock of '${o.site}': the machine's\n`);
        return;
      }
      const at = new Date(o.set as string);
      if (Number.isNaN(at.getTime())) throw new ValidationError(`clock --set: '${o.set}' is not an ISO time`, { field: 'set' });
      setSecurityClock(state, at);
      process.stdout.write(`site clock of '${o.site}' reads ${at.toISOString()} now\n`);
    });
}

function buildProgram(): Command {
  const program = new Command('ffkeeper-devsite').description('FindFace-like dev sites made of real servers').showHelpAfterError();
  addUp(program);
  addWriter(program);
  addInspection(program);
  addFaults(program);
  addClock(program);
  return program;
}

async function main(): Promise<void> {
  // The site's own units and shims run from unit-main.ts under their own titles.
  const [command] = process.argv.slice(2);
  setProcessTitle(`ffkdev-${command ?? 'cli'}`);
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    process.stderr.write(`ffkeeper-devsite: ${describeError(err)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}

await main();
