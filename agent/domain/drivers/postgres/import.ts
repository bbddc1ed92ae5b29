/**
 * A snapshot import of the main database: the export's plain dump (`<database>_postgres_backup.sql`, what
 * `pg_dump ffsecurity > ffsecurity_postgres_backup.sql` writes) streamed into the repository as
 * `/<database>.sql`, hashed on the way — the artifact a cut's upload makes, so restore, verify and export
 * take it like any other. The file is checked to be a plain pg_dump first; the live database is not touched.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import { pipeline } from 'node:stream';
import { InternalError, NotFoundError, ValidationError } from '../../../../shared/errors.js';
import { snapshotTags } from '../../../../shared/tags.js';
import { databaseDumpName } from '../findface-backup.js';
import type { ComponentArtifact, ImportContext } from '../types.js';
import { Sha256Stream } from './streams.js';

/** What every plain dump of pg_dump starts with (its header comment). */
const PLAIN_DUMP_MARK = 'PostgreSQL database dump';

/** Checks the file exists and is a plain pg_dump (not a custom-format one, not something else). */
async function checkDump(file: string, ref: string): Promise<void> {
  let head: string;
  try {
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(512);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      head = buf.subarray(0, bytesRead).toString('latin1');
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw new NotFoundError(`${ref}: the export has no readable ${path.basename(file)} in ${path.dirname(file)}: ${(err as Error).message}`, { cause: err });
  }
  if (head.startsWith('PGDMP')) throw new ValidationError(`${ref}: ${file} is a custom-format pg_dump archive; the import takes the plain dump (pg_dump ffsecurity > ${path.basename(file)})`, { field: 'fromDir' });
  if (!head.includes(PLAIN_DUMP_MARK)) throw new ValidationError(`${ref}: ${file} is not a plain pg_dump (no '${PLAIN_DUMP_MARK}' header)`, { field: 'fromDir' });
}

/** Stores the export's plain dump of `database` as this component's artifact. */
export async function importDump(ctx: ImportContext, ref: string, database: string): Promise<ComponentArtifact> {
  const name = databaseDumpName(database);
  const source = path.join(ctx.fromDir, name);
  await checkDump(source, ref);
  const filename = `${database}.sql`;
  const input = createReadStream(source);
  const hasher = new Sha256Stream();
  pipeline(input, hasher, () => undefined); // a read error surfaces through sourceComplete
  const summary = await ctx.repository.backupStream(
    { stream: hasher, filename, tags: snapshotTags(ctx.tags), sourceComplete: () => finished(input) },
    { ...(ctx.signal ? { signal: ctx.signal } : {}), onProgress: (event) => ctx.onProgress?.({ component: ref, step: 'import', event }) },
  );
  const sha256 = hasher.sha256;
  if (sha256 === undefined) throw new InternalError(`import of ${ref} was committed before its stream ended`);
  ctx.logger.info({ component: ref, snapshotId: summary.snapshotId, bytes: hasher.bytes, from: source }, 'dump imported');
  return {
    component: ref,
    kind: 'postgres',
    cut: { kind: 'postgres', component: ref, time: ctx.time, snapshotName: '', lsn: '' },
    snapshotIds: [summary.snapshotId],
    bytes: hasher.bytes,
    files: 1,
    dataAddedBytes: summary.dataAddedBytes,
    checksums: { [`/${filename}`]: sha256 },
    details: { database, file: `/${filename}`, format: 'plain', checksumAlgorithm: 'sha256', importedFrom: source },
  };
}
