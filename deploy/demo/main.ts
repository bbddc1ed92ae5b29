#!/usr/bin/env node
/**
 * `npm run demo`: ffkeeper's main job on an embedded default, for a newcomer. Starts its own
 * nats-server (JetStream), one controller and the agents of two sites, then walks through what works,
 * step by step, and keeps running until Ctrl-C (`--quick`: no waiting, stop at the end).
 * `npm run demo -- --down` stops everything a previous demo started and removes its state.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { freePort, waitForPort } from '../../shared/net.js';
import { runMain } from '../../shared/process.js';
import { ConflictError } from '../../shared/errors.js';
import { DEMO_ROOT, isAlive, loadState, removeRoot, saveState, type DemoState } from './state.js';
import { StepPrinter } from './steps.js';
import { demoAgents } from './sites.js';

const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = {
  agent: path.join(DIST, 'agent/main.js'),
  controller: path.join(DIST, 'controller/main.js'),
  cli: path.join(DIST, 'controller/cli/main.js'),
};

/** Starts a detached daemon whose output goes to a log file in the demo dir; returns its pid. */
function daemon(name: string, command: string, args: string[]): number {
  const log = openSync(path.join(DEMO_ROOT, `${name}.log`), 'a');
  const child = spawn(command, args, { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${name}`);
  return child.pid;
}

/** Runs the CLI as a user would and returns its output. */
async function cli(args: string[], controller: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN.cli, ...args], { env: { ...process.env, FFKEEPER_CONTROLLER: controller } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, out: out.trimEnd() }));
  });
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    if (await fn()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`demo: ${what} did not happen within ${timeoutMs / 1000} s (logs in ${DEMO_ROOT})`);
}

/** Sends a signal; a process that is already gone is fine. */
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
    for (const [name, pid] of Object.entries(state.pids)) {
      if (!isAlive(pid)) continue;
      signal(pid, 'SIGTERM');
      await until(`${name} to stop`, async () => !isAlive(pid), 10_000).catch(() => signal(pid, 'SIGKILL'));
    }
  }
  removeRoot();
  process.stdout.write(`demo stopped; removed ${DEMO_ROOT}\n`);
}

interface AgentJson {
  site: string;
  host: string;
  status: string;
}

async function up(quick: boolean): Promise<void> {
  const existing = loadState();
  if (existing && Object.values(existing.pids).some(isAlive)) {
    throw new ConflictError(`a demo is already running (state in ${DEMO_ROOT}); stop it with: npm run demo -- --down`);
  }
  removeRoot();
  mkdirSync(DEMO_ROOT, { recursive: true });
  const state: DemoState = { pids: {}, sites: [] };
  const steps = new StepPrinter();

  steps.begin('Start a NATS server with JetStream', 'the message bus agents and controller share (presence KV, job events)');
  const natsPort = await freePort();
  state.pids.nats = daemon('nats', 'nats-server', ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', path.join(DEMO_ROOT, 'nats')]);
  state.natsUrl = `nats://127.0.0.1:${natsPort}`;
  saveState(state);
  await waitForPort(natsPort);
  steps.done(state.natsUrl);

  steps.begin('Start the controller', 'one central process the CLI talks to; it keeps the fleet inventory');
  const controllerAddress = `127.0.0.1:${await freePort()}`;
  const controllerConfig = path.join(DEMO_ROOT, 'controller.yaml');
  writeFileSync(controllerConfig, stringify({ grpc: { listen: controllerAddress }, nats: { servers: [state.natsUrl] } }));
  state.pids.controller = daemon('controller', process.execPath, [BIN.controller, '--config', controllerConfig]);
  state.controllerAddress = controllerAddress;
  saveState(state);
  await waitForPort(Number(controllerAddress.split(':')[1]));
  steps.done(controllerAddress);

  const agents = demoAgents(state.natsUrl);
  steps.begin(`Start ${agents.length} agents for sites msk-1 and spb-1`, 'each agent announces its host and FindFace components in NATS KV');
  for (const a of agents) {
    const file = path.join(DEMO_ROOT, `agent-${a.site}-${a.host}.yaml`);
    writeFileSync(file, stringify(a));
    state.pids[`agent ${a.site}/${a.host}`] = daemon(`agent-${a.site}-${a.host}`, process.execPath, [BIN.agent, '--config', file]);
  }
  saveState(state);
  const listAgents = async (): Promise<AgentJson[]> => {
    const r = await cli(['agents', 'list', '--json'], controllerAddress);
    return r.code === 0 ? (JSON.parse(r.out) as AgentJson[]) : [];
  };
  await until('all agents online', async () => (await listAgents()).filter((a) => a.status === 'online').length === agents.length, 20_000);
  steps.done(`${agents.length} agents online`);

  steps.begin('ffkeeper sites list', 'the controller sees both sites');
  steps.info((await cli(['sites', 'list'], controllerAddress)).out);
  steps.done();

  steps.begin('ffkeeper agents list', 'every agent with its components, address and version');
  steps.info((await cli(['agents', 'list'], controllerAddress)).out);
  steps.done();

  steps.begin('ffkeeper agents show msk-1/db', 'the controller asks the agent itself over gRPC (Agent.Describe)');
  steps.info((await cli(['agents', 'show', 'msk-1/db'], controllerAddress)).out);
  steps.done();

  const victim = 'agent spb-1/files';
  steps.begin(`kill -9 the ${victim}`, 'a dead host shows offline once its heartbeat TTL passes (3 s here)');
  const pid = state.pids[victim];
  if (pid !== undefined) signal(pid, 'SIGKILL');
  const ms = await until('the killed agent to show offline', async () => {
    return (await listAgents()).some((a) => `agent ${a.site}/${a.host}` === victim && a.status === 'offline');
  }, 10_000);
  steps.info((await cli(['agents', 'list', '--site', 'spb-1'], controllerAddress)).out);
  steps.done(`offline after ${(ms / 1000).toFixed(1)} s`);

  process.stdout.write(
    [
      '',
      'Not in the demo yet (open issues): dev sites of real servers, coordinated snapshot, restore.',
      '',
      'Try next (the controller address is set for you):',
      `  export FFKEEPER_CONTROLLER=${controllerAddress}`,
      '  node dist/controller/cli/main.js agents list',
      '  node dist/controller/cli/main.js agents show msk-1/tnt --json',
      `Logs: ${DEMO_ROOT}/*.log`,
      '',
    ].join('\n'),
  );
  if (quick) {
    await down();
    return;
  }
  process.stdout.write('Running until Ctrl-C (then: npm run demo -- --down to stop everything).\n');
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
  process.stdout.write('\nThe demo processes keep running; stop them with: npm run demo -- --down\n');
}

async function main(): Promise<void> {
  const opts = new Command('demo')
    .option('--quick', 'no waiting: run the steps, then stop everything', false)
    .option('--down', 'stop everything a previous demo started and remove its state', false)
    .parse()
    .opts<{ quick: boolean; down: boolean }>();
  if (opts.down) await down();
  else await up(opts.quick);
}

runMain('demo', main);
