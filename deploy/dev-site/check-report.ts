/**
 * What the integrity checker reports: the issue kinds (errors are dangling references, warnings are
 * orphans), the report itself with counts and a capped issue list, and its summary for people.
 */
import type { GalleryName } from './state.js';

export type IssueKind =
  | 'missing-record'
  | 'misplaced-record'
  | 'record-mismatch'
  | 'missing-file'
  | 'dangling-row-ref'
  | 'gallery-model'
  | 'orphan-record'
  | 'orphan-file';

export const ERROR_KINDS: readonly IssueKind[] = ['missing-record', 'misplaced-record', 'record-mismatch', 'missing-file', 'dangling-row-ref', 'gallery-model'];

export interface CheckIssue {
  severity: 'error' | 'warning';
  kind: IssueKind;
  /** Table and id of the row concerned, when there is one. */
  table?: string;
  rowId?: number;
  gallery?: GalleryName;
  recordId?: number;
  shard?: string;
  /** `uploads:<path>` or `ffupload:<path>`. */
  file?: string;
  detail: string;
}

export interface CheckReport {
  site: string;
  ok: boolean;
  errors: number;
  warnings: number;
  byKind: Partial<Record<IssueKind, number>>;
  counts: { dossierFaces: number; events: number; records: Partial<Record<GalleryName, number>>; files: number };
  /** At most `MAX_ISSUES_PER_KIND` of each kind. */
  issues: CheckIssue[];
  truncated: boolean;
  durationMs: number;
}

/** Issues listed per kind at most (all are counted). */
export const MAX_ISSUES_PER_KIND = 50;

/** Builds the report of a check that started at `started` (epoch ms). */
export function buildReport(site: string, all: readonly CheckIssue[], counts: CheckReport['counts'], started: number): CheckReport {
  const byKind: Partial<Record<IssueKind, number>> = {};
  const issues: CheckIssue[] = [];
  for (const issue of all) {
    const n = (byKind[issue.kind] = (byKind[issue.kind] ?? 0) + 1);
    if (n <= MAX_ISSUES_PER_KIND) issues.push(issue);
  }
  const errors = all.filter((i) => i.severity === 'error').length;
  return {
    site,
    ok: errors === 0,
    errors,
    warnings: all.length - errors,
    byKind,
    counts,
    issues,
    truncated: issues.length < all.length,
    durationMs: Date.now() - started,
  };
}

/** A summary for people. */
export function formatReport(r: CheckReport): string {
  const lines = [
    `dev site '${r.site}': ${r.ok ? 'OK' : 'INCONSISTENT'} — ${r.errors} error(s), ${r.warnings} warning(s) in ${r.durationMs} ms`,
    `  checked ${r.counts.dossierFaces} dossier faces, ${r.counts.events} events, ${r.counts.files} files; records: ` +
      Object.entries(r.counts.records).map(([g, n]) => `${g}=${n}`).join(' '),
  ];
  for (const [kind, n] of Object.entries(r.byKind)) lines.push(`  ${ERROR_KINDS.includes(kind as IssueKind) ? 'error  ' : 'warning'} ${kind}: ${n}`);
  for (const issue of r.issues.slice(0, 20)) lines.push(`    - ${issue.detail}`);
  if (r.issues.length > 20 || r.truncated) lines.push('    ... (use --json for the full list)');
  return lines.join('\n');
}
