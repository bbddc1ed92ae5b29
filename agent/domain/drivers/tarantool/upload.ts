/**
 * Upload of a shard's cut: wait for the checkpoint the cut started, find it among the checkpoints the
 * shard keeps (an automatic checkpoint may have run since: then it is no longer the newest, and it is
 * pinned by its index), pin it with `box.backup.start(n)`, check the pinned `.snap` is the cut's, back
 * the pinned files up, and `box.backup.stop()` — always, also on failure or cancellation.
 */
import { CancelledError, IllegalStateError, NotFoundError, TimeoutError } from '../../../../shared/errors.js';
import type { Logger } from '../../../../shared/logger.js';
import { snapshotTags } from '../../../../shared/tags.js';
import type { ComponentArtifact, CutPoint, UploadContext } from '../types.js';
import { formatVclock, snapSignature } from './checkpoint-files.js';
import type { CheckpointOutcome, GalleryStore, ShardAdmin, ShardInfo } from './ports.js';

export type TarantoolCut = Extract<CutPoint, { kind: 'tarantool' }>;

export interface UploadDeps {
  ref: string;
  admin: ShardAdmin;
  /** When given, the galleries' model names are recorded in the artifact. */
  galleries?: GalleryStore;
  checkpointTimeoutMs: number;
  /** Called with true while a pin is held, false once released (the driver guards stale-pin release). */
  onPinned?: (pinned: boolean) => void;
}

const PIN_ATTEMPTS = 3;

/** Stores the cut's checkpoint files in the repository; see the module comment. */
export async function uploadCheckpoint(deps: UploadDeps, cut: TarantoolCut, token: string, ctx: UploadContext): Promise<ComponentArtifact> {
  const { ref, admin } = deps;
  const log = ctx.logger.child({ component: ref, signature: cut.signature });
  ctx.onProgress?.({ component: ref, step: 'wait-checkpoint' });
  await waitCheckpoint(deps, cut, token, ctx.signal);
  const info = await admin.info();
  const { files, newer } = await pinCutCheckpoint(deps, cut, log);
  deps.onPinned?.(true);
  try {
    if (newer > 0) log.info({ newer }, `${newer} checkpoint(s) ran after the cut; pinned the cut's own checkpoint`);
    ctx.onProgress?.({ component: ref, step: 'backup-files', message: `${files.length} file(s) of checkpoint ${cut.signature}` });
    const summary = await ctx.repository.backupFiles(
      { paths: files, tags: snapshotTags(ctx.tags) },
      { ...(ctx.signal ? { signal: ctx.signal } : {}), onProgress: (event) => ctx.onProgress?.({ component: ref, step: 'backup-files', event }) },
    );
    if (!summary.complete) {
      const lost = [...summary.missingPaths, ...summary.itemErrors.map((e) => `${e.path} (${e.message})`)];
      throw new IllegalStateError(`${ref}: checkpoint files could not be read while pinned: ${lost.join(', ')}`);
    }
    return {
      component: ref,
      kind: 'tarantool',
      cut,
      snapshotIds: [summary.snapshotId],
      bytes: summary.totalBytesProcessed,
      files: summary.totalFilesProcessed,
      dataAddedBytes: summary.dataAddedBytes,
      details: { ...(await artifactDetails(deps, info, files, newer)), vclock: formatVclock(cut.vclock) },
    };
  } finally {
    await admin.unpin().then(
      () => deps.onPinned?.(false),
      (err: unknown) => log.error({ err }, `${ref}: box.backup.stop() failed; the pin is released at the next agent start`),
    );
  }
}

/** Polls the outcome of the cut's `box.snapshot()` until it ended (bounded, cancellable). */
async function waitCheckpoint(deps: UploadDeps, cut: TarantoolCut, token: string, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + deps.checkpointTimeoutMs;
  let outcome: CheckpointOutcome = { state: 'running' };
  while (outcome.state === 'running') {
    if (signal?.aborted) throw new CancelledError(`${deps.ref}: upload cancelled while waiting for checkpoint ${cut.signature}`);
    const left = deadline - Date.now();
    if (left <= 0) throw new TimeoutError(`${deps.ref}: checkpoint ${cut.signature} of the cut not written after ${deps.checkpointTimeoutMs} ms`);
    outcome = await deps.admin.checkpointOutcome(token, Math.min(left, 2000));
  }
  if (outcome.state === 'failed') {
    throw new IllegalStateError(`${deps.ref}: box.snapshot() started by the cut failed: ${outcome.message}`);
  }
  if (outcome.state === 'done' && outcome.signature !== cut.signature) {
    throw new IllegalStateError(
      `${deps.ref}: the cut's checkpoint has signature ${outcome.signature} but the shard was at ${cut.signature} when the cut was ` +
        `taken: ${outcome.signature - cut.signature} write(s) reached the shard during the cut (freeze not effective)`,
    );
  }
  // 'unknown': the shard restarted since the cut; the checkpoint is looked up by its signature.
}

/** Pins the checkpoint whose signature is the cut's; retries when another checkpoint ends in between. */
async function pinCutCheckpoint(deps: UploadDeps, cut: TarantoolCut, log: Logger): Promise<{ files: string[]; newer: number }> {
  for (let attempt = 1; ; attempt++) {
    const list = await deps.admin.checkpoints();
    const pos = list.checkpoints.findIndex((c) => c.signature === cut.signature);
    if (pos < 0) {
      const kept = list.checkpoints.map((c) => c.signature).join(', ') || 'none';
      throw new NotFoundError(
        `${deps.ref}: checkpoint ${cut.signature} of the cut is no longer kept by the shard (kept: ${kept}); ` +
          'newer checkpoints rotated it out (checkpoint_count) or the snapshot was never written',
      );
    }
    const newer = list.checkpoints.length - 1 - pos;
    const files = await deps.admin.pin(newer);
    const snaps = files.filter((f) => snapSignature(f) !== undefined);
    if (snaps.length === 1 && snapSignature(snaps[0] as string) === cut.signature) return { files, newer };
    await deps.admin.unpin();
    if (attempt >= PIN_ATTEMPTS) {
      throw new IllegalStateError(`${deps.ref}: pinned files ${snaps.join(', ') || '(no .snap)'} are not checkpoint ${cut.signature} of the cut`);
    }
    log.warn({ attempt, snaps }, 'a checkpoint ended while pinning; pinning again');
  }
}

async function artifactDetails(deps: UploadDeps, info: ShardInfo, files: string[], newer: number): Promise<Record<string, string | number | boolean>> {
  const snap = files.find((f) => snapSignature(f) !== undefined) ?? '';
  const details: Record<string, string | number | boolean> = {
    address: deps.admin.address,
    snapFile: snap,
    memtxDir: info.dirs.memtx,
    walDir: info.dirs.wal,
    vinylDir: info.dirs.vinyl,
    pinnedFiles: files.length,
    newerCheckpointsAtPin: newer,
  };
  if (deps.galleries) {
    for (const g of await deps.galleries.listGalleries()) {
      details[`model:${g.name}`] = g.model;
      details[`dim:${g.name}`] = g.dim;
    }
  }
  return details;
}
