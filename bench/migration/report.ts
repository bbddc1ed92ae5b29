/**
 * The migration verdict and its report (issue 17's bench case): the re-extraction's faces/s against the
 * extraction-api's own on the same images (bar ≥ 0.8×) and how long sf-api did not answer reads (bar ≤ 10 s),
 * for `ffkeeper migrate start` (the job) on the dev site.
 */
import { SAMPLE_FACES } from '../../controller/domain/migration/planner.js';
import { formatDuration } from '../../shared/duration.js';
import { formatMachine, type MachineInfo } from '../lib/machine.js';
import type { MigrationBenchResult } from './measure.js';

export const BARS = { minRatio: 0.8, maxDowntimeMs: 10_000 } as const;

export interface Verdict {
  pass: boolean;
  ratio: number;
  reasons: string[];
}

const rate = (faces: number, ms: number): number => faces / (ms / 1000);

export function judge(r: MigrationBenchResult): Verdict {
  const ratio = rate(r.migrate.faces, r.migrate.ms) / rate(r.alone.faces, r.alone.ms);
  const reasons: string[] = [];
  if (!(ratio >= BARS.minRatio)) reasons.push(`re-extraction at ${ratio.toFixed(2)}× the extraction-api alone < ${BARS.minRatio}×`);
  if (!(r.downtimeMs <= BARS.maxDowntimeMs)) reasons.push(`sf-api did not answer for ${formatDuration(r.downtimeMs)} > ${formatDuration(BARS.maxDowntimeMs)}`);
  if (r.migrate.failed !== 0) reasons.push(`${r.migrate.failed} faces failed`);
  return { pass: reasons.length === 0, ratio, reasons };
}

export function formatReport(r: MigrationBenchResult, machine: MachineInfo, mode: string): string {
  const v = judge(r);
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  return [
    `Measured ${r.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${mode}, by \`npx tsx bench/migration.ts${mode === 'full' ? '' : ' --quick'}\` (${formatDuration(r.durationMs)}).`,
    formatMachine(machine),
    '',
    `Site ${r.site}: ${n(r.plan.dossiers)} dossiers, ${n(r.plan.events)} events (images at ${r.plan.imageScale}×): ${n(r.faces)} faces over 2 shards, ${r.fromModel} → ${r.toModel}; ` +
      "the dev site's extraction-api at its defaults (2 ms per face on each of 2 instances). What runs is **`ffkeeper migrate start`**: the job through the controller and the agents, " +
      'each shard re-extracted by its agent (records from the old shard, normalized images from findface-upload over HTTP, vectors from the extraction-api, written to the new shard with the cursor).',
    '',
    '| measure | value |',
    '|---|---|',
    `| \`migrate plan\` (surveys, a ${SAMPLE_FACES}-image extraction sample) | ${formatDuration(r.planMs)} |`,
    `| plan's estimate of the re-extraction | ${r.estimateSeconds === undefined ? '–' : formatDuration(r.estimateSeconds * 1000)} (sample: ${r.sampleFacesPerSecond === undefined ? '–' : `${n(r.sampleFacesPerSecond)} faces/s`}) |`,
    `| extraction-api alone, same images, 8 per call, 3 calls at a time | ${n(r.alone.faces)} faces in ${formatDuration(r.alone.ms)}: **${n(rate(r.alone.faces, r.alone.ms))} faces/s** |`,
    `| the job's re-extraction step | ${n(r.migrate.faces)} faces in ${formatDuration(r.migrate.ms)}: **${n(rate(r.migrate.faces, r.migrate.ms))} faces/s** (${r.migrate.failed} failed) |`,
    `| ratio | **${v.ratio.toFixed(2)}×** |`,
    `| sf-api not answering reads (polled every 100 ms over the whole job) | **${formatDuration(r.downtimeMs)}** in ${r.downtimeWindows} window(s); the job's own measure of the switch: ${formatDuration(r.jobDowntimeMs)} |`,
    `| findface-security stopped (no writes; reads served) | ${formatDuration(r.writesStoppedMs)} |`,
    `| whole job (snapshots before and after included) | ${formatDuration(r.jobMs)} |`,
    '',
    `Bars (issue 17): re-extraction ≥ ${BARS.minRatio}× the extraction-api alone, sf-api read downtime ≤ ${formatDuration(BARS.maxDowntimeMs)}: **${v.pass ? 'PASS' : 'FAIL'}**${v.reasons.length > 0 ? ` (${v.reasons.join('; ')})` : ''}.`,
    "For comparison, FindFace's own procedure followed by hand on this machine (the previous run of this case, stop 39): 0.72× and sf-api down 14 s — it stops sf-api for the whole re-extraction.",
    '',
    'Job steps (from the first event of each to the next):',
    '',
    ...r.steps.map((s) => `- ${s.step}: ${formatDuration(s.ms)}`),
  ].join('\n');
}

