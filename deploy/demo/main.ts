#!/usr/bin/env node
/**
 * `npm run demo`: ffkeeper's main job on an embedded default, for a newcomer. Starts its own
 * nats-server (JetStream), brings up two dev sites of real servers (msk-1, spb-1) with their agents and
 * one controller, runs the writer on msk-1, takes a coordinated snapshot, damages the site, shows the
 * integrity check failing, restores, shows it passing, then keeps running until Ctrl-C.
 * `--quick`: smaller data, no waiting, everything stopped at the end. `--down`: stop a running demo.
 * `--netns`: nats-server, the controller and each agent on a host of its own (a network namespace with
 * its own address; deploy/demo/netns.ts).
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { parse, stringify } from 'yaml';
import { AGENT_HOSTS } from '../dev-site/agents.js';
import { checkSite, DEVSITE_NETNS_ENV, downSite, formatReport, startWriter, upSite, type SiteState } from '../dev-site/index.js';
import { ConflictError } from '../../shared/errors.js';
import { freePort, isListening } from '../../shared/net.js';
import { isAlive, runMain } from '../../shared/process.js';
import { nodeFlagsFor } from '../node-flags.js';
import { damageSite } from './damage.js';
import { agentHost, createDemoHosts, inNetns, NETNS_PORTS, removeDemoHosts, sitePorts, type DemoHosts } from './netns.js';
import { DEMO_ROOT, loadState, removeRoot, saveState, type DemoState } from './state.js';
import { StepPrinter } from './steps.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The bins as shipped (bundled by scripts/bundle.mjs); the relay is the demo's own. */
const BIN = {
  agent: path.join(DIST, 'bin/ffkeeper-agent.mjs'),
  controller: path.join(DIST, 'bin/ffkeeper-controller.mjs'),
  cli: path.join(DIST, 'bin/ffkeeper.mjs'),
  relay: path.join(DIST, 'deploy/netns/relay-main.js'),
  devsite: path.join(DIST, 'bin/ffkeeper-devsite.mjs'),
};
const SITES_ROOT = path.join(DEMO_ROOT, 'sites');
/** The demo's fleet CA, which is also the operator's --tls-dir of every CLI call it makes. */
const CA_DIR = path.join(DEMO_ROOT, 'ca');

/**
 * Starts a detached daemon whose output goes to a log file in the demo dir; returns its pid. In a network
 * namespace, `ip netns exec` replaces itself with the command: the pid is the daemon's.
 */
function daemon(name: string, command: string, args: string[], opts: { netns?: string | undefined; env?: Record<string, string> } = {}): number {
  const log = openSync(path.join(DEMO_ROOT, `${name}.log`), 'a');
  // A bin run by node gets its node options (deploy/node-flags.ts), as the package's wrappers give them.
  const full = command === process.execPath ? [...nodeFlagsFor(args[0] ?? ''), ...args] : args;
  const [file, argv] = opts.netns ? inNetns(opts.netns, command, full) : [command, full];
  const child = spawn(file, argv, { detached: true, stdio: ['ignore', log, log], env: { ...process.env, ...opts.env } });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  return child.pid;
}

/** Runs the CLI as a user would; `show` streams its output (live progress) instead of capturing it. */
function cli(args: string[], controller: string, show = false): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN.cli, ...args], {
      env: { ...process.env, FFKEEPER_CONTROLLER: controller, FFKEEPER_TLS_DIR: CA_DIR },
      stdio: show ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, out: out.trimEnd() }));
  });
}

async function must(what: string, r: Promise<{ code: number; out: string }>): Promise<string> {
  const { code, out } = await r;
  if (code !== 0) throw new Error(`demo: ${what} failed (exit ${code})${out ? `:\n${out}` : ''} — logs in ${DEMO_ROOT}`);
  return out;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await fn()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`demo: ${what} did not happen within ${timeoutMs / 1000} s (logs in ${DEMO_ROOT})`);
}

/** Waits until `host:port` listens, or the process `pid` has exited, or `timeoutMs` passed. */
async function untilListening(port: number, pid: number, timeoutMs: number, host = '127.0.0.1'): Promise<'listening' | 'exited' | 'timeout'> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await isListening(port, host)) return 'listening';
    if (!isAlive(pid)) return 'exited';
    await new Promise((r) => setTimeout(r, 100));
  }
  return 'timeout';
}

/** The last lines of a log file ('' when there is none). */
function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join(' | ');
  } catch {
    return '';
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function down(): Promise<void> {
  const state = loadState();
  if (state) {
    // Everything that talks to NATS first (all at once), NATS last: an agent stopping without its NATS
    // server would wait for it to withdraw its presence.
    const stop = async ([name, pid]: [string, number]): Promise<void> => {
      if (!isAlive(pid)) return;
      signal(pid, 'SIGTERM');
      await until(`${name} to stop`, async () => !isAlive(pid), 10_000).catch(() => signal(pid, 'SIGKILL'));
    };
    const entries = Object.entries(state.pids);
    await Promise.all(entries.filter(([name]) => name !== 'nats').map(stop));
    await Promise.all(entries.filter(([name]) => name === 'nats').map(stop));
    for (const site of state.sites) await downSite(site, SITES_ROOT).catch(() => undefined);
    if (state.netns) process.stdout.write(`removed the demo's hosts: ${removeDemoHosts().join(', ') || 'none left'}\n`);
  }
  removeRoot();
  process.stdout.write(`demo stopped; removed ${DEMO_ROOT}\n`);
}

interface Sizes {
  dossiers: number;
  events: number;
  /** Image sizes relative to FindFace's (--quick: smaller files, the same tree). */
  imageScale: number;
}

/** The demo's sites: the first is the one snapshotted, damaged and restored. */
const SITES = ['msk-1', 'spb-1'] as const;

async function startInfrastructure(state: DemoState, steps: StepPrinter, sizes: Sizes, netns: boolean): Promise<{ controller: string; console: string; sites: SiteState[] }> {
  steps.begin(`ffkeeper ca init --dir ${CA_DIR}`, 'the fleet CA: every gRPC connection is mTLS, each agent proves its site/host with its certificate');
  steps.info(await must('ca init', cli(['ca', 'init', '--dir', CA_DIR], '')));
  steps.done();

  let net: DemoHosts | undefined;
  if (netns) {
    steps.begin('Give every server a host of its own: a network namespace with its own address, joined by veth links', 'nats-server, the controller and each agent; every connection between them crosses real interfaces');
    state.netns = true;
    saveState(state);
    net = createDemoHosts(SITES, AGENT_HOSTS);
    const { hosts } = net;
    steps.info(hosts.hosts.map((h) => `${h} ${hosts.address(h)}`).join(', '));
    steps.info(`the dev sites' servers stay on this machine's 127.0.0.1 (${hosts.gateway} on the bridge); agents reach them through a loopback relay`);
    steps.done(`${hosts.hosts.length} hosts on ${hosts.subnet}`);
  }

  steps.begin('Start a NATS server with JetStream, one nkey per agent and controller', 'presence, job events, catalog; an agent may touch only its own site\'s subjects');
  const natsConfig = path.join(DEMO_ROOT, 'nats-server.conf');
  const natsPid = path.join(DEMO_ROOT, 'nats-server.pid');
  // A free port can be taken by another program before nats-server binds it: then it exits, and the
  // demo tries again on other ports (its log says why it exited).
  const natsHost = net ? net.hosts.address('nats') : '127.0.0.1';
  for (let attempt = 1; ; attempt++) {
    const [natsPort, natsMonitor] = net ? [NETNS_PORTS.nats, NETNS_PORTS.natsMonitor] : [await freePort(), await freePort()];
    const natsArgs = ['nats-config', '--ca-dir', CA_DIR, '--out', natsConfig, '--listen', `${natsHost}:${natsPort}`, '--monitor', `${natsHost}:${natsMonitor}`, '--store-dir', path.join(DEMO_ROOT, 'nats'), '--pid-file', natsPid, '--name', 'demo'];
    const written = await must('nats-config', cli(natsArgs, ''));
    const pid = daemon('nats', 'nats-server', ['-c', natsConfig, '-P', natsPid], { netns: net?.hosts.netnsOf('nats') });
    state.pids.nats = pid;
    state.natsUrl = `nats://${natsHost}:${natsPort}`;
    saveState(state);
    const up = await untilListening(natsPort, pid, 30_000, natsHost);
    if (up === 'listening') {
      steps.info(written);
      break;
    }
    const log = tail(path.join(DEMO_ROOT, 'nats.log'));
    if (up === 'exited' && attempt < 3 && /address already in use/i.test(log)) continue;
    throw new Error(`demo: nats-server ${up === 'exited' ? 'exited' : 'did not listen within 30 s'} on ${natsHost}:${natsPort}: ${log || 'no log'} (logs in ${DEMO_ROOT})`);
  }
  steps.done(state.natsUrl);

  steps.begin('Bring up two FindFace-like dev sites: msk-1 and spb-1', 'real PostgreSQL + pgbouncer, 2 Tarantool shards, upload directories');
  mkdirSync(SITES_ROOT, { recursive: true });
  chmodSync(SITES_ROOT, 0o755); // pgbouncer runs as postgres and must reach its files
  const sites: SiteState[] = [];
  for (const [site, size] of [[SITES[0], sizes], [SITES[1], { ...sizes, dossiers: Math.ceil(sizes.dossiers / 5), events: Math.ceil(sizes.events / 5) }]] as const) {
    state.sites.push(site);
    saveState(state);
    const up = await upSite({ site, root: SITES_ROOT, nats: [state.natsUrl], dossiers: size.dossiers, events: size.events, imageScale: size.imageScale, pkiDir: CA_DIR });
    sites.push(up.state);
    steps.info(`${site}: ${up.loaded.dossiers} dossiers (${up.loaded.faces} faces), ${up.loaded.events} events, ${(up.loaded.bytes / 2 ** 20).toFixed(0)} MiB of files, up in ${(up.timingsMs.total / 1000).toFixed(1)} s`);
  }
  steps.done();

  if (net) await startRelays(state, net, sites);

  steps.begin('Start the controller and the agents of both sites', 'agents announce their components; the controller coordinates them');
  const controller = net ? `${net.hosts.address('ctl')}:${NETNS_PORTS.controller}` : `127.0.0.1:${await freePort()}`;
  const consoleAddress = net ? `${net.hosts.address('ctl')}:${NETNS_PORTS.console}` : `127.0.0.1:${await freePort()}`;
  const config = path.join(DEMO_ROOT, 'controller.yaml');
  writeFileSync(
    config,
    stringify({
      grpc: { listen: controller },
      nats: { servers: [state.natsUrl], seedFile: path.join(CA_DIR, 'controller.nk') },
      tls: { ca: path.join(CA_DIR, 'ca.crt'), cert: path.join(CA_DIR, 'controller.crt'), key: path.join(CA_DIR, 'controller.key') },
      repositories: { root: path.join(DEMO_ROOT, 'repos'), cacheDir: path.join(DEMO_ROOT, 'cache'), secretsFile: path.join(DEMO_ROOT, 'secrets.json') },
      console: { listen: consoleAddress },
    }),
  );
  state.pids.controller = daemon('controller', process.execPath, [BIN.controller, '--config', config], { netns: net?.hosts.netnsOf('ctl') });
  state.controllerAddress = controller;
  const agents: { name: string; log: string; pid: number }[] = [];
  for (const s of sites) {
    for (const file of readdirSync(path.join(s.siteDir, 'agents')).filter((f) => f.endsWith('.yaml'))) {
      const host = file.replace(/\.yaml$/, '');
      const agentConfig = path.join(s.siteDir, 'agents', file);
      let where = {};
      if (net) {
        const ns = agentHost(s.site, host);
        // Its gRPC server on its host's address (the one it announces); the site's servers on its 127.0.0.1 (the relay).
        const raw = parse(readFileSync(agentConfig, 'utf8')) as { grpc: { listen: string } };
        writeFileSync(agentConfig, stringify({ ...raw, grpc: { ...raw.grpc, listen: `${net.hosts.address(ns)}:${NETNS_PORTS.agent}` } }));
        where = { netns: net.hosts.netnsOf(ns), env: { [DEVSITE_NETNS_ENV]: net.rootNetns } };
      }
      const pid = daemon(`agent-${s.site}-${host}`, process.execPath, [BIN.agent, '--config', agentConfig], where);
      state.pids[`agent ${s.site}/${host}`] = pid;
      agents.push({ name: `${s.site}/${host}`, log: `agent-${s.site}-${host}`, pid });
    }
  }
  saveState(state);
  await untilAgentsOnline(controller, state.pids.controller, agents);
  steps.info(await must('agents list', cli(['agents', 'list'], controller)));
  steps.done(`${agents.length} agents online`);
  return { controller, console: consoleAddress, sites };
}

/**
 * Waits until every agent started is online at the controller. An agent's start on a busy machine (a
 * Node process, its certificates, NATS, its components' probes) can take tens of seconds: 120 s fits it.
 * An agent that exited or did not come online is named with the last lines of its log.
 */
async function untilAgentsOnline(controller: string, controllerPid: number, agents: readonly { name: string; log: string; pid: number }[]): Promise<void> {
  const deadline = Date.now() + 120_000;
  let online = new Set<string>();
  let answer = '';
  for (;;) {
    if (!isAlive(controllerPid)) throw new Error(`demo: the controller exited: ${tail(path.join(DEMO_ROOT, 'controller.log'), 5) || 'no log'} (logs in ${DEMO_ROOT})`);
    const r = await cli(['agents', 'list', '--json'], controller);
    answer = r.code === 0 ? '' : `the controller answered agents list with exit ${r.code}: ${r.out}`;
    if (r.code === 0) {
      online = new Set((JSON.parse(r.out) as { site: string; host: string; status: string }[]).filter((a) => a.status === 'online').map((a) => `${a.site}/${a.host}`));
    }
    const missing = agents.filter((a) => !online.has(a.name));
    if (missing.length === 0) return;
    const exited = missing.filter((a) => !isAlive(a.pid));
    if (exited.length > 0 || Date.now() >= deadline) {
      const which = (exited.length > 0 ? exited : missing).map((a) => `${a.name} ${isAlive(a.pid) ? 'not online' : 'exited'}: ${tail(path.join(DEMO_ROOT, `${a.log}.log`), 3) || 'no log'}`);
      const why = exited.length > 0 ? 'an agent exited' : `not all agents online within 120 s (${online.size} of ${agents.length})`;
      throw new Error(`demo: ${why}${answer ? `; ${answer}` : ''}\n  ${which.join('\n  ')}\n(logs in ${DEMO_ROOT})`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The loopback relay (deploy/netns/relay.ts): one process on this machine serving a unix socket per port
 * of the sites' servers, one in each agent's namespace listening on its 127.0.0.1 at the same ports.
 */
async function startRelays(state: DemoState, net: DemoHosts, sites: readonly SiteState[]): Promise<void> {
  const dir = path.join(DEMO_ROOT, 'relay');
  const ports = [...new Set(sites.flatMap(sitePorts))].join(',');
  const started: [string, number][] = [['relay', daemon('relay', process.execPath, [BIN.relay, 'outside', '--dir', dir, '--ports', ports])]];
  await until('the loopback relay listening', async () => Promise.resolve(readLog('relay').includes('up for ports')), 15_000);
  for (const s of sites) {
    for (const host of AGENT_HOSTS) {
      const ns = agentHost(s.site, host);
      started.push([`relay-${ns}`, daemon(`relay-${ns}`, process.execPath, [BIN.relay, 'inside', '--dir', dir, '--ports', ports], { netns: net.hosts.netnsOf(ns) })]);
    }
  }
  for (const [name, pid] of started) state.pids[name] = pid;
  saveState(state);
  for (const [name] of started) await until(`the loopback relay ${name} listening`, async () => Promise.resolve(readLog(name).includes('up for ports')), 15_000);
}

/** A daemon's log so far ('' before it wrote any). */
function readLog(name: string): string {
  const file = path.join(DEMO_ROOT, `${name}.log`);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/**
 * The web console's address and a login token for the demo's operator (admin), once the console's page
 * answers. Its certificate is the controller's from the demo CA: a browser warns about it.
 */
async function consoleLogin(controller: string, address: string): Promise<{ url: string; token: string }> {
  const url = `https://${address}/`;
  const ca = readFileSync(path.join(CA_DIR, 'ca.crt'));
  // The chain is checked against the demo CA; the name is not (the certificate names the controller, not a host).
  const answers = (): Promise<boolean> =>
    new Promise((resolve) => {
      const req = https.get(url, { ca, checkServerIdentity: () => undefined, timeout: 5000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
  await until('the web console answering', answers, 30_000);
  const issued = await must('operators token', cli(['operators', 'token', 'admin', '--ttl', '12h', '--json'], controller));
  const { token } = JSON.parse(issued) as { token: string };
  return { url, token };
}

async function up(quick: boolean, netns: boolean): Promise<void> {
  const existing = loadState();
  if (existing && Object.values(existing.pids).some(isAlive)) {
    throw new ConflictError(`a demo is already running (state in ${DEMO_ROOT}); stop it with: npm run demo -- --down`);
  }
  if (existing) await down();
  mkdirSync(DEMO_ROOT, { recursive: true });
  const state: DemoState = { pids: {}, sites: [] };
  saveState(state);
  const steps = new StepPrinter();
  const { controller, console: consoleAddress, sites } = await startInfrastructure(state, steps, quick ? { dossiers: 25, events: 80, imageScale: 0.25 } : { dossiers: 300, events: 1500, imageScale: 1 }, netns);
  const msk = sites[0] as SiteState;

  steps.begin('Start the writer on msk-1 (like findface-security: files, gallery records, rows)', 'the snapshot is taken while the site is busy');
  const rate = quick ? 30 : 100;
  state.pids.writer = await startWriter(msk.site, { rate }, SITES_ROOT);
  saveState(state);
  await new Promise((r) => setTimeout(r, quick ? 1000 : 3000));
  steps.done(`${rate} writes/s`);

  steps.begin('ffkeeper snapshot create --site msk-1 --wait', 'one consistent cut across PostgreSQL, both shards and the upload dirs; writes pause only for the freeze window');
  await must('snapshot create', cli(['snapshot', 'create', '--site', 'msk-1', '--wait'], controller, true));
  steps.done();

  steps.begin('ffkeeper snapshot list --site msk-1', 'sealed snapshots, with their size and freeze window');
  steps.info(await must('snapshot list', cli(['snapshot', 'list', '--site', 'msk-1'], controller)));
  steps.done();

  steps.begin('Damage msk-1: delete gallery records, photo files and dossier rows', 'what an accident, a bad script or a failed disk does');
  const damage = await damageSite(msk);
  const broken = await checkSite(msk.site, SITES_ROOT);
  steps.info(`deleted ${damage.records} event records, ${damage.files} dossier photos, ${damage.rows} dossier rows`);
  steps.info(formatReport(broken).split('\n').slice(0, 6).join('\n'));
  steps.done(`integrity check: ${broken.errors} errors`);

  steps.begin('ffkeeper restore --site msk-1 --latest --yes', 'a safety snapshot first, writers stopped, every component restored, integrity checked');
  await must('restore', cli(['restore', '--site', 'msk-1', '--latest', '--yes'], controller, true));
  steps.done();

  steps.begin('Integrity check of msk-1 after the restore', 'every row → gallery record → file reference resolves again');
  const fixed = await checkSite(msk.site, SITES_ROOT);
  steps.info(formatReport(fixed).split('\n').slice(0, 3).join('\n'));
  if (fixed.errors > 0) throw new Error(`demo: the restored site still has ${fixed.errors} integrity errors (logs in ${DEMO_ROOT})`);
  steps.done(`${fixed.errors} errors`);

  const cliPath = path.relative(process.cwd(), BIN.cli) || BIN.cli;
  const web = await consoleLogin(controller, consoleAddress);
  process.stdout.write(
    [
      '',
      `Web console: ${web.url}  (its certificate is the demo CA's: the browser warns; accept it for this address)`,
      `  login token of operator admin, good for 12 h: ${web.token}`,
      'Try next (the controller address and your operator certificate, admin, are set for you):',
      `  export FFKEEPER_CONTROLLER=${controller} FFKEEPER_TLS_DIR=${CA_DIR}`,
      `  node ${cliPath} snapshot list --site msk-1`,
      `  node ${cliPath} jobs list`,
      `  node ${cliPath} restore --site msk-1 --latest --to-site spb-1 --no-safety-snapshot`,
      `  node ${cliPath} agents show msk-1/db`,
      `  node ${cliPath} verify --site msk-1          # repository check + restore drill into a sandbox + integrity check`,
      `  node ${cliPath} schedule set --site msk-1 --cron '*/5 * * * *'`,
      `  node ${cliPath} retention set --site msk-1 --keep-last 3 && node ${cliPath} retention apply --site msk-1 --dry-run`,
      `  node ${cliPath} audit list                   # every change made through the controller, hash-chained (audit verify)`,
      `Logs: ${DEMO_ROOT}/*.log`,
      '',
    ].join('\n'),
  );
  if (quick) {
    await down();
    return;
  }
  process.stdout.write('Running until Ctrl-C (then: npm run demo -- --down stops everything).\n');
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  process.stdout.write('\nThe demo keeps running in the background; stop it with: npm run demo -- --down\n');
}

async function main(): Promise<void> {
  const opts = new Command('demo')
    .option('--quick', 'smaller data, no waiting: run the steps, then stop everything', false)
    .option('--down', 'stop everything a previous demo started and remove its state', false)
    .option('--netns', 'run nats-server, the controller and each agent on a host of its own (a network namespace; needs root)', false)
    .parse()
    .opts<{ quick: boolean; down: boolean; netns: boolean }>();
  if (opts.down) {
    await down();
    return;
  }
  // The dev site's writer, stand-ins and shims run bundled too (deploy/dev-site/self.ts).
  process.env.FFK_DEVSITE_CLI ??= BIN.devsite;
  try {
    await up(opts.quick, opts.netns);
  } catch (err) {
    if (opts.quick) await down().catch(() => undefined);
    throw err;
  }
}

runMain('ffkeeper-demo', main);
