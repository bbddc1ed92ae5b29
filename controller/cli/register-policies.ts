/** Registers `schedule` and `retention` on the program. */
import type { Command } from 'commander';
import type { RegisterContext } from './register-jobs.js';
import { runRetentionApply, runRetentionSet, runRetentionShow, type RetentionSetOptions } from './commands/retention.js';
import { runScheduleList, runScheduleRemove, runScheduleSet } from './commands/schedule.js';

export function registerPolicyCommands(program: Command, ctx: RegisterContext): void {
  const { io, term, withApi } = ctx;
  const schedule = program.command('schedule').description('snapshots, verify drills and retention that run by themselves (cron, per site)');
  schedule
    .command('set')
    .description('set (or replace) a schedule of a site')
    .requiredOption('--site <site>', 'the site')
    .option('--kind <kind>', 'snapshot | verify | retention | copy', 'snapshot')
    .option('--cron <expr>', "cron expression, 5 fields (or 6 with seconds); default daily '0 2 * * *'")
    .option('--timezone <tz>', 'IANA time zone of the expression', 'UTC')
    .action((opts: { site: string; kind: string; cron?: string; timezone: string }, cmd: Command) =>
      withApi(cmd, (api, g) => runScheduleSet({ ...opts, json: g.json }, { api, io, term })),
    );
  schedule
    .command('list')
    .description('schedules with their next and last runs')
    .option('--site <site>', 'only this site')
    .action((opts: { site?: string }, cmd: Command) => withApi(cmd, (api, g) => runScheduleList({ ...opts, json: g.json }, { api, io, term })));
  schedule
    .command('remove')
    .description('remove a schedule of a site')
    .requiredOption('--site <site>', 'the site')
    .option('--kind <kind>', 'snapshot | verify | retention | copy', 'snapshot')
    .action((opts: { site: string; kind: string }, cmd: Command) => withApi(cmd, (api, g) => runScheduleRemove({ ...opts, json: g.json }, { api, io, term })));

  const retention = program.command('retention').description('how many whole snapshots a site keeps, and pruning the rest');
  retention
    .command('set')
    .description("set a site's retention policy (at least one count above 0)")
    .requiredOption('--site <site>', 'the site')
    .option('--keep-last <n>', 'keep the N newest snapshots')
    .option('--keep-daily <n>', 'keep the newest snapshot of each of the last N days that have one')
    .option('--keep-weekly <n>', 'likewise for ISO weeks')
    .option('--keep-monthly <n>', 'likewise for months')
    .option('--timezone <tz>', 'IANA time zone for day/week/month boundaries', 'UTC')
    .action((opts: Omit<RetentionSetOptions, 'json'>, cmd: Command) => withApi(cmd, (api, g) => runRetentionSet({ ...opts, json: g.json }, { api, io, term })));
  retention
    .command('show')
    .description("a site's retention policy")
    .requiredOption('--site <site>', 'the site')
    .action((opts: { site: string }, cmd: Command) => withApi(cmd, (api, g) => runRetentionShow({ ...opts, json: g.json }, { api, io, term })));
  retention
    .command('apply')
    .description('list what goes and what stays and why; then remove and prune (unless --dry-run)')
    .requiredOption('--site <site>', 'the site')
    .option('--dry-run', 'only list', false)
    .option('--yes', 'do not ask for confirmation', false)
    .action((opts: { site: string; dryRun: boolean; yes: boolean }, cmd: Command) =>
      withApi(cmd, (api, g) => runRetentionApply({ ...opts, json: g.json }, { api, io, term })),
    );
}
