/**
 * `ffkeeper migrate plan --site S --to-model M`: the runbook of moving a site's faces to another
 * neural-network model (FindFace's procedure, reference 001) for that site — the new shards with their
 * ports and directories, each config edit as a diff, migration.ini, the faces to re-extract and the time
 * that takes at a measured extraction rate, the disk needed — and its preconditions, each checked. Changes
 * nothing. Exit 8 when a precondition fails (the plan is still printed).
 */
import { IllegalStateError, ValidationError } from '../../../shared/errors.js';
import { checkDetectorFile } from '../../../shared/findface/extraction-api-ini.js';
import { parseModelFile } from '../../../shared/findface/models.js';
import type { JobEvent, JobRecord } from '../../../shared/jobs.js';
import type { FinishDetail, MigrationDetail, RollbackDetail } from '../../domain/migration/job.js';
import type { MigrationPlan } from '../../domain/migration/plan.js';
import type { MigrationArgs, OnJobEvent } from '../api.js';
import { checkOutcome, followJob } from '../job-outcome.js';
import { progressOn } from '../progress.js';
import { confirmAction } from '../terminal.js';
import { renderTable, toJson } from '../format.js';
import type { Command } from 'commander';
import type { RegisterContext } from '../register-jobs.js';
import type { JobCommandDeps } from '../terminal.js';
import { formatBytes, formatDuration } from '../units.js';
import { checkId, parsePositiveInt } from '../validate.js';

export interface MigratePlanOptions {
  site: string;
  toModel: string;
  portOffset?: number;
  regenerateNormalized?: boolean;
  toDetector?: string;
  json: boolean;
}

/** What the API is asked, from the command's options. */
function argsOf(opts: MigratePlanOptions): MigrationArgs {
  return { site: opts.site, toModel: opts.toModel, ...(opts.portOffset ? { portOffset: opts.portOffset } : {}), ...(opts.regenerateNormalized ? { regenerateNormalized: true } : {}), ...(opts.toDetector ? { toDetector: opts.toDetector } : {}) };
}

/** The command's options from commander's. */
function optionsOf(opts: CommanderOptions, json: boolean): MigratePlanOptions {
  if (opts.toDetector !== undefined) {
    try {
      checkDetectorFile(opts.toDetector);
    } catch (err) {
      throw new ValidationError(`--to-detector: ${(err as Error).message}`, { field: 'to-detector' });
    }
  }
  return {
    site: opts.site,
    toModel: opts.toModel,
    ...(opts.portOffset === undefined ? {} : { portOffset: parsePositiveInt(opts.portOffset, '--port-offset') }),
    ...(opts.regenerateNormalized || opts.toDetector ? { regenerateNormalized: true } : {}),
    ...(opts.toDetector ? { toDetector: opts.toDetector } : {}),
    json,
  };
}

type CommanderOptions = { site: string; toModel: string; portOffset?: string; regenerateNormalized?: boolean; toDetector?: string };

const TO_DETECTOR_HELP = "the face detector model file the extraction-api switches to with the model, as findface-extraction-api.ini names it (e.g. detector/face.jasmine_fast.005.cpu.fnk); implies --regenerate-normalized; a rollback switches it back";

const REGENERATE_HELP = "a detector change (FindFace's reference 003): each face's normalized image made again from its source photo (dossier photo, event full frame) by the extraction-api's face detector before the re-extraction; the images replaced are kept for a rollback";

const indent = (text: string, by = '      '): string =>
  text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => by + l)
    .join('\n');

export function formatMigrationPlan(p: MigrationPlan): string {
  const out: string[] = [];
  out.push(`migration plan for site '${p.site}': ${p.fromModel ?? '(current model unknown)'} → ${p.toModel}`);
  const byGallery = Object.entries(p.faces.byGallery).map(([g, n]) => `${g} ${n}`).join(', ');
  out.push(`  faces to re-extract: ${p.faces.total}${byGallery ? ` (${byGallery})` : ''}`);
  if (p.sample?.facesPerSecond) {
    out.push(`  extraction rate: ${p.sample.facesPerSecond.toFixed(0)} faces/s (a sample of ${p.sample.extracted} normalized images from ${p.sample.host}, ${p.sample.model ?? '?'})`);
  }
  if (p.estimateSeconds !== undefined) out.push(`  estimated re-extraction time: ${formatDuration(p.estimateSeconds * 1000)}`);
  if (p.regenerate) {
    const d = p.sample?.detection;
    out.push(`  normalized images made again first: ${p.faces.total}, with ${p.regenerate.toDetector ?? p.regenerate.detector ?? '?'}${p.regenerateSeconds !== undefined ? `; estimated ${formatDuration(p.regenerateSeconds * 1000)} (a sample of ${d?.detected ?? 0} images through ${d?.detector ?? '?'})` : ''}`);
  }
  if (p.snapshot) out.push(`  newest verified snapshot: ${p.snapshot.id} (verified ${p.snapshot.verifiedAt})`);
  out.push('');
  out.push(
    renderTable(
      ['HOST', 'SHARD', 'NEW SHARD', 'LISTEN', 'HTTP', 'FACES', 'DATA'],
      p.shards.map((s) => [s.host, s.from.name, s.to.name, `${s.from.listen} → ${s.to.listen}`, s.from.http === undefined ? '-' : `${s.from.http} → ${s.to.http ?? '?'}`, String(s.faces), formatBytes(s.dataBytes)]),
    ),
  );
  if (p.disk.length > 0) {
    out.push('');
    out.push(renderTable(['HOST', 'DISK AT', 'NEEDED', 'FREE'], p.disk.map((d) => [d.host, d.dir, formatBytes(d.needBytes), formatBytes(d.freeBytes)])));
  }
  out.push('');
  out.push('preconditions:');
  for (const c of p.checks) out.push(`  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.detail}`);
  out.push('');
  out.push('steps:');
  for (const s of p.steps) {
    out.push(`  ${s.n}. ${s.title}${s.host ? ` [on ${s.host}]` : ''}`);
    for (const c of s.commands) out.push(`      $ ${c}`);
    for (const f of s.files ?? []) {
      if (f.diff !== undefined) out.push(f.diff ? indent(f.diff) : `      (${f.path} unchanged)`);
      else out.push(`      ${f.path}:`, indent(f.content, '        '));
    }
    if (s.note) out.push(`      (${s.note})`);
  }
  out.push('');
  out.push(p.ready ? 'every precondition holds.' : `${p.checks.filter((c) => !c.ok).length} precondition(s) fail: ${p.checks.filter((c) => !c.ok).map((c) => c.name).join(', ')}.`);
  out.push(`\`ffkeeper migrate start --site ${p.site} --to-model ${p.toModel}${p.portOffset === 10 ? '' : ` --port-offset ${p.portOffset}`}${p.regenerate?.toDetector ? ` --to-detector ${p.regenerate.toDetector}` : p.regenerate ? ' --regenerate-normalized' : ''}\` runs these steps as a job.`);
  return out.join('\n');
}

export async function runMigratePlan(opts: MigratePlanOptions, deps: Pick<JobCommandDeps, 'api' | 'io'>): Promise<void> {
  checkId(opts.site, '--site');
  try {
    parseModelFile(opts.toModel);
  } catch (err) {
    throw new ValidationError(`--to-model: ${(err as Error).message}`, { field: 'to-model' });
  }
  const plan = await deps.api.planMigration(argsOf(opts));
  deps.io.out(opts.json ? toJson(plan) : formatMigrationPlan(plan));
  if (!plan.ready) {
    throw new IllegalStateError(`site '${opts.site}' is not ready to migrate to ${plan.toModel}: ${plan.checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.detail})`).join('; ')}`);
  }
}

/** The report of a migrate job, from its record's detail (controller/domain/migration/job.ts MigrationDetail). */
export function formatMigrationReport(record: JobRecord): string[] {
  const d = record.detail as Partial<MigrationDetail>;
  const out = [`migration job ${record.id} of site '${record.site}': ${record.phase}${record.phase === 'Completed' ? '' : ` at step '${record.step}'`}`];
  out.push(`  ${d.fromModel ?? '?'} → ${d.toModel ?? '?'}${d.shards?.length ? `; shards ${d.shards.map((s) => `${s.from} → ${s.to}`).join(', ')}` : ''}`);
  if (d.snapshotId) out.push(`  snapshot before: ${d.snapshotId}`);
  const counts = Object.entries(d.counts ?? {});
  if (counts.length > 0) {
    const shown = counts.filter(([, c]) => c.old > 0 || c.new > 0);
    out.push(renderTable(['GALLERY', 'OLD SHARDS', 'NEW SHARDS', 'FAILED'], shown.map(([g, c]) => [g, String(c.old), String(c.new), String(c.failed)])).replace(/^/gm, '  '));
    if (shown.length < counts.length) out.push(`  (${counts.length - shown.length} empty galler${counts.length - shown.length === 1 ? 'y' : 'ies'} not shown)`);
  } else if (d.progress) {
    const done = Object.values(d.progress).flatMap((g) => Object.values(g)).reduce((n, g) => n + g.written, 0);
    out.push(`  records written to the new shards so far: ${done}`);
  }
  const regen = d.regenerate;
  if (regen) {
    const made = Object.values(regen.galleries).reduce((n, g) => n + g.regenerated, 0);
    const failed = Object.values(regen.galleries).reduce((n, g) => n + g.failed, 0);
    out.push(`  normalized images made again from source photos: ${made}${regen.usedDetector ? ` (detector ${regen.usedDetector})` : ''}${failed ? `; ${failed} could not be (re-extracted from the image they had)` : ''}`);
    for (const f of regen.failed.slice(0, 20)) out.push(`    ${f.gallery} ${f.id}: ${f.reason}`);
    if (regen.failed.length > 20) out.push(`    ... ${regen.failed.length - 20} more: ffkeeper jobs show ${record.id} --json`);
  }
  out.push(`  images sent to the extraction-api: ${d.extracted ?? 0}`);
  if (d.failedTotal) {
    out.push(`  faces not migrated: ${d.failedTotal}`);
    for (const f of (d.failed ?? []).slice(0, 20)) out.push(`    ${f.gallery} ${f.id}: ${f.reason}`);
    if ((d.failed ?? []).length > 20) out.push(`    ... ${(d.failed ?? []).length - 20} more: ffkeeper jobs show ${record.id} --json`);
  }
  if (d.downtimeMs !== undefined) out.push(`  sf-api down at the switch: ${formatDuration(d.downtimeMs)}`);
  if (d.writesStoppedMs !== undefined) out.push(`  findface-security stopped (no writes, reads served): ${formatDuration(d.writesStoppedMs)}`);
  if (d.rolledBackBy) out.push(`  rolled back by job ${d.rolledBackBy}`);
  else if (d.finishedBy) out.push(`  finished by job ${d.finishedBy}: the old shards are removed`);
  else if (record.phase === 'Completed') out.push(`  the old shards are stopped and disabled, not removed: ffkeeper migrate rollback --site ${record.site} goes back to them; ffkeeper migrate finish --site ${record.site} removes them`);
  return out;
}

/** The report of a migrate-rollback job (controller/domain/migration/job.ts RollbackDetail). */
export function formatRollbackReport(record: JobRecord): string[] {
  const d = record.detail as Partial<RollbackDetail>;
  const out = [`rollback job ${record.id} of site '${record.site}': ${record.phase}${record.phase === 'Completed' ? '' : ` at step '${record.step}'`}`];
  out.push(`  migration ${d.migration ?? '?'} undone: ${d.toModel ?? '?'} → ${d.fromModel ?? '?'}`);
  if (d.snapshotId) out.push(`  snapshot of the migrated site: ${d.snapshotId}`);
  if (d.normalizedRestored !== undefined) out.push(`  normalized images the migration had made again, put back as they were: ${d.normalizedRestored}`);
  if (d.carriedBack !== undefined) out.push(`  records written since the switch, carried back to the old shards: ${d.carriedBack}`);
  for (const f of (d.failed ?? []).slice(0, 20)) out.push(`    not carried back: ${f.gallery} ${f.id}: ${f.reason}`);
  if (d.downtimeMs !== undefined) out.push(`  sf-api and findface-security down: ${formatDuration(d.downtimeMs)}`);
  if (d.snapshotAfterId) out.push(`  snapshot of the site as it is again: ${d.snapshotAfterId}`);
  if (record.phase === 'Completed') out.push('  the new shards are stopped and disabled, not removed');
  return out;
}

/** The report of a migrate-finish job. */
export function formatFinishReport(record: JobRecord): string[] {
  const d = record.detail as Partial<FinishDetail>;
  const out = [`finish job ${record.id} of site '${record.site}': ${record.phase}; migration ${d.migration ?? '?'}`];
  for (const r of d.removed ?? []) out.push(`  ${r.host} ${r.shard}: ${formatBytes(r.bytes)} freed; removed ${r.paths.join(', ') || 'nothing (gone already)'}`);
  if (d.normalizedRemoved) out.push(`  ${d.normalizedRemoved.host}: ${d.normalizedRemoved.files} normalized image(s) the regeneration replaced, removed (${d.normalizedRemoved.dir})`);
  if (record.phase === 'Completed') out.push('  no rollback from here: the way back is a snapshot taken before the migration');
  return out;
}

async function followMigration(start: (onEvent: OnJobEvent) => Promise<JobEvent>, deps: JobCommandDeps, json: boolean): Promise<void> {
  const display = progressOn(deps.term, json);
  const hint = (id: string): string => `follow it with: ffkeeper jobs logs ${id} --follow; continue it with: ffkeeper migrate resume ${id}`;
  const { outcome } = await followJob(start, (e) => display?.onEvent(e), hint).finally(() => display?.finish());
  const record = await deps.api.getJob(outcome.jobId).catch(() => undefined);
  const kind = record?.kind ?? 'migrate';
  const report = kind === 'migrate-rollback' ? formatRollbackReport : kind === 'migrate-finish' ? formatFinishReport : formatMigrationReport;
  if (record) deps.io.out(json ? toJson(record) : report(record).join('\n'));
  const phase = outcome.outcome?.phase ?? outcome.phase;
  checkOutcome(kind, outcome, phase === 'Failed' && kind === 'migrate' ? `continue it with: ffkeeper migrate resume ${outcome.jobId}` : undefined);
}

export async function runMigrateStart(opts: MigratePlanOptions & { yes: boolean }, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  try {
    parseModelFile(opts.toModel);
  } catch (err) {
    throw new ValidationError(`--to-model: ${(err as Error).message}`, { field: 'to-model' });
  }
  await confirmAction(deps.term, { yes: opts.yes, action: `migrate every face of site '${opts.site}' to ${opts.toModel}${opts.toDetector ? ` and detector ${opts.toDetector}` : ''}${opts.regenerateNormalized ? ', normalized images made again from the source photos,' : ''} (sf-api switches to new shards at the end)` });
  await followMigration((onEvent) => deps.api.migrate(argsOf(opts), onEvent), deps, opts.json);
}

/** `migrate rollback` and `migrate finish`: what each does to the site's newest migration, and its call. */
const ENDINGS = {
  rollback: {
    description: 'puts the site back on the old shards and model its newest migration kept: records written since carried back, sf-api and the agents switched back; a snapshot before and after',
    action: (site: string) => `put site '${site}' back on the shards and model its newest migration replaced`,
    start: (api: JobCommandDeps['api'], site: string, onEvent: OnJobEvent) => api.rollbackMigration(site, onEvent),
  },
  finish: {
    description: "deletes the old shards of the site's newest completed migration (instance files, links, data directories); no rollback after it",
    action: (site: string) => `delete the old shards (instance files and data) of site '${site}'s newest migration; no rollback after this`,
    start: (api: JobCommandDeps['api'], site: string, onEvent: OnJobEvent) => api.finishMigration(site, onEvent),
  },
} as const;

/** Runs `migrate rollback` or `migrate finish` after a confirmation. */
export async function runMigrateEnd(how: keyof typeof ENDINGS, opts: { site: string; json: boolean; yes: boolean }, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  await confirmAction(deps.term, { yes: opts.yes, action: ENDINGS[how].action(opts.site) });
  await followMigration((onEvent) => ENDINGS[how].start(deps.api, opts.site, onEvent), deps, opts.json);
}

export async function runMigrateResume(jobId: string, opts: { json: boolean }, deps: JobCommandDeps): Promise<void> {
  checkId(jobId, 'JOB');
  const record = await deps.api.getJob(jobId);
  if (record.kind !== 'migrate') throw new ValidationError(`job '${jobId}' is a ${record.kind} job, not a migration`, { field: 'job' });
  if (record.phase === 'Completed') throw new IllegalStateError(`migration job '${jobId}' of site '${record.site}' already completed: nothing to resume`);
  (opts.json ? deps.io.err : deps.io.out)(`migration job ${jobId} of site '${record.site}' stopped at step '${record.step}', phase ${record.phase}${record.error ? ` (${record.error.code}: ${record.error.message})` : ''}`);
  await followMigration((onEvent) => deps.api.resumeMigration(jobId, onEvent), deps, opts.json);
}

/** Registers `migrate` (moving a site's faces to another neural-network model) on the program. */
export function registerMigrateCommands(program: Command, ctx: RegisterContext): void {
  const { io, withApi } = ctx;
  const migrate = program.command('migrate').description("moving a site's faces to another neural-network model (FindFace's migration procedure)");
  migrate
    .command('plan')
    .description("the site's migration runbook (new shards, config diffs, migration.ini, faces, time estimate, disk) and its preconditions; changes nothing; exit 8 when a precondition fails")
    .requiredOption('--site <site>', 'the site')
    .requiredOption('--to-model <file>', 'the model file as findface-extraction-api.ini names it, e.g. face/ifruit_320.cpu.fnk')
    .option('--port-offset <n>', "how far the new shards' numbers and ports move (default 10, as FindFace's procedure: shard-001 → shard-011, 32001 → 32011; 20, 30… when an earlier migration's new shards are there)")
    .option('--regenerate-normalized', REGENERATE_HELP, false)
    .option('--to-detector <file>', TO_DETECTOR_HELP)
    .action((opts: CommanderOptions, cmd: Command) => withApi(cmd, (api, g) => runMigratePlan(optionsOf(opts, g.json), { api, io })));
  migrate
    .command('start')
    .description('runs the migration as a job: a snapshot first, each step through the agents and checked, every face re-extracted into new shards (the site stays readable), sf-api switched at the end')
    .requiredOption('--site <site>', 'the site')
    .requiredOption('--to-model <file>', 'the model file as findface-extraction-api.ini names it, e.g. face/ifruit_320.cpu.fnk')
    .option('--port-offset <n>', "how far the new shards' numbers and ports move (default as migrate plan)")
    .option('--regenerate-normalized', REGENERATE_HELP, false)
    .option('--to-detector <file>', TO_DETECTOR_HELP)
    .option('-y, --yes', 'do not ask for confirmation', false)
    .action((opts: CommanderOptions & { yes: boolean }, cmd: Command) =>
      withApi(cmd, (api, g) => runMigrateStart({ ...optionsOf(opts, g.json), yes: opts.yes }, { api, io, term: ctx.term })),
    );
  for (const how of ['rollback', 'finish'] as const) {
    migrate
      .command(how)
      .description(ENDINGS[how].description)
      .requiredOption('--site <site>', 'the site')
      .option('-y, --yes', 'do not ask for confirmation', false)
      .action((opts: { site: string; yes: boolean }, cmd: Command) => withApi(cmd, (api, g) => runMigrateEnd(how, { site: opts.site, json: g.json, yes: opts.yes }, { api, io, term: ctx.term })));
  }
  migrate
    .command('resume')
    .description('continues an interrupted migration job where it stopped (finished batches are not extracted again)')
    .argument('<job>', 'the migrate job id')
    .action((jobId: string, _opts: unknown, cmd: Command) => withApi(cmd, (api, g) => runMigrateResume(jobId, { json: g.json }, { api, io, term: ctx.term })));
}
