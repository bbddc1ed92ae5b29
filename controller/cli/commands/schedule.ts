/**
 * `ffkeeper schedule set --site S [--kind K] [--cron EXPR] [--timezone TZ]`, `schedule list [--site S]`,
 * `schedule remove --site S [--kind K]`: when snapshots, verify drills, retention and copies to the
 * secondary repository run by themselves.
 */
import type { ScheduleView } from '../api.js';
import { renderTable, toJson } from '../format.js';
import type { JobCommandDeps } from '../terminal.js';
import { formatLocalTime } from '../units.js';
import { checkId } from '../validate.js';

export interface ScheduleSetOptions {
  site: string;
  kind?: string;
  cron?: string;
  timezone?: string;
  json: boolean;
}

function describeNext(s: ScheduleView): string {
  return s.nextRunAt ? formatLocalTime(s.nextRunAt) : 'never';
}

export async function runScheduleSet(opts: ScheduleSetOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  const s = await deps.api.setSchedule({
    site: opts.site,
    ...(opts.kind === undefined ? {} : { kind: opts.kind }),
    ...(opts.cron === undefined ? {} : { cron: opts.cron }),
    ...(opts.timezone === undefined ? {} : { timezone: opts.timezone }),
  });
  if (opts.json) {
    deps.io.out(toJson(s));
    return;
  }
  deps.io.out(`${s.kind} schedule of site '${s.site}': '${s.cron}' (${s.timezone}); next run ${describeNext(s)}`);
}

export async function runScheduleList(opts: { site?: string; json: boolean }, deps: JobCommandDeps): Promise<void> {
  if (opts.site !== undefined) checkId(opts.site, '--site');
  const all = await deps.api.listSchedules(opts.site);
  if (opts.json) {
    deps.io.out(toJson(all));
    return;
  }
  if (all.length === 0) {
    deps.io.out(opts.site ? `no schedules for site '${opts.site}'` : 'no schedules');
    return;
  }
  const rows = all.map((s) => [
    s.site,
    s.kind,
    s.cron,
    s.timezone,
    describeNext(s),
    s.lastRunAt ? formatLocalTime(s.lastRunAt) : '-',
    s.lastJobId ?? '-',
    s.lastOutcome ?? '-',
  ]);
  deps.io.out(renderTable(['SITE', 'KIND', 'CRON', 'TZ', 'NEXT', 'LAST', 'LAST JOB', 'OUTCOME'], rows));
}

export async function runScheduleRemove(opts: { site: string; kind: string; json: boolean }, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  await deps.api.removeSchedule(opts.site, opts.kind);
  deps.io.out(opts.json ? toJson({ site: opts.site, kind: opts.kind, removed: true }) : `removed the ${opts.kind} schedule of site '${opts.site}'`);
}
