/**
 * Benchmark: fleet scale (issue 7's case 6, issue 14's size) — one controller with 1,000 agents.
 *
 *   npx tsx bench/fleet-scale.ts [--quick] [--agents N] [--runs N] [--list-calls N] [--strict] [--results FILE] [--json FILE]
 *
 * Starts a private nats-server, one real controller (dist/bin/ffkeeper-controller.mjs: build first) and N
 * lightweight simulated agents in a separate process (full: 1,000, --quick: 50) that speak the real NATS
 * presence and Agent gRPC protocols with the agent's own code, plus a 1-agent site as the peer. Measures
 * ListSites/ListAgents over gRPC (full 50 calls each, quick 20) and `ffkeeper agents list --json`, then
 * snapshot rounds of the N-agent and the 1-agent site (full 15 each, quick 2) in ABBA order; prints a
 * table and PASS/FAIL (round p99 ≤ 1 s, listing p99 ≤ 50 ms), and in full mode writes the "Fleet scale" section of
 * bench/RESULTS.md. Exit code 0 even on FAIL unless --strict. Ctrl-C stops after the current snapshot and
 * still cleans up.
 */
import path from 'node:path';
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE, positiveInt } from './lib/args.js';
import { benchMain } from './lib/case.js';
import { isEntryPoint, runAsScript } from './lib/entry.js';
import { runFleetBench, type FleetBenchPlan } from './fleet-scale/measure.js';
import { formatReport, judge } from './fleet-scale/report.js';

const USAGE = [
  'usage: npx tsx bench/fleet-scale.ts [flags]',
  COMMON_USAGE,
  '  --agents N       simulated agents of the measured site (default 1,000, quick 50)',
  '  --warmup N       snapshots per site taken first and not counted (default 1)',
  '  --list-calls N   measured calls per listing kind (default 50, quick 20)',
  '  --cli-calls N    timed `ffkeeper agents list --json` runs (default 5, quick 1)',
  '  --cpu-prof DIR   run the controller and the simulated agents under node --cpu-prof, profiles written to DIR when they stop',
].join('\n');

/** The plan for a mode: full (1,000 agents, 15 snapshots per site, 50 listing calls) or quick (50, 2, 20). */
export function planFor(o: {
  quick: boolean;
  agents?: number | undefined;
  runs?: number | undefined;
  warmup?: number | undefined;
  listCalls?: number | undefined;
  cliCalls?: number | undefined;
}): FleetBenchPlan {
  return {
    agents: o.agents ?? (o.quick ? 50 : 1000),
    runs: o.runs ?? (o.quick ? 2 : 15),
    warmup: o.warmup ?? 1,
    listCalls: o.listCalls ?? (o.quick ? 20 : 50),
    cliCalls: o.cliCalls ?? (o.quick ? 1 : 5),
  };
}

/** Runs the bench as the command line asks; returns the exit code. */
export const main = benchMain({
  name: 'fleet-scale',
  section: { id: 'fleet-scale', title: 'Fleet scale' },
  usage: USAGE,
  flags: ['agents', 'warmup', 'list-calls', 'cli-calls', 'cpu-prof'],
  bins: [BIN.controller, BIN.cli],
  plan: ({ common, extra }) => {
    const plan = planFor({
      quick: common.quick,
      runs: common.runs,
      agents: positiveInt(extra.agents, 'agents'),
      warmup: positiveInt(extra.warmup, 'warmup', 0),
      listCalls: positiveInt(extra['list-calls'], 'list-calls'),
      cliCalls: positiveInt(extra['cli-calls'], 'cli-calls', 0),
    });
    if (extra['cpu-prof']) plan.controllerCpuProfDir = path.resolve(extra['cpu-prof']);
    return plan;
  },
  run: runFleetBench,
  format: formatReport,
  judge,
});

if (isEntryPoint(import.meta.url)) await runAsScript('fleet-scale', main);
