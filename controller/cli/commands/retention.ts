/**
 * `ffkeeper retention set --site S [--keep-last N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N]
 * [--timezone TZ]`, `retention show --site S`, `retention apply --site S [--dry-run] [--yes]`: which whole
 * cuts are kept, and pruning the rest from the catalog and the repository (a `prune` job).
 */
import { describePolicy } from '../../domain/retention.js';
import type { RetentionPlan } from '../api.js';
import { renderTable, toJson } from '../format.js';
import { checkOutcome, followJob } from '../job-outcome.js';
import { confirmAction, type JobCommandDeps } from '../terminal.js';
import { formatLocalTime } from '../units.js';
import { checkId, parseCount } from '../validate.js';

export interface RetentionSetOptions {
  site: string;
  keepLast?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  timezone?: string;
  json: boolean;
}

function count(value: string | undefined, flag: string): number {
  return value === undefined ? 0 : parseCount(value, flag);
}

export async function runRetentionSet(opts: RetentionSetOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  const p = await deps.api.setRetention({
    site: opts.site,
    keepLast: count(opts.keepLast, '--keep-last'),
    keepDaily: count(opts.keepDaily, '--keep-daily'),
    keepWeekly: count(opts.keepWeekly, '--keep-weekly'),
    keepMonthly: count(opts.keepMonthly, '--keep-monthly'),
    timezone: opts.timezone ?? 'UTC',
  });
  deps.io.out(opts.json ? toJson(p) : `retention of site '${p.site}': ${describePolicy(p)}`);
}

export async function runRetentionShow(opts: { site: string; json: boolean }, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  const p = await deps.api.getRetention(opts.site);
  deps.io.out(opts.json ? toJson(p) : `retention of site '${p.site}': ${describePolicy(p)} (set ${formatLocalTime(p.updatedAt)})`);
}

function planLines(plan: RetentionPlan): string[] {
  const removed = plan.decisions.filter((d) => !d.keep).length;
  const rows = plan.decisions.map((d) => [d.cutId, formatLocalTime(d.createdAt), d.keep ? 'keep' : 'REMOVE', d.reasons.join('; ')]);
  return [
    `retention of site '${plan.site}': ${describePolicy(plan.policy)}`,
    `${plan.decisions.length} sealed snapshots: ${plan.decisions.length - removed} stay, ${removed} go`,
    ...(rows.length > 0 ? ['', renderTable(['SNAPSHOT', 'CREATED', 'ACTION', 'WHY'], rows)] : []),
  ];
}

export interface RetentionApplyOptions {
  site: string;
  dryRun: boolean;
  yes: boolean;
  json: boolean;
}

/** Prints what goes and what stays and why; without --dry-run then prunes (asking first on a terminal). */
export async function runRetentionApply(opts: RetentionApplyOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  const plan = await deps.api.planRetention(opts.site);
  const removed = plan.decisions.filter((d) => !d.keep);
  if (opts.dryRun) {
    deps.io.out(opts.json ? toJson({ ...plan, dryRun: true }) : [...planLines(plan), '', 'dry run: nothing was removed'].join('\n'));
    return;
  }
  if (!opts.json) deps.io.out(planLines(plan).join('\n'));
  if (removed.length > 0) {
    await confirmAction(deps.term, { yes: opts.yes, action: `remove ${removed.length} snapshot(s) of site '${opts.site}' and prune its repository` });
  }
  const messages: string[] = [];
  const { outcome } = await followJob(
    (onEvent) => deps.api.applyRetention(opts.site, onEvent),
    (e) => {
      if (e.message && !opts.json) {
        messages.push(e.message);
        deps.io.err(`  ${e.message}`);
      }
    },
    (jobId) => `ffkeeper jobs logs ${jobId} --follow`,
  );
  checkOutcome('prune', outcome);
  // The job decided again under the site's lease: report what it did, not the plan shown above.
  const detail = (await deps.api.getJob(outcome.jobId)).detail;
  const ids = (k: string): string[] => (Array.isArray(detail[k]) ? (detail[k] as string[]) : []);
  const done = { site: opts.site, jobId: outcome.jobId, removed: ids('removed'), kept: ids('kept'), repositorySnapshotsRemoved: Number(detail.repositorySnapshotsRemoved ?? 0) };
  if (opts.json) {
    deps.io.out(toJson(done));
    return;
  }
  deps.io.out(`prune job ${done.jobId}: removed ${done.removed.length} snapshot(s) (${done.repositorySnapshotsRemoved} repository snapshots), kept ${done.kept.length}`);
}
