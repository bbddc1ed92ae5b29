/**
 * The fleet-scale verdict and its report: a markdown section (printed, and written to bench/RESULTS.md)
 * with the listing latencies, the snapshot rounds at N agents and at 1 agent (p50/p99/min/max of each
 * phase), the ratios N/1 and PASS/FAIL against issue 14's targets (round p99 ≤ 1 s, listing p99 ≤ 50 ms, at 1,000 agents).
 */
import { DEFAULT_HEARTBEAT_SECONDS, DEFAULT_PRESENCE_TTL_SECONDS } from '../../shared/config/agent.js';
import { formatMachine, type MachineInfo } from '../lib/machine.js';
import { median, summarize, type SampleSummary } from '../lib/stats.js';
import type { FleetBenchResult, ListingResult, RoundSample, SiteRounds } from './measure.js';

/**
 * Issue 14's targets at 1,000 agents: one prepare/freeze/thaw round across the fleet, p99 ≤ 1 s, and every
 * gRPC listing call's p99 ≤ 50 ms. And the freeze-window target (p99), for reference.
 */
export const BARS = { maxRoundP99Ms: 1000, maxListP99Ms: 50, maxWindowP99Ms: 100 } as const;

export interface FleetVerdict {
  pass: boolean;
  /** Round summary of the measured (N-agent) site. */
  round: SampleSummary;
  /** Median round at N over the median round at 1 (NaN without both). */
  roundRatio: number;
  /** Median ListAgents latency at N over at 1. */
  listRatio: number;
  reasons: string[];
}

function roundsOf(s: SiteRounds | undefined, k: keyof RoundSample): number[] {
  return (s?.samples ?? []).map((x) => x[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

/** Judges the result: the measured site's round p99 against the bar; failures and missing samples fail it too. */
export function judge(r: FleetBenchResult): FleetVerdict {
  const big = r.sites[0];
  const one = r.sites.length > 1 ? r.sites[r.sites.length - 1] : undefined;
  const round = summarize(roundsOf(big, 'roundMs'));
  const roundRatio = round.median / median(roundsOf(one, 'roundMs'));
  const listRatio = median(r.listing.agentsN) / median(r.listing.agents1);
  const reasons: string[] = [];
  if (round.count === 0) reasons.push(`${big?.spec.label ?? 'the measured site'}: no sealed snapshot measured`);
  if (round.p99 > BARS.maxRoundP99Ms) reasons.push(`${big?.spec.label}: round p99 ${fmtMs(round.p99)} > ${BARS.maxRoundP99Ms} ms`);
  for (const s of r.sites) if (s.failures.length > 0) reasons.push(`${s.spec.label}: ${s.failures.length} snapshot(s) failed`);
  for (const [call, xs] of listingCalls(r)) {
    const p99 = summarize(xs).p99;
    if (xs.length > 0 && !(p99 <= BARS.maxListP99Ms)) reasons.push(`${call}: p99 ${fmtMs(p99)} > ${BARS.maxListP99Ms} ms`);
  }
  if (r.listing.failures.length > 0) reasons.push(`${r.listing.failures.length} listing answer(s) did not show the whole fleet online`);
  if (r.listing.agentsN.length === 0) reasons.push('no listing call measured');
  if (r.aborted) reasons.push('stopped early');
  return { pass: reasons.length === 0, round, roundRatio, listRatio, reasons };
}

/** The gRPC listing calls the listing bar applies to (the CLI's whole process is reported, not judged). */
function listingCalls(r: FleetBenchResult): Array<[string, number[]]> {
  const big = r.sites[0]?.spec;
  return [
    [`ListAgents(site=${big?.site ?? '?'})`, r.listing.agentsN],
    ['ListAgents()', r.listing.agentsAll],
    ['ListSites', r.listing.sites],
  ];
}

function fmtMs(x: number): string {
  if (Number.isNaN(x)) return '–';
  return x >= 100 || Number.isInteger(x) ? `${x.toFixed(0)} ms` : `${x.toFixed(1)} ms`;
}

function fmtRatio(x: number): string {
  return Number.isFinite(x) ? x.toFixed(2) : '–';
}

function p50p99(xs: number[]): string {
  const s = summarize(xs.filter(Number.isFinite));
  return s.count === 0 ? '–' : `${fmtMs(s.median)} / ${fmtMs(s.p99)}`;
}

function listRow(call: string, entries: string, xs: number[]): string {
  const s = summarize(xs);
  return `| ${call} | ${entries} | ${s.count} | ${fmtMs(s.median)} | ${fmtMs(s.p99)} | ${fmtMs(s.min)} | ${fmtMs(s.max)} |`;
}

function listingTable(l: ListingResult, r: FleetBenchResult): string[] {
  const [big, one] = [r.sites[0]?.spec, r.sites[r.sites.length - 1]?.spec];
  const total = r.sites.reduce((n, s) => n + s.spec.agents, 0);
  return [
    '| call | entries | calls | p50 | p99 | min | max |',
    '|---|---:|---:|---:|---:|---:|---:|',
    listRow(`ListAgents(site=${big?.site ?? '?'})`, String(big?.agents ?? '?'), l.agentsN),
    listRow(`ListAgents(site=${one?.site ?? '?'}) (peer)`, String(one?.agents ?? '?'), l.agents1),
    listRow('ListAgents() (all sites)', String(total), l.agentsAll),
    listRow('ListSites', `${r.sites.length} sites`, l.sites),
    listRow('`ffkeeper agents list --json` (whole CLI process)', String(total), l.cli),
  ];
}

function roundRow(s: SiteRounds): string {
  const cells = [
    s.spec.label,
    String(s.samples.length),
    p50p99(roundsOf(s, 'prepareMs')),
    p50p99(roundsOf(s, 'windowMs')),
    `**${p50p99(roundsOf(s, 'roundMs'))}**`,
    p50p99(roundsOf(s, 'uploadMs')),
    p50p99(roundsOf(s, 'sealMs')),
    p50p99(roundsOf(s, 'totalMs')),
    fmtMs(median(roundsOf(s, 'controllerCpuMs'))),
    fmtMs(median(roundsOf(s, 'simulatorCpuMs'))),
  ];
  return `| ${cells.join(' | ')} |`;
}

function ratioLine(r: FleetBenchResult, k: keyof RoundSample, name: string): string {
  const [big, one] = [r.sites[0], r.sites[r.sites.length - 1]];
  return `${name} ${fmtRatio(median(roundsOf(big, k)) / median(roundsOf(one, k)))}`;
}

function loadLine(r: FleetBenchResult): string {
  const l = r.sites.flatMap((s) => roundsOf(s, 'load'));
  return l.length === 0 ? '–' : `median ${median(l).toFixed(1)}, max ${Math.max(...l).toFixed(1)}`;
}

function callsLine(r: FleetBenchResult): string {
  const sim = r.simulator;
  if (!sim) return 'not reported (the simulator did not stop cleanly)';
  const c = sim.calls;
  const snapshots = r.sites.reduce((n, s) => n + s.samples.length + s.warmupRoundMs.length, 0);
  const expected = r.sites.reduce((n, s) => n + (s.samples.length + s.warmupRoundMs.length) * s.spec.agents, 0);
  return `prepare ${c.prepare}, freeze ${c.freeze}, cut ${c.cut}, thaw ${c.thaw}, upload ${c.upload}, release ${c.release} over ${sim.agents} agents (${snapshots} sealed snapshots × their agents = ${expected})`;
}

/** The whole section, markdown. */
export function formatReport(r: FleetBenchResult, machine: MachineInfo, mode: string): string {
  const v = judge(r);
  const big = r.sites[0];
  const p = r.plan;
  const windows = summarize(roundsOf(big, 'windowMs'));
  return [
    '## Fleet scale',
    '',
    `- Date: ${r.startedAt.toISOString()} · mode: ${mode} · took ${(r.durationMs / 60_000).toFixed(1)} min${r.aborted ? ' · **stopped early**' : ''}`,
    `- Machine: ${formatMachine(machine)}`,
    `- Method: one controller (dist/bin/ffkeeper-controller.mjs) and a private nats-server; ${r.sites.map((s) => `site \`${s.spec.site}\` with ${s.spec.agents} agent(s)`).join(' and ')}, ` +
      'simulated in one separate node process: each agent has its own NATS connection, heartbeats into the presence bucket with the agent’s own code ' +
      `(Heartbeat → KvPresencePublisher, every ${DEFAULT_HEARTBEAT_SECONDS} s, TTL ${DEFAULT_PRESENCE_TTL_SECONDS} s), and ` +
      'serves the real Agent gRPC service on its own port with the agent’s own job service and cut participant (freeze lease included); ' +
      'its one `uploads` component does nothing on freeze/cut/thaw and its upload returns a 0-byte artifact, so what is measured is the controller’s coordination, not data. ' +
      'The simulated agents share one event loop, so each fan-out also waits for that one process to answer every call in turn (its CPU per snapshot is in the table); ' +
      'real agents answer in parallel on their own hosts, so the figures are pessimistic. ' +
      `Listing: ${p.listCalls} calls of each kind over gRPC (GrpcControllerApi, one channel, in turn, after 3 warm-up rounds), every answer checked to show the whole fleet online; ${p.cliCalls} CLI run(s). ` +
      `Rounds: ${p.runs} snapshots per site in ABBA order after ${p.warmup} warm-up snapshot(s) per site (repository set-up, not counted); ` +
      'phases are timed by the controller’s own job events: prepare = the `prepare` step to the `freeze` step; freeze window = first freeze call → last thaw answer (manifest `freezeWindowMs`); ' +
      '**round = prepare + freeze + cut + thaw across the site** (the `prepare` step to the `thaw` step); upload and seal (manifest into the restic repository and the catalog) follow; whole = request → outcome as the client saw it. ' +
      'p99 is nearest-rank: with fewer than 100 samples it is the maximum.',
    '',
    ...listingTable(r.listing, r),
    '',
    '| site | snapshots | prepare p50 / p99 | freeze window p50 / p99 | round p50 / p99 | upload p50 / p99 | seal p50 / p99 | whole snapshot p50 / p99 | controller CPU / snapshot | simulator CPU / snapshot |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.sites.map(roundRow),
    '',
    `- Round p99 at ${big?.spec.label ?? '?'}: **${fmtMs(v.round.p99)}** (target ≤ ${BARS.maxRoundP99Ms} ms): ${v.round.p99 <= BARS.maxRoundP99Ms ? 'PASS' : 'FAIL'}; ` +
      `freeze window p99 ${fmtMs(windows.p99)} (the freeze-window target ≤ ${BARS.maxWindowP99Ms} ms, for reference: ${windows.p99 <= BARS.maxWindowP99Ms ? 'within' : 'over'})`,
    `- Listing p99 (gRPC): ${listingCalls(r).map(([call, xs]) => `${call} ${fmtMs(summarize(xs).p99)}`).join(', ')} (target ≤ ${BARS.maxListP99Ms} ms each): ${listingCalls(r).every(([, xs]) => summarize(xs).p99 <= BARS.maxListP99Ms) ? 'PASS' : 'FAIL'}`,
    `- Ratios of medians ${big?.spec.label ?? 'N'} / 1 agent: ${ratioLine(r, 'roundMs', 'round')}, ${ratioLine(r, 'prepareMs', 'prepare')}, ${ratioLine(r, 'windowMs', 'freeze window')}, ` +
      `${ratioLine(r, 'totalMs', 'whole snapshot')}, ${ratioLine(r, 'controllerCpuMs', 'controller CPU')}; ListAgents ${fmtRatio(v.listRatio)}`,
    `- Inventory: the simulated agents started in ${(r.inventory.simulatorStartMs / 1000).toFixed(1)} s; the controller listed them all online ${fmtMs(r.inventory.onlineAfterMs)} later`,
    `- Calls the simulated components received: ${callsLine(r)}`,
    `- Warm-up rounds (not counted): ${r.sites.map((s) => `${s.spec.label} ${s.warmupRoundMs.map(fmtMs).join(', ') || '–'}`).join('; ')}`,
    `- Failed snapshots: ${r.sites.map((s) => `${s.spec.label} ${s.failures.length}`).join(', ')}${r.sites.flatMap((s) => s.failures).slice(0, 3).map((f) => ` — ${f}`).join('')}; wrong listing answers: ${r.listing.failures.length}${r.listing.failures.slice(0, 2).map((f) => ` — ${f}`).join('')}`,
    `- Machine load (1-min load average before each snapshot, ${machine.cpus} cores; the controller, the simulator, nats-server and restic share them): ${loadLine(r)}`,
    '',
    `**Verdict: ${v.pass ? 'PASS' : `FAIL (${v.reasons.join('; ')})`}**`,
  ].join('\n');
}
