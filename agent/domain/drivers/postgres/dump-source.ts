/**
 * Where a PostgreSQL artifact's dump lives in the repository, and the checks around reading it: before
 * anything is touched (the snapshot and file exist, the first bytes — or all of them — decrypt and match;
 * the first bytes from the very stream the load then reads) and after a load (the stream ended with the
 * recorded length and sha256).
 */
import { pipeline, Readable } from 'node:stream';
import { ValidationError } from '../../../../shared/errors.js';
import type { Repository } from '../../../../shared/repository/repository.js';
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

/** How much of the dump an `open` check reads before anything is touched. */
export const PROBE_BYTES = 64 * 1024;

/** Reads the first `limit` bytes of `stream` (all of a shorter one) and leaves the rest in it, paused. */
function readHead(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  return new Promise((resolve, reject) => {
    const stop = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error): void => {
      stop();
      reject(err);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size < limit) return;
      stream.pause();
      onEnd();
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

async function* continued(head: Buffer, rest: Readable): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  yield* rest;
}

/** The dump's stream, opened by a check that read its first bytes: the load reads it from its first byte. */
export interface OpenedDump {
  stream: Readable;
  detail: string;
}

/**
 * Opens the dump and reads its first `PROBE_BYTES`: the repository is reachable, the password right, the
 * snapshot and the file exist and the data decrypts (or restic's typed error says which not). Those bytes
 * stay at the front of the returned stream, so the load that follows needs no repository run of its own.
 * Destroy the stream when no load follows: that stops the repository's run.
 */
async function openDump(repository: Repository, source: DumpSource, signal?: AbortSignal): Promise<OpenedDump> {
  const rest = repository.dump({ snapshotId: source.snapshotId, path: source.file }, signal ? { signal } : {});
  let head: Buffer;
  try {
    head = await readHead(rest, PROBE_BYTES);
  } catch (err) {
    rest.destroy();
    throw err;
  }
  rest.on('error', () => undefined); // a failure while nobody reads yet reaches the load through `stream`
  const stream = Readable.from(continued(head, rest), { objectMode: false });
  stream.once('close', () => rest.destroy());
  return { stream, detail: `first ${head.length} bytes of ${source.file} read` };
}

/** Reads the whole dump against its recorded sha256 (a `full` check; the load reads it again). */
async function verifyDump(repository: Repository, source: DumpSource, signal?: AbortSignal): Promise<string> {
  const stream = repository.dump({ snapshotId: source.snapshotId, path: source.file }, signal ? { signal } : {});
  const hasher = new Sha256Stream();
  await new Promise<void>((resolve, reject) => {
    pipeline(stream, hasher, (err) => (err ? reject(err) : resolve()));
    hasher.resume();
  });
  if (source.sha256 !== undefined && hasher.sha256 !== source.sha256) {
    throw new ValidationError(`dump ${source.file} of snapshot '${source.snapshotId}' does not match its recorded sha256 (got ${hasher.sha256})`, {
      field: 'checksums',
    });
  }
  return `${hasher.bytes} bytes of ${source.file} read, sha256 ${source.sha256 === undefined ? 'not recorded' : 'matches'}`;
}

/** What the check of an artifact found: the step's detail and, after an `open` check, the dump's stream for the load. */
export interface CheckedArtifact {
  detail: string;
  /** The dump from its first byte (destroy it when no load follows); absent after a `full` check. */
  stream?: Readable;
}

/**
 * Repository reachable, password right, snapshot and file present, data readable: `open` reads the first
 * 64 KB of the stream the load then continues (one repository run for check and load); `full` reads and
 * hashes the whole dump first.
 */
export async function checkArtifact(repository: Repository, source: DumpSource, options: { full: boolean; signal?: AbortSignal }): Promise<CheckedArtifact> {
  if (options.full) return { detail: await verifyDump(repository, source, options.signal) };
  return openDump(repository, source, options.signal);
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

