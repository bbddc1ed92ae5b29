/**
 * `ffkeeper snapshot list --site S`, `snapshot show ID [--site S]` and `snapshot delete ID --site S [--yes]`.
 * (`snapshot create` lives in snapshot-create.ts.)
 */
import { InternalError } from '../../../shared/errors.js';
import type { CutPoint, Manifest, ManifestComponent } from '../../../shared/manifest.js';
import { decodeManifest } from '../../../shared/manifest-codec.js';
import type { SnapshotSummary } from '../../../shared/transport/convert-jobs.js';
import { renderTable, toJson } from '../format.js';
import { confirmAction, type JobCommandDeps } from '../terminal.js';
import { formatBytes, formatDuration, formatLocalTime } from '../units.js';
import { checkId } from '../validate.js';
import { verificationLines, verifiedCell } from './verify.js';

export { runSnapshotCreate, type SnapshotCreateOptions, type SnapshotCreateResult } from './snapshot-create.js';

export interface SnapshotListOptions {
  site: string;
  json: boolean;
}

/** Runs `snapshot list`: ID, CREATED, SIZE, ADDED, FREEZE, COMPONENTS (count), STATUS, VERIFIED; newest first as the controller lists them. */
export async function runSnapshotList(opts: SnapshotListOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.site, '--site');
  const snaps = await deps.api.listSnapshots(opts.site);
  if (opts.json) {
    deps.io.out(toJson(snaps));
    return;
  }
  if (snaps.length === 0) {
    deps.io.out(`no snapshots for site '${opts.site}'`);
    return;
  }
  const rows = snaps.map((s) => [
    s.id,
    formatLocalTime(s.createdAt),
    formatBytes(s.bytes),
    formatBytes(s.dataAddedBytes),
    formatDuration(s.freezeWindowMs),
    String(s.components.length),
    s.status,
    verifiedCell(s.verification),
  ]);
  deps.io.out(renderTable(['ID', 'CREATED', 'SIZE', 'ADDED', 'FREEZE', 'COMPONENTS', 'STATUS', 'VERIFIED'], rows));
}

export interface SnapshotShowOptions {
  id: string;
  site?: string;
  json: boolean;
}

/** Where a component fixed its point in time, in one phrase. */
export function describeCut(cut: CutPoint): string {
  switch (cut.kind) {
    case 'postgres':
      // An imported dump has neither (snapshot import): it was taken outside ffkeeper.
      return cut.snapshotName ? `lsn ${cut.lsn}, exported snapshot ${cut.snapshotName}` : 'imported plain dump (no lsn)';
    case 'tarantool': {
      const vclock = Object.entries(cut.vclock)
        .map(([k, v]) => `${k}:${v}`)
        .join(' ');
      return `signature ${cut.signature}, vclock {${vclock}}`;
    }
    case 'uploads':
      return `files present at ${formatLocalTime(cut.time)}`;
  }
}

function componentRow(c: ManifestComponent): string[] {
  return [c.component, c.host, c.snapshotIds.join(','), formatBytes(c.bytes), String(c.files), describeCut(c.cut)];
}

function showLines(summary: SnapshotSummary, m: Manifest): string[] {
  const models = Object.entries(m.models).map(([gallery, model]) => `${gallery}: ${model}`);
  return [
    `snapshot ${summary.id} of site '${summary.site}': ${summary.status}`,
    `created:  ${formatLocalTime(m.createdAt)}`,
    `sealed:   ${formatLocalTime(m.sealedAt)}`,
    `freeze:   ${formatDuration(m.freezeWindowMs)} (${m.agents.map((a) => `${a.host} ${formatDuration(a.freezeWindowMs)}`).join(', ')})`,
    `size:     ${formatBytes(m.totals.bytes)} in ${m.totals.files} files, ${formatBytes(m.totals.dataAddedBytes)} added to the repository`,
    `job:      ${m.jobId}${m.reason ? ` (${m.reason})` : ''}`,
    `models:   ${models.length > 0 ? models.join(', ') : 'none recorded'}`,
    `verified: ${summary.verification ? verifiedCell(summary.verification) : 'never (ffkeeper verify --site ' + summary.site + ' --snapshot ' + summary.id + ')'}`,
    '',
    renderTable(['COMPONENT', 'HOST', 'SNAPSHOT IDS', 'SIZE', 'FILES', 'CUT POINT'], m.components.map(componentRow)),
    ...(summary.verification ? ['', ...verificationLines(summary.verification)] : []),
  ];
}

/** Runs `snapshot show`: the summary and the manifest's components; `--json` prints the manifest itself. */
export async function runSnapshotShow(opts: SnapshotShowOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.id, 'snapshot id');
  if (opts.site !== undefined) checkId(opts.site, '--site');
  const { summary, manifestJson } = await deps.api.getSnapshot(opts.id, opts.site);
  let manifest: Manifest;
  try {
    manifest = decodeManifest(manifestJson, `snapshot '${opts.id}'`);
  } catch (err) {
    throw new InternalError(`the controller returned an unreadable manifest for snapshot '${opts.id}': ${(err as Error).message}`, { cause: err });
  }
  deps.io.out(opts.json ? toJson(manifest) : showLines(summary, manifest).join('\n'));
}

export interface SnapshotDeleteOptions {
  id: string;
  site: string;
  yes: boolean;
  json: boolean;
}

/** Runs `snapshot delete`: asks first on a terminal, refuses without `--yes` elsewhere. */
export async function runSnapshotDelete(opts: SnapshotDeleteOptions, deps: JobCommandDeps): Promise<void> {
  checkId(opts.id, 'snapshot id');
  checkId(opts.site, '--site');
  await confirmAction(deps.term, { yes: opts.yes, action: `delete snapshot '${opts.id}' of site '${opts.site}'` });
  const res = await deps.api.deleteSnapshot(opts.site, opts.id);
  if (opts.json) {
    deps.io.out(toJson({ site: opts.site, id: opts.id, repositorySnapshotsRemoved: res.repositorySnapshotsRemoved }));
    return;
  }
  deps.io.out(`deleted snapshot '${opts.id}' of site '${opts.site}' (${res.repositorySnapshotsRemoved} repository snapshots removed)`);
}
