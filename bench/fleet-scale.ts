/**
 * Benchmark: fleet scale (issue 7's case 6) — one controller with 200 agents.
 *
 *   npx tsx bench/fleet-scale.ts [--quick] [--agents N] [--runs N] [--list-calls N] [--strict] [--results FILE] [--json FILE]
 *
 * Starts a private nats-server, one real controller (dist/controller/main.js: build first) and N
 * lightweight simulated agents in a separate process (full: 200, --quick: 50) that speak the real NATS
 * presence and Agent gRPC protocols with the agent's own code, plus a 1-agent site as the peer. Measures
 * ListSites/ListAgents over gRPC (full 50 calls each, quick 20) and `ffkeeper agents list --json`, then
 * snapshot rounds of the N-agent and the 1-agent site (full 15 each, quick 2) in ABBA order; prints a
 * table and PASS/FAIL (round p99 ≤ 1 s), and in full mode writes the "Fleet scale" section of
 * bench/RESULTS.md. Exit code 0 even on FAIL unless --strict. Ctrl-C stops after the current snapshot and
 * still cleans up.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describeError, NotFoundError } from '../shared/errors.js';
import { exitCodeFor } from '../shared/exit-codes.js';
import { BIN } from '../test/harness/processes.js';
import { COMMON_USAGE, parseBenchArgs, positiveInt } from './lib/args.js';
import { isEntryPoint, runAsScript, type MainIo } from './lib/entry.js';
import { describeMachine } from './lib/machine.js';
import { RESULTS_FILE, writeSection } from './lib/results.js';
import { runFleetBench, type FleetBenchPlan, type FleetBenchResult } from './fleet-scale/measure.js';
import { formatReport, judge } from './fleet-scale/report.js';

/** Section id in bench/RESULTS.md. */
export const SECTION_ID = 'fleet-scale';

const USAGE = [
  'usage: npx tsx bench/fleet-scale.ts [flags]',
  COMMON_USAGE,
  '  --agents N       simulated agents of the measured site (default 200, quick 50)',
  '  --warmup N       snapshots per site taken first and not counted (default 1)',
  '  --list-calls N   measured calls per listing kind (default 50, quick 20)',
  '  --cli-calls N    timed `ffkeeper agents list --json` runs (default 5, quick 1)',
  '  --cpu-prof DIR   run the controller under node --cpu-prof, its profile written to DIR when it stops',
].join('\n');

/** The plan for a mode: full (200 agents, 15 snapshots per site, 50 listing calls) or quick (50, 2, 20). */
export function planFor(o: {
  quick: boolean;
  agents?: number | undefined;
  runs?: number | undefined;
  warmup?: number | undefined;
  listCalls?: number | undefined;
  cliCalls?: number | undefined;
}): FleetBenchPlan {
  return {
    agents: o.agents ?? (o.quick ? 50 : 200),
    runs: o.runs ?? (o.quick ? 2 : 15),
    warmup: o.warmup ?? 1,
    listCalls: o.listCalls ?? (o.quick ? 20 : 50),
    cliCalls: o.cliCalls ?? (o.quick ? 1 : 5),
  };
}

function assertBuilt(): void {
  for (const bin of [BIN.controller, BIN.cli]) {
    if (!existsSync(bin)) throw new NotFoundError(`fleet-scale bench: ${bin} not found; build first (npm run build, or npm run bench which builds)`);
  }
}

function report(result: FleetBenchResult, markdown: string, o: { results: string | undefined; json: string | undefined }, io: MainIo): void {
  if (o.results) {
    writeSection(o.results, { id: SECTION_ID, markdown });
    io.err(`fleet-scale: wrote the "Fleet scale" section of ${o.results}`);
  }
  if (o.json) writeFileSync(o.json, `${JSON.stringify({ ...result, verdict: judge(result) }, null, 2)}\n`);
}

/** Runs the bench as the command line asks; returns the exit code. */
export async function main(argv: string[], io: MainIo): Promise<number> {
  try {
    const { common, extra } = parseBenchArgs(argv, ['agents', 'warmup', 'list-calls', 'cli-calls', 'cpu-prof']);
    if (common.help) {
      io.out(USAGE);
      return 0;
    }
    const plan = planFor({
      quick: common.quick,
      runs: common.runs,
      agents: positiveInt(extra.agents, 'agents'),
      warmup: positiveInt(extra.warmup, 'warmup', 0),
      listCalls: positiveInt(extra['list-calls'], 'list-calls'),
      cliCalls: positiveInt(extra['cli-calls'], 'cli-calls', 0),
    });
    if (extra['cpu-prof']) plan.controllerCpuProfDir = path.resolve(extra['cpu-prof']);
    assertBuilt();
    const machine = await describeMachine();
    const result = await runFleetBench(plan, { log: (l) => io.err(`fleet-scale: ${l}`), ...(io.signal ? { signal: io.signal } : {}) });
    const markdown = formatReport(result, machine, common.quick ? 'quick' : 'full');
    io.out(markdown);
    const results = common.noResults ? undefined : (common.results ?? (common.quick ? undefined : RESULTS_FILE));
    report(result, markdown, { results, json: common.json }, io);
    return common.strict && !judge(result).pass ? 1 : 0;
  } catch (err) {
    io.err(`fleet-scale: ${describeError(err)}${err instanceof Error && err.name === 'ValidationError' ? `\n${USAGE}` : ''}`);
    return exitCodeFor(err);
  }
}

if (isEntryPoint(import.meta.url)) await runAsScript('fleet-scale', main);
