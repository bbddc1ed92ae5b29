/**
 * The PostgreSQL upload: `pg_dump --snapshot=<cut> --format=plain` streamed straight into the
 * repository as `/<database>.sql` (no temp file), hashed (sha256) on the way. The snapshot is committed
 * only when pg_dump exited 0 (`sourceComplete`), so a failed dump never leaves a snapshot behind. The
 * transaction holding the exported snapshot is released as soon as pg_dump's first bytes arrive (pg_dump
 * writes nothing before it has imported the snapshot) or when it exits, whichever comes first. The
 * repository's side is the backup the cut's prepare started when there is one (restic has opened the
 * repository by then: its ~0.7 s of key derivation is not paid after the thaw), else one started now.
 */
import { pipeline } from 'node:stream';
import { InternalError } from '../../../../shared/errors.js';
import type { OpenedBackupStream, ProgressEvent } from '../../../../shared/repository/repository.js';
import { snapshotTags } from '../../../../shared/tags.js';
import type { ComponentArtifact, CutPoint, UploadContext } from '../types.js';
import type { DumpTool, SnapshotHold } from './ports.js';
import { once, Sha256Stream } from './streams.js';

/** What one upload needs. */
export interface UploadInput {
  ctx: UploadContext;
  dumpTool: DumpTool;
  hold: SnapshotHold;
  cut: Extract<CutPoint, { kind: 'postgres' }>;
  database: string;
  /** Facts recorded in the artifact's details (server and pg_dump versions). */
  details: Record<string, string | number | boolean>;
  /** The backup prepare opened for this cut (`dumpFilename`, the cut's tags); else one is started now. */
  opened?: OpenedBackupStream;
}

/** The dump's file name in the repository snapshot. */
export const dumpFilename = (database: string): string => `${database}.sql`;

/** Streams the dump into the repository and returns the artifact; the hold is released whatever happens. */
export async function uploadDump(input: UploadInput): Promise<ComponentArtifact> {
  const { ctx, cut, database } = input;
  const filename = dumpFilename(database);
  const file = `/${filename}`;
  const release = once(() => input.hold.release());
  const dump = input.dumpTool.start({ database, snapshotName: cut.snapshotName });
  const hasher = new Sha256Stream(() => void release());
  void dump.done.then(release, release);
  pipeline(dump.stdout, hasher, () => undefined); // a failure surfaces through dump.done or the repository
  try {
    const source = { stream: hasher, sourceComplete: () => dump.done };
    const progress = {
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onProgress: (event: ProgressEvent) => ctx.onProgress?.({ component: cut.component, step: 'upload', event }),
    };
    const summary = input.opened
      ? await input.opened.write(source, progress)
      : await ctx.repository.backupStream({ ...source, filename, tags: snapshotTags(ctx.tags) }, progress);
    const sha256 = hasher.sha256;
    if (sha256 === undefined) throw new InternalError(`dump of ${cut.component} was committed before its stream ended`);
    ctx.logger.info({ component: cut.component, snapshotId: summary.snapshotId, bytes: hasher.bytes }, 'dump uploaded');
    return {
      component: cut.component,
      kind: 'postgres',
      cut,
      snapshotIds: [summary.snapshotId],
      bytes: hasher.bytes,
      files: 1,
      dataAddedBytes: summary.dataAddedBytes,
      checksums: { [file]: sha256 },
      details: { ...input.details, database, file, format: 'plain', checksumAlgorithm: 'sha256' },
    };
  } finally {
    dump.kill(); // no-op when it already exited; otherwise nobody reads its output any more
    await dump.done.catch(() => undefined);
    await release();
  }
}
