/**
 * The `uploads-many` section of bench/RESULTS.md (issue 14): a million small files — full snapshot,
 * +0.1% incrementals and restore against `restic` alone, the snapshot records' size, `restic snapshots`
 * after the run, the agent's memory — with PASS/FAIL against the issue's targets.
 */
import { formatMachine, type MachineInfo } from '../lib/machine.js';
import { median } from '../lib/stats.js';
import { barLine, fmtBytes, fmtCount, fmtRatio, fmtSeconds, loadLine, seriesTable, stepsLine, timeSplitLine } from '../throughput/format.js';
import { speedup, timeRatio } from '../throughput/series.js';
import type { ManyResult } from './measure.js';

/** Issue 14's targets for the case. */
export const BARS = { fullVsRestic: 0.9, incrementalVsRestic: 1.2, recordBytes: 10_000, listingMs: 2000, peakRssBytes: 300 * 1024 * 1024 } as const;

export interface ManyVerdict {
  pass: boolean;
  fullVsRestic: number;
  /** Median agent incremental time over median restic incremental time. */
  incrementalVsRestic: number;
  largestRecord: number;
  listingMs: number;
  reasons: string[];
}

const MIB = 1024 * 1024;
/** What the time splits' "everything else" and `controller backup` hold here (the snapshots go through a controller). */
const SPLIT_NOTE = " (everything else here also holds the CLI's start and the controller's work; `controller backup` is the manifest's)";
const fmtMiB = (n: number): string => `${(n / MIB).toFixed(0)} MiB`;
const fmtMs = (ms: number): string => (Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : '–');

export function judge(r: ManyResult): ManyVerdict {
  const fullVsRestic = speedup(r.full.agent, r.full.restic);
  const incrementalVsRestic = timeRatio(r.incremental.agent, r.incremental.restic);
  const largestRecord = r.recordBytes.agent.length > 0 ? Math.max(...r.recordBytes.agent) : Number.NaN;
  const listingMs = median(r.listing.agent);
  const reasons: string[] = [];
  if (!(fullVsRestic >= BARS.fullVsRestic)) reasons.push(`full snapshot at ${fmtRatio(fullVsRestic)} restic alone (target ≥ ${BARS.fullVsRestic}×)`);
  if (!(incrementalVsRestic <= BARS.incrementalVsRestic)) reasons.push(`incremental at ${fmtRatio(incrementalVsRestic)} restic alone's time (target ≤ ${BARS.incrementalVsRestic}×)`);
  if (!(largestRecord < BARS.recordBytes)) reasons.push(`largest snapshot record ${fmtCount(largestRecord)} bytes (target < ${fmtCount(BARS.recordBytes)})`);
  if (!(listingMs <= BARS.listingMs)) reasons.push(`restic snapshots ${fmtMs(listingMs)} (target ≤ ${BARS.listingMs} ms)`);
  if (!(r.peakRssBytes > 0 && r.peakRssBytes <= BARS.peakRssBytes)) reasons.push(`agent peak RSS ${fmtMiB(r.peakRssBytes)} (target ≤ ${fmtMiB(BARS.peakRssBytes)})`);
  if (r.problems.length > 0) reasons.push(`${r.problems.length} problem(s)`);
  if (r.aborted) reasons.push('stopped early');
  return { pass: reasons.length === 0, fullVsRestic, incrementalVsRestic, largestRecord, listingMs, reasons };
}

/** The whole section, markdown. */
export function formatReport(r: ManyResult, machine: MachineInfo, mode: string): string {
  const v = judge(r);
  const p = r.plan;
  const snaps = r.agentRestic.map((restic, i) => ({ totalMs: (i === 0 ? r.full.agent.ms[0] : r.incremental.agent.ms[i - 1]) ?? Number.NaN, restic }));
  const incrAdded = median(r.incremental.agent.bytes);
  const range = (xs: number[]): string => (xs.length > 0 ? `${fmtSeconds(Math.min(...xs))}–${fmtSeconds(Math.max(...xs))}` : '–');
  return [
    '## Upload directories with a million small files (issue 14: uploads-many)',
    '',
    `- Date: ${r.startedAt.toISOString()} · mode: ${mode} · took ${(r.durationMs / 60_000).toFixed(1)} min${r.aborted ? ' · **stopped early**' : ''}`,
    `- Machine: ${formatMachine(machine)}`,
    `- Data: ${fmtCount(r.data.files)} files, ${fmtBytes(r.data.bytes)} (1–8 kB of random bytes each: FindFace's event thumbnails in \`uploads/events/<bucket>/<id>_thumb.jpg\` and normalized crops in \`ffupload/events/<bucket>/<id>.jpg\`, ${fmtCount(r.data.dirs)} directories of 1,000), generated in ${fmtSeconds(r.generateMs)}; at the end ${fmtCount(r.finalTree.files)} files.`,
    `- Method: a real controller and one real agent process (\`dist/bin/ffkeeper-controller.mjs\`, \`dist/bin/ffkeeper-agent.mjs\`: one uploads component with both roots) on a NATS server, mTLS and NATS credentials on. Each ffkeeper snapshot is \`ffkeeper snapshot create --site bench --wait\`, timed from the command's start to its end: the controller drives the agent (Prepare → Freeze → Cut → Thaw → Upload; the parent from its catalog) and seals the manifest (into the repository and the catalog). Against \`restic backup\` of both roots alone (the agent's \`.ffk-*\` directories excluded); each into its own fresh repository (format v2). Full: restic first, then ffkeeper, once each. Then ${p.incrementals} rounds of +${(p.addPerMille / 10).toFixed(1)}% new files (new events), each followed by ffkeeper's snapshot and restic's, in alternating order: each repository ends with ${p.incrementals + 1} snapshots (the agent's repository also with as many manifests). Then \`restic snapshots\` ${r.listing.agent.length}× on each repository, every snapshot record's size (\`restic cat snapshot\`), \`ffkeeper snapshot list\` ${r.catalogListing.ms.length}×, and a restore of the last snapshot of each into an empty directory (ffkeeper's through the agent's Restore call with the manifest's artifact), counted against the live tree.`,
    '',
    '### Full snapshot',
    '',
    ...seriesTable([r.full.agent, r.full.restic], r.full.agent),
    '',
    barLine('ffkeeper vs restic alone', v.fullVsRestic, { op: '≥', target: BARS.fullVsRestic }).line,
    `- The agent's start on this tree (process start → deletion shield seeded: a hard link per file): ${fmtSeconds(r.agentStartMs)}; once per agent start, not per snapshot.`,
    timeSplitLine("Where ffkeeper's full snapshot goes", snaps.slice(0, 1), SPLIT_NOTE),
    '',
    `### Incremental: +${(p.addPerMille / 10).toFixed(1)}% files, ${r.incremental.agent.ms.length} times`,
    '',
    '| what | runs | median | min–max | data added (median) |',
    '|---|---:|---:|---:|---:|',
    `| ffkeeper snapshot create | ${r.incremental.agent.ms.length} | ${fmtSeconds(median(r.incremental.agent.ms))} | ${range(r.incremental.agent.ms)} | ${fmtBytes(incrAdded)} |`,
    `| restic backup | ${r.incremental.restic.ms.length} | ${fmtSeconds(median(r.incremental.restic.ms))} | ${range(r.incremental.restic.ms)} | ${fmtBytes(median(r.incremental.restic.bytes))} |`,
    '',
    barLine("ffkeeper incremental time / restic alone's", v.incrementalVsRestic, { op: '≤', target: BARS.incrementalVsRestic }).line,
    timeSplitLine("Where ffkeeper's incremental snapshots go", snaps.slice(1), SPLIT_NOTE),
    `- Inside the agent's \`restic backup\` time (its restic opens at prepare and reads once the agent lets it): the agent's walk of the trees as of the cut before that (a directory read of the live trees and of the shield, a stat where they differ): full ${fmtSeconds(r.agentWalkMs[0] ?? Number.NaN)}, incrementals median ${fmtSeconds(median(r.agentWalkMs.slice(1)))}.`,
    `- Freeze windows (the manifests'): median ${fmtMs(median(r.freezeWindowsMs))}, max ${fmtMs(Math.max(...r.freezeWindowsMs))} (the bench's agent alone, no writer).`,
    '',
    '### The repository after the snapshots',
    '',
    `- \`restic snapshots\` on the agent's repository (${r.recordBytes.agent.length} snapshots): median **${fmtMs(v.listingMs)}** of ${r.listing.agent.length} (${r.listing.agent.map(fmtMs).join(', ')}); on restic's: median ${fmtMs(median(r.listing.restic))}.`,
    barLine('`restic snapshots` after the snapshots', v.listingMs, { op: '≤', target: BARS.listingMs }, fmtMs).line,
    `- Snapshot records, bytes: agent's ${r.recordBytes.agent.join(', ')}; restic's ${r.recordBytes.restic.join(', ')}.`,
    barLine('largest snapshot record of the agent', v.largestRecord, { op: '≤', target: BARS.recordBytes - 1 }, (x) => `${fmtCount(x)} bytes`).line,
    `- \`ffkeeper snapshot list --site bench\` (the CLI process, its call to the controller and the catalog read): median **${fmtMs(median(r.catalogListing.ms))}** of ${r.catalogListing.ms.length} (${r.catalogListing.ms.map(fmtMs).join(', ')}), listing ${r.catalogListing.listed.join(', ')} snapshots; the issue sets no target for it.`,
    '',
    '### Restore',
    '',
    ...seriesTable([r.restore.agent, r.restore.restic], r.restore.agent),
    '',
    stepsLine("The agent's restore, step by step", r.agentRestoreSteps),
    '',
    '### Agent memory',
    '',
    `- Resident set: ${r.rss.map((x) => `${x.phase} ${fmtMiB(x.rssBytes)}`).join('; ')}.`,
    barLine('agent peak RSS (VmHWM, whole run)', r.peakRssBytes / MIB, { op: '≤', target: BARS.peakRssBytes / MIB }, (x) => `${x.toFixed(0)} MiB`).line,
    loadLine(r.loadAverages, machine.cpus),
    `- Problems: ${r.problems.length === 0 ? 'none (every snapshot counted the tree, every restore matched it)' : r.problems.join('; ')}`,
    '',
    `**Verdict: ${v.pass ? 'PASS' : `FAIL (${v.reasons.join('; ')})`}**`,
  ].join('\n');
}
