/** Registers `sync` (watch-list sync links) on the program. */
import type { Command } from 'commander';
import type { RegisterContext } from './register-jobs.js';
import { runSyncLink, runSyncList, runSyncPause, runSyncCheck, runSyncRun, runSyncShow, runSyncUnlink, type SyncLinkOptions } from './commands/sync.js';

export function registerSyncCommands(program: Command, ctx: RegisterContext): void {
  const { io, term, withApi } = ctx;
  const sync = program.command('sync').description("watch-list sync links: one site's watch list replicated into another's");
  sync
    .command('link')
    .description('link a master watch list to a slave one (safety snapshot of the slave and model check first)')
    .requiredOption('--from <SITE:LIST>', 'the master end, e.g. msk-1:1')
    .requiredOption('--to <SITE:LIST>', 'the slave end, e.g. spb-1:1')
    .option('--mode <mode>', "continuous (ffkeeper's engine, applied as it happens), nightly (ffkeeper's engine, applied once a day at --at) or native (FindFace's own nightly sync, set up on both sites' findface-security)", 'continuous')
    .option('--at <HH:MM>', "local time of the nightly full comparison (nightly: of the apply; native: of FindFace's nightly sync, SYNC_TIME)", '03:00')
    .option('--timezone <tz>', 'IANA time zone of --at', 'UTC')
    .option('--no-safety-snapshot', 'do not snapshot the slave site first')
    .action((opts: Omit<SyncLinkOptions, 'json'>, cmd: Command) => withApi(cmd, (api, g) => runSyncLink({ ...opts, json: g.json }, { api, io, term })));
  sync
    .command('list')
    .description('links with their state, lag and counters')
    .option('--site <site>', 'only links with this site at either end')
    .action((opts: { site?: string }, cmd: Command) => withApi(cmd, (api, g) => runSyncList({ ...opts, json: g.json }, { api, io, term })));
  sync
    .command('show')
    .description('one link: every field and what each of its parts reports')
    .argument('<link>', 'the link id, e.g. msk-1.1.spb-1.1')
    .action((link: string, _opts, cmd: Command) => withApi(cmd, (api, g) => runSyncShow({ link, json: g.json }, { api, io, term })));
  sync
    .command('check')
    .description('compare master and slave in full (rows, gallery records, files) and list every difference; exit 8 when there are some')
    .argument('<link>', 'the link id')
    .option('--repair', 'have the master publish every differing dossier again', false)
    .action((link: string, opts: { repair: boolean }, cmd: Command) => withApi(cmd, (api, g) => runSyncCheck({ link, repair: opts.repair, json: g.json }, { api, io, term })));
  sync
    .command('run')
    .description("a nightly link's apply window now: the slave applies what the master published since the last one, then both ends are compared with repair; exit 8 when differences remain")
    .argument('<link>', 'the link id')
    .action((link: string, _opts, cmd: Command) => withApi(cmd, (api, g) => runSyncRun({ link, json: g.json }, { api, io, term })));
  sync
    .command('pause')
    .description('stop the link: changes of the master list wait on the master until it is resumed')
    .argument('<link>', 'the link id')
    .action((link: string, _opts, cmd: Command) => withApi(cmd, (api, g) => runSyncPause({ link, paused: true, json: g.json }, { api, io, term })));
  sync
    .command('resume')
    .description('apply changes to the slave again')
    .argument('<link>', 'the link id')
    .action((link: string, _opts, cmd: Command) => withApi(cmd, (api, g) => runSyncPause({ link, paused: false, json: g.json }, { api, io, term })));
  sync
    .command('unlink')
    .description("remove a link; the slave keeps what was replicated (writable)")
    .argument('<link>', 'the link id')
    .action((link: string, _opts, cmd: Command) => withApi(cmd, (api, g) => runSyncUnlink({ link, json: g.json }, { api, io, term })));
}
