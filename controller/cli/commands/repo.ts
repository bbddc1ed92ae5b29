/** `ffkeeper repo qualify --site S [--size-mib N]`: storage qualification of a site's repository. */
import { IllegalStateError } from '../../../shared/errors.js';
import type { Qualification } from '../../domain/repository/qualify.js';
import { renderTable, toJson } from '../format.js';
import type { JobCommandDeps } from '../terminal.js';
import { checkId } from '../validate.js';

export interface RepoQualifyOptions {
  site: string;
  /** Test object size in MiB; undefined = the controller's default. */
  sizeMiB?: number;
  json: boolean;
}

const VERDICT: Record<Qualification['appendOnly'], string> = {
  'append-only': "append-only: the agents' credentials cannot delete backups",
  'can-delete': "NOT append-only: the agents' credentials can delete backups",
  unknown: 'append-only: unknown (the delete was not tried)',
};

/** The report as an operator reads it. */
export function renderQualification(q: Qualification): string {
  const lines = [
    `repository of site '${q.site}'`,
    `  agents write to:     ${q.agentUrl}`,
    `  controller deletes:  ${q.separate ? q.maintenanceUrl : `${q.maintenanceUrl} (the same credentials: no maintenance set configured)`}`,
    '',
    renderTable(
      ['CREDENTIALS', 'STEP', 'RESULT', 'TIME', 'DETAIL'],
      q.steps.map((s) => [s.credentials, s.step, s.ok ? 'ok' : 'FAILED', `${s.ms} ms`, s.detail]),
    ),
    '',
  ];
  const speeds = [
    q.writeMiBps !== undefined ? `write ${q.writeMiBps} MiB/s` : undefined,
    q.readMiBps !== undefined ? `read ${q.readMiBps} MiB/s` : undefined,
    q.listMs !== undefined ? `list ${q.listMs} ms` : undefined,
  ].filter((x): x is string => x !== undefined);
  if (speeds.length > 0) lines.push(`${speeds.join(' · ')} (${Math.round(q.bytes / 1048576)} MiB test object, restic start-up included)`);
  lines.push(VERDICT[q.appendOnly]);
  for (const f of q.findings) lines.push(`- ${f}`);
  lines.push(q.ok ? 'qualified' : 'NOT qualified');
  return lines.join('\n');
}

/** Prints the qualification; exits non-zero (ILLEGAL_STATE) when the storage did not qualify. */
export async function runRepoQualify(opts: RepoQualifyOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  const q = await deps.api.qualifyRepository(opts.site, opts.sizeMiB === undefined ? 0 : opts.sizeMiB * 1048576);
  deps.io.out(opts.json ? toJson(q) : renderQualification(q));
  if (!q.ok) throw new IllegalStateError(`the repository of site '${opts.site}' did not qualify: ${q.findings.join('; ') || 'a step failed'}`);
}
