/**
 * `ffkeeper audit list [--site S] [--since TIME] [--limit N]`: the controller's audit trail (mutating and
 * denied calls: who, from where, what, which sites, outcome). `ffkeeper audit verify [--anchor SEQ:HASH]`:
 * checks the whole hash chain (and anchors kept from earlier runs); a removed or changed record is named,
 * exit 8; prints the head to keep as the next anchor.
 */
import type { Command } from 'commander';
import { IllegalStateError, ValidationError } from '../../../shared/errors.js';
import { checkId } from '../validate.js';
import { renderTable, toJson } from '../format.js';
import type { RegisterContext } from '../register-jobs.js';
import { parseRestoreTime } from './restore-args.js';
import { checkAnchor, formatAnchor } from '../../domain/access/audit.js';

export function registerAuditCommands(program: Command, ctx: RegisterContext): void {
  const { io, withApi } = ctx;
  const audit = program.command('audit').description("the controller's audit trail (hash-chained)");
  audit
    .command('list')
    .description('mutating and denied calls, oldest first')
    .option('--site <site>', 'only calls naming this site')
    .option('--since <time>', "only calls at or after TIME (ISO 8601 or local 'YYYY-MM-DD HH:MM[:SS]')")
    .option('--limit <n>', 'only the newest N')
    .action((opts: { site?: string; since?: string; limit?: string }, cmd: Command) =>
      withApi(cmd, async (api, g) => {
        if (opts.site !== undefined) checkId(opts.site, '--site');
        const limit = opts.limit === undefined ? undefined : Number(opts.limit);
        if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new ValidationError(`--limit '${opts.limit}' must be a whole number ≥ 1`, { field: 'limit' });
        const entries = await api.listAudit({
          ...(opts.site ? { site: opts.site } : {}),
          ...(opts.since ? { since: parseRestoreTime(opts.since) } : {}),
          ...(limit ? { limit } : {}),
        });
        if (g.json) return io.out(toJson(entries));
        if (entries.length === 0) return io.out('no audit records');
        io.out(renderTable(
          ['SEQ', 'AT', 'WHO', 'METHOD', 'SITES', 'OUTCOME', 'DETAIL'],
          entries.map((e) => [String(e.seq), e.at, e.who, e.method, e.sites.join(',') || '-', e.outcome, e.message ? `${e.code ?? ''}: ${e.message}`.slice(0, 120) : '']),
        ));
      }),
    );
  audit
    .command('verify')
    .description('check the hash chain: every record present, unchanged, in order (exit 8 naming each broken record); prints the head to keep as an anchor')
    .option('--anchor <SEQ:HASH>', 'a head printed by an earlier verify: that record must still have that hash (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .action((opts: { anchor: string[] }, cmd: Command) =>
      withApi(cmd, async (api, g) => {
        for (const a of opts.anchor) checkAnchor(a, '--anchor');
        const r = await api.verifyAudit(opts.anchor);
        if (g.json) io.out(toJson(r));
        else if (r.problems.length === 0) {
          io.out(`audit trail intact: ${r.records} records, each chained to the one before${opts.anchor.length ? `; ${opts.anchor.length} anchor(s) still match` : ''}`);
          if (r.keptHead) io.out(`the head the controller kept outside the stream (#${r.keptHead.seq}) still matches`);
          if (r.head) io.out(`head: ${formatAnchor(r.head)} (keep it outside ffkeeper; 'audit verify --anchor ${formatAnchor(r.head)}' later proves nothing up to it was rewritten)`);
        }
        if (r.problems.length > 0) throw new IllegalStateError(`audit trail broken (${r.records} records read): ${r.problems.join('; ')}`);
      }),
    );
}
