/**
 * Master-side followers of the dossier messages: the agent holding the shards publishes each dossier's
 * gallery records, the agent holding the upload directories its files (each file's bytes once, by
 * SHA-256). Both read the current state when the dossier message arrives — the writer puts records
 * and files in place before it commits the row that names them. A batch is read together (one request
 * per shard; files read in parallel) and published together.
 */
import { mapLimit } from '../../../shared/concurrency.js';
import { InternalError } from '../../../shared/errors.js';
import { syncBlobSubject, syncKindFilter, syncSubject } from '../../../shared/names.js';
import type { SyncLink } from '../../../shared/sync/link.js';
import type { FollowSpec } from './follow.js';
import { decodeMessage, encodeMessage, type DossierMessage, type FileEntry, type FilesMessage, type RecordEntry, type RecordsMessage, type UploadRootName } from './messages.js';
import type { PartContext } from './part.js';
import type { FilesAccess, PositionStore, RecordsAccess, StreamMessage } from './ports.js';

/** Files read (and blobs published) at once. */
const FILE_CONCURRENCY = 32;
/** Blobs remembered as sent (beyond that the stream is asked). */
const SENT_MEMORY = 100_000;

/** The batch's dossier messages, the last of each dossier only (an earlier one is superseded). */
export function latestDossiers(batch: readonly StreamMessage[]): DossierMessage[] {
  const out = new Map<number, DossierMessage>();
  for (const m of batch) {
    const msg = decodeMessage(m.data, m.subject);
    if (msg.kind !== 'dossier') throw new InternalError(`expected a dossier message on '${m.subject}', got ${msg.kind}`);
    out.delete(msg.dossierId);
    out.set(msg.dossierId, msg);
  }
  return [...out.values()];
}


function positionOf(positions: PositionStore, key: string): Pick<FollowSpec, 'position' | 'save'> {
  return {
    position: async () => (await positions.get(key)).position,
    save: (p) => positions.set(key, p),
  };
}

export function publishRecordsSpec(ctx: PartContext, link: SyncLink, records: RecordsAccess, positions: PositionStore): FollowSpec {
  const { site, list } = link.from;
  return {
    link,
    role: 'publish-records',
    filter: syncKindFilter(site, list, 'dossier'),
    ...positionOf(positions, `publish-records.${link.id}`),
    async handle(batch) {
      const dossiers = latestDossiers(batch);
      const found = await records.read(dossiers.flatMap((d) => d.state?.faces.map((f) => f.recordId) ?? []));
      const byId = new Map<number, RecordEntry>(found.map((r) => [r.id, r]));
      await Promise.all(
        dossiers.map((d) => {
          const recs = (d.state?.faces ?? []).flatMap((f) => byId.get(f.recordId) ?? []);
          const out: RecordsMessage = { kind: 'records', dossierId: d.dossierId, capturedAt: d.capturedAt, records: recs };
          return ctx.bus.publish(syncSubject(site, list, 'records', d.dossierId), encodeMessage(out));
        }),
      );
      return dossiers.at(-1)?.capturedAt;
    },
  };
}

/** Every file a dossier's faces name: photo and thumbnail in uploads, the normalized crop in ffupload. */
function faceFiles(d: DossierMessage): { root: UploadRootName; rel: string }[] {
  return (d.state?.faces ?? []).flatMap((f) => [
    { root: 'uploads' as const, rel: f.sourcePhoto },
    { root: 'uploads' as const, rel: f.thumbnail },
    { root: 'ffupload' as const, rel: f.normalized },
  ]);
}

export function publishFilesSpec(ctx: PartContext, link: SyncLink, files: FilesAccess, positions: PositionStore): FollowSpec {
  const { site, list } = link.from;
  const sent = new Set<string>();
  const publishOne = async (ref: { root: UploadRootName; rel: string }): Promise<FileEntry | undefined> => {
    const file = await files.read(ref.root, ref.rel);
    if (!file) return undefined;
    // Sent once while this part runs; after a restart a changed dossier's photos go again (the stream
    // keeps one message per blob subject, so that costs a write, never a second copy).
    if (!sent.has(file.sha256)) await ctx.bus.publish(syncBlobSubject(site, file.sha256), file.data);
    if (sent.size >= SENT_MEMORY) sent.clear(); // bounded: forgetting only costs a lookup in the stream
    sent.add(file.sha256);
    return { ...ref, sha256: file.sha256, size: file.data.length };
  };
  return {
    link,
    role: 'publish-files',
    filter: syncKindFilter(site, list, 'dossier'),
    ...positionOf(positions, `publish-files.${link.id}`),
    async handle(batch) {
      const dossiers = latestDossiers(batch);
      const refs = dossiers.map(faceFiles);
      const entries = await mapLimit(refs.flat(), FILE_CONCURRENCY, publishOne);
      let i = 0;
      await Promise.all(
        dossiers.map((d, k) => {
          const mine = refs[k] ?? [];
          const found = entries.slice(i, i + mine.length);
          i += mine.length;
          const out: FilesMessage = {
            kind: 'files',
            dossierId: d.dossierId,
            capturedAt: d.capturedAt,
            files: found.filter((f): f is FileEntry => f !== undefined),
            missing: mine.filter((_, j) => found[j] === undefined),
          };
          return ctx.bus.publish(syncSubject(site, list, 'files', d.dossierId), encodeMessage(out));
        }),
      );
      return dossiers.at(-1)?.capturedAt;
    },
  };
}
