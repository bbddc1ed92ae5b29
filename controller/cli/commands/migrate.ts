/**
 * `ffkeeper migrate plan --site S --to-model M`: the runbook of moving a site's faces to another
 * neural-network model (FindFace's procedure, reference 001) for that site — the new shards with their
 * ports and directories, each config edit as a diff, migration.ini, the faces to re-extract and the time
 * that takes at a measured extraction rate, the disk needed — and its preconditions, each checked. Changes
 * nothing. Exit 8 when a precondition fails (the plan is still printed).
 */
import { IllegalStateError, ValidationError } from '../../../shared/errors.js';
import { parseModelFile } from '../../../shared/findface/models.js';
import type { MigrationPlan } from '../../domain/migration/plan.js';
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
  json: boolean;
}

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
  out.push('`ffkeeper migrate start` (running these steps as a job) is not built yet: an operator runs them by hand.');
  return out.join('\n');
}

export async function runMigratePlan(opts: MigratePlanOptions, deps: Pick<JobCommandDeps, 'api' | 'io'>): Promise<void> {
  checkId(opts.site, '--site');
  try {
    parseModelFile(opts.toModel);
  } catch (err) {
    throw new ValidationError(`--to-model: ${(err as Error).message}`, { field: 'to-model' });
  }
  const plan = await deps.api.planMigration({ site: opts.site, toModel: opts.toModel, ...(opts.portOffset ? { portOffset: opts.portOffset } : {}) });
  deps.io.out(opts.json ? toJson(plan) : formatMigrationPlan(plan));
  if (!plan.ready) {
    throw new IllegalStateError(`site '${opts.site}' is not ready to migrate to ${plan.toModel}: ${plan.checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.detail})`).join('; ')}`);
  }
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
    .option('--port-offset <n>', "how far the new shards' numbers and ports move (default 10, as FindFace's procedure: shard-001 → shard-011, 32001 → 32011)")
    .action((opts: { site: string; toModel: string; portOffset?: string }, cmd: Command) =>
      withApi(cmd, (api, g) =>
        runMigratePlan({ site: opts.site, toModel: opts.toModel, ...(opts.portOffset === undefined ? {} : { portOffset: parsePositiveInt(opts.portOffset, '--port-offset') }), json: g.json }, { api, io }),
      ),
    );
}
