/**
 * Where a PostgreSQL artifact's dump lives in the repository, and the checks around reading it: before
 * anything is touched (the snapshot and file exist, the first bytes — or all of them — decrypt and match)
 * and after a load (the stream ended with the recorded length and sha256).
 */
import { pipeline } from 'node:stream';
import { ValidationError } from '../../../../shared/errors.js';
import { SnapshotNotFoundError, SnapshotPathNotFoundError } from '../../../../shared/repository/errors.js';
import type { Repository } from '../../../../shared/repository/repository.js';
import { componentTag } from '../../../../shared/tags.js';
import type { ComponentArtifact } from '../types.js';
import { Sha256Stream } from './streams.js';

/** Where the dump lives in the repository, taken from the artifact. */
export interface DumpSource {
  snapshotId: string;
  file: string;
  sha256: string | undefined;
  bytes: number;
}

/** The artifact must be a PostgreSQL dump with one snapshot; its file defaults to `/<database>.sql`. */
export function dumpSourceOf(artifact: ComponentArtifact): DumpSource {
  const snapshotId = artifact.snapshotIds[0];
  if (artifact.kind !== 'postgres' || artifact.cut.kind !== 'postgres') {
    throw new ValidationError(`artifact of ${artifact.component} is a ${artifact.kind} artifact, not a PostgreSQL dump`, { field: 'artifact' });
  }
  if (snapshotId === undefined || artifact.snapshotIds.length !== 1) {
    throw new ValidationError(`artifact of ${artifact.component} must name exactly one repository snapshot`, { field: 'snapshotIds' });
  }
  const declared = artifact.details?.file;
  const database = artifact.details?.database;
  const file = typeof declared === 'string' ? declared : typeof database === 'string' ? `/${database}.sql` : undefined;
  if (file === undefined) {
    throw new ValidationError(`artifact of ${artifact.component} names no dump file (details.file)`, { field: 'details.file' });
  }
  return { snapshotId, file, sha256: artifact.checksums?.[file], bytes: artifact.bytes };
}

/** Reads the dump to prove it decrypts: the first chunk, or (full) all of it against its sha256. */
async function probeDump(repository: Repository, source: DumpSource, full: boolean, signal?: AbortSignal): Promise<string> {
  const stream = repository.dump({ snapshotId: source.snapshotId, path: source.file }, signal ? { signal } : {});
  const hasher = new Sha256Stream();
  await new Promise<void>((resolve, reject) => {
    pipeline(stream, hasher, (err) => {
      const stoppedOnPurpose = !full && hasher.bytes > 0; // `open`: we destroyed the stream after its first bytes
      if (err && !stoppedOnPurpose) reject(err);
      else resolve();
    });
    hasher.on('data', () => {
      if (!full) stream.destroy(); // the first bytes decrypted: enough for an `open` check
    });
  });
  if (!full) return `first ${hasher.bytes} bytes of ${source.file} read`;
  if (source.sha256 !== undefined && hasher.sha256 !== source.sha256) {
    throw new ValidationError(`dump ${source.file} of snapshot '${source.snapshotId}' does not match its recorded sha256 (got ${hasher.sha256})`, {
      field: 'checksums',
    });
  }
  return `${hasher.bytes} bytes of ${source.file} read, sha256 ${source.sha256 === undefined ? 'not recorded' : 'matches'}`;
}

/** Repository reachable, password right, snapshot and file present, data readable. */
export async function checkArtifact(repository: Repository, artifact: ComponentArtifact, source: DumpSource, options: { full: boolean; signal?: AbortSignal }): Promise<string> {
  const signal = options.signal ? { signal: options.signal } : {};
  await repository.describe(signal);
  const snapshots = await repository.listSnapshots({ tags: [componentTag(artifact.component)] }, signal);
  const snapshot = snapshots.find((s) => s.id === source.snapshotId || s.id.startsWith(source.snapshotId));
  if (snapshot === undefined) throw new SnapshotNotFoundError({ url: repository.displayUrl, snapshotId: source.snapshotId });
  if (!snapshot.paths.includes(source.file)) {
    throw new SnapshotPathNotFoundError({ url: repository.displayUrl, snapshotId: source.snapshotId, path: source.file });
  }
  return probeDump(repository, source, options.full, options.signal);
}

/** The loaded stream must have ended with the recorded length and sha256. */
export function checkLoaded(hasher: Sha256Stream, source: DumpSource): void {
  if (source.sha256 !== undefined && hasher.sha256 !== source.sha256) {
    throw new ValidationError(`dump ${source.file} of snapshot '${source.snapshotId}' read back with sha256 ${hasher.sha256 ?? '(incomplete)'}, recorded ${source.sha256}`, {
      field: 'checksums',
    });
  }
  if (hasher.bytes !== source.bytes) {
    throw new ValidationError(`dump ${source.file} of snapshot '${source.snapshotId}' read back with ${hasher.bytes} bytes, recorded ${source.bytes}`, { field: 'bytes' });
  }
}

