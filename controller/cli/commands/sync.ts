/**
 * `ffkeeper sync link|list|show|check|run|pause|resume|unlink`: watch-list sync links (DESIGN.md §8), one master
 * site's watch list replicated into one slave site's.
 */
import { IllegalStateError, ValidationError } from '../../../shared/errors.js';
import { formatEnd, parseEnd, type SyncEnd } from '../../../shared/sync/link.js';
import type { SyncLinkView } from '../api.js';
import { renderTable, toJson } from '../format.js';
import type { JobCommandDeps } from '../terminal.js';
import { formatDuration, formatLocalTime } from '../units.js';
import { checkId } from '../validate.js';

export interface SyncLinkOptions {
  from: string;
  to: string;
  mode?: string;
  at?: string;
  timezone?: string;
  /** commander's `--no-safety-snapshot`: false when given. */
  safetySnapshot: boolean;
  json: boolean;
}

/** Parses `--from`/`--to` SITE:LIST; the error names the flag and the expected form. */
export function parseEndFlag(value: string, flag: '--from' | '--to'): SyncEnd {
  const end = parseEnd(value.trim());
  if (!end) throw new ValidationError(`${flag} '${value}' must be SITE:LIST, a site and a watch-list id (e.g. msk-1:1)`, { field: flag.slice(2) });
  return end;
}

const LINK_ID = /^[A-Za-z0-9_-]+\.[1-9][0-9]*\.[A-Za-z0-9_-]+\.[1-9][0-9]*$/;

/** Checks a LINK argument (`<from site>.<list>.<to site>.<list>`). */
export function checkLinkId(id: string): string {
  if (!LINK_ID.test(id)) throw new ValidationError(`link '${id}' is not a sync link id (FROMSITE.LIST.TOSITE.LIST, e.g. msk-1.1.spb-1.1; see 'ffkeeper sync list')`, { field: 'link' });
  return id;
}

const describeLink = (v: SyncLinkView): string => `${formatEnd(v.from)} → ${formatEnd(v.to)}`;
const lag = (v: SyncLinkView): string => (v.lagSeconds <= 0 ? '0s' : formatDuration(v.lagSeconds * 1000));
const when = (iso: string | undefined): string => (iso ? formatLocalTime(new Date(iso)) : '-');
const modelsText = (models: Record<string, string>): string =>
  Object.entries(models)
    .map(([g, m]) => `${g} ${m}`)
    .join(', ') || 'none shared';

export async function runSyncLink(opts: SyncLinkOptions, deps: JobCommandDeps): Promise<void> {
  const from = parseEndFlag(opts.from, '--from');
  const to = parseEndFlag(opts.to, '--to');
  if (!opts.json) {
    const safety = opts.safetySnapshot ? `a safety snapshot of site '${to.site}', ` : '';
    deps.term.progress(`linking ${formatEnd(from)} → ${formatEnd(to)}: ${safety}model check; this can take minutes\n`);
  }
  const v = await deps.api.createSyncLink({
    from,
    to,
    noSafetySnapshot: !opts.safetySnapshot,
    ...(opts.mode === undefined ? {} : { mode: opts.mode }),
    ...(opts.at === undefined ? {} : { at: opts.at }),
    ...(opts.timezone === undefined ? {} : { timezone: opts.timezone }),
  });
  if (opts.json) {
    deps.io.out(toJson(v));
    return;
  }
  deps.io.out(
    [
      v.native
        ? `linked ${describeLink(v)}: link '${v.id}' (number ${v.number}, native: FindFace syncs the replica nightly at ${v.at} ${v.timezone}, SYNC_TIME ${hhmm(v.native.syncTime)} on site '${v.to.site}'; the first run replaces the slave list)`
        : v.mode === 'nightly'
          ? `linked ${describeLink(v)}: link '${v.id}' (number ${v.number}, nightly: site '${v.to.site}' applies the master's changes once a day at ${v.at} ${v.timezone}, then both ends are compared; 'ffkeeper sync run ${v.id}' applies now)`
          : `linked ${describeLink(v)}: link '${v.id}' (number ${v.number}, ${v.mode}, nightly comparison at ${v.at} ${v.timezone})`,
      v.safetySnapshot ? `safety snapshot of site '${v.to.site}': ${v.safetySnapshot}` : `no safety snapshot of site '${v.to.site}' was taken`,
      `models: ${modelsText(v.models)}`,
      ...(v.replacedDossiers ? [`the slave list held ${v.replacedDossiers} dossiers: the first sync takes them out of it (they stay on the site${v.safetySnapshot ? ', and in the safety snapshot' : ''})`] : []),
    ].join('\n'),
  );
}

export async function runSyncList(opts: { site?: string; json: boolean }, deps: JobCommandDeps): Promise<void> {
  if (opts.site !== undefined) checkId(opts.site, '--site');
  const all = await deps.api.listSyncLinks(opts.site);
  if (opts.json) {
    deps.io.out(toJson(all));
    return;
  }
  if (all.length === 0) {
    deps.io.out(opts.site ? `no sync links of site '${opts.site}'` : 'no sync links');
    return;
  }
  const rows = all.map((v) => [v.id, v.mode, v.state, lag(v), when(v.lastAppliedAt), String(v.pending), String(v.appliedTotal), String(v.errors)]);
  deps.io.out(renderTable(['LINK', 'MODE', 'STATE', 'LAG', 'LAST APPLIED', 'PENDING', 'APPLIED', 'ERRORS'], rows));
}

const hhmm = (t: { hour: number; minute: number }): string => `${String(t.hour).padStart(2, '0')}:${String(t.minute).padStart(2, '0')}`;

/** A native link: FindFace's replica and its last nightly run instead of parts. */
function nativeDetail(v: SyncLinkView): string {
  const run = v.nativeReplica?.lastRun;
  const runText = !run
    ? 'none yet'
    : `${when(run.startedAt)} ${run.status}${run.status === 'ok' ? `: ${run.dossiers ?? 0} dossiers, ${run.faces ?? 0} faces` : ''}${run.error ? `: ${run.error}` : ''}${run.finishedAt ? ` (finished ${when(run.finishedAt)})` : ''}`;
  return [
    `link ${v.id} (number ${v.number}): ${describeLink(v)}`,
    `state:           ${v.state}`,
    `mode:            native (FindFace's own sync), nightly at ${v.at} ${v.timezone}${v.native ? ` = SYNC_TIME ${hhmm(v.native.syncTime)} on site '${v.to.site}'` : ''}`,
    `created:         ${when(v.createdAt)}`,
    `safety snapshot: ${v.safetySnapshot ?? '-'}`,
    `models:          ${modelsText(v.models)}`,
    `master url:      ${v.native?.remoteUrl ?? '-'}`,
    `replica:         ${v.nativeReplica ? `id ${v.nativeReplica.id} in findface-security of site '${v.to.site}'` : 'not found'}`,
    `last run:        ${runText}`,
    `replica age:     ${lag(v)}`,
    `errors:          ${v.errors}${v.lastError ? ` (last: ${v.lastError})` : ''}`,
  ].join('\n');
}

/** A nightly link's window: open since when, or the last one. */
function windowText(v: SyncLinkView): string {
  if (v.window) return `open since ${when(v.window.openedAt)}`;
  if (!v.lastWindow) return 'none yet';
  return `last ${when(v.lastWindow.openedAt)} – ${when(v.lastWindow.closedAt)}${v.lastWindow.error ? `, FAILED: ${v.lastWindow.error}` : ''}`;
}

function detail(v: SyncLinkView): string {
  if (v.mode === 'native') return nativeDetail(v);
  const lines = [
    `link ${v.id} (number ${v.number}): ${describeLink(v)}`,
    `state:           ${v.state}${v.paused ? ' (paused)' : ''}`,
    v.mode === 'nightly'
      ? `mode:            nightly: applied and compared at ${v.at} ${v.timezone} (next ${when(v.nextRunAt)})`
      : `mode:            ${v.mode}, nightly comparison at ${v.at} ${v.timezone} (next ${when(v.nextRunAt)})`,
    ...(v.mode === 'nightly' ? [`apply window:    ${windowText(v)}`] : []),
    `created:         ${when(v.createdAt)}`,
    `safety snapshot: ${v.safetySnapshot ?? '-'}`,
    `models:          ${modelsText(v.models)}`,
    `lag:             ${lag(v)}`,
    `pending:         ${v.pending}`,
    `applied:         ${v.appliedTotal} (last ${when(v.lastAppliedAt)})`,
    `errors:          ${v.errors}${v.lastError ? ` (last: ${v.lastError})` : ''}`,
    `resyncs:         ${v.resyncs}`,
    `last check:      ${v.lastCheck ? `${when(v.lastCheck.checkedAt)}: ${v.lastCheck.differences.length} differences in ${v.lastCheck.dossiers} dossiers${v.lastCheck.requeued ? `, ${v.lastCheck.requeued} republished` : ''}` : 'never'}`,
  ];
  if (v.parts.length === 0) return [...lines, '', 'no part has reported yet'].join('\n');
  const rows = v.parts.map((p) => [p.role, `${p.site}/${p.host}`, p.stale ? `${p.state} (stale)` : p.state, String(p.position), String(p.pending), String(p.handled), String(p.errors), when(p.updatedAt), p.filesPath ?? '', p.lastError ?? '']);
  return [...lines, '', renderTable(['PART', 'HOST', 'STATE', 'POSITION', 'PENDING', 'HANDLED', 'ERRORS', 'REPORTED', 'FILES VIA', 'LAST ERROR'], rows)].join('\n');
}

export async function runSyncShow(opts: { link: string; json: boolean }, deps: JobCommandDeps): Promise<void> {
  const v = await deps.api.getSyncLink(checkLinkId(opts.link));
  deps.io.out(opts.json ? toJson(v) : detail(v));
}

/** `sync check LINK [--repair]`: every difference; exit 8 when there are some (after a repair: when it republished nothing). */
export async function runSyncCheck(opts: { link: string; repair: boolean; json: boolean }, deps: JobCommandDeps): Promise<void> {
  const r = await deps.api.checkSyncLink(checkLinkId(opts.link), opts.repair);
  if (opts.json) deps.io.out(toJson(r));
  else {
    deps.io.out(`sync check of link ${r.link}: ${r.dossiers} dossiers, ${r.records} gallery records, ${r.files} files compared in ${formatDuration(r.durationMs)}`);
    if (r.differences.length > 0) {
      deps.io.out(renderTable(['KIND', 'KEY', 'DETAIL'], r.differences.map((d) => [d.kind, d.key, d.detail])));
    }
    deps.io.out(`${r.differences.length} differences${r.requeued ? `; the master publishes ${r.requeued} dossiers again (run the check again to confirm the repair)` : ''}`);
  }
  if (r.differences.length > 0 && r.requeued === 0) {
    throw new IllegalStateError(`sync link '${r.link}': ${r.differences.length} differences between master and slave${opts.repair ? '' : ' (--repair republishes the differing dossiers)'}`);
  }
}

/** `sync run LINK`: a nightly link's apply window now; exit 8 when differences remain after it. */
export async function runSyncRun(opts: { link: string; json: boolean }, deps: JobCommandDeps): Promise<void> {
  const id = checkLinkId(opts.link);
  if (!opts.json) deps.term.progress(`sync run ${id}: the slave applies what the master published since the last window, then both ends are compared\n`);
  const r = await deps.api.runSyncLink(id);
  if (opts.json) deps.io.out(toJson(r));
  else {
    deps.io.out(`apply window of link ${r.link} closed: ${r.dossiers} dossiers, ${r.records} gallery records, ${r.files} files compared in ${formatDuration(r.durationMs)}`);
    if (r.differences.length > 0) deps.io.out(renderTable(['KIND', 'KEY', 'DETAIL'], r.differences.map((d) => [d.kind, d.key, d.detail])));
    deps.io.out(`${r.differences.length} differences`);
  }
  if (r.differences.length > 0) throw new IllegalStateError(`sync link '${r.link}': ${r.differences.length} differences remain after its apply window`);
}

export async function runSyncPause(opts: { link: string; paused: boolean; json: boolean }, deps: JobCommandDeps): Promise<void> {
  const v = await deps.api.setSyncLinkPaused(checkLinkId(opts.link), opts.paused);
  if (opts.json) {
    deps.io.out(toJson(v));
    return;
  }
  deps.io.out(opts.paused ? `paused sync link '${v.id}': changes of ${formatEnd(v.from)} wait on the master until it is resumed` : `resumed sync link '${v.id}'`);
}

export async function runSyncUnlink(opts: { link: string; json: boolean }, deps: JobCommandDeps): Promise<void> {
  const id = checkLinkId(opts.link);
  await deps.api.deleteSyncLink(id);
  if (opts.json) {
    deps.io.out(toJson({ id, removed: true }));
    return;
  }
  deps.io.out(`removed sync link '${id}': the slave's watch list keeps what was replicated, and it is writable there`);
}
