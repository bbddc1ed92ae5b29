/**
 * Master-side followers of the dossier messages: the agent holding the shards publishes each dossier's
 * gallery records, the agent holding the upload directories its files (each file's bytes once, by
 * SHA-256). Both read the current state when the dossier message arrives — the writer puts records
 * and files in place before it commits the row that names them.
 */
import { InternalError } from '../../../shared/errors.js';
import { syncBlobSubject, syncKindFilter, syncSubject } from '../../../shared/names.js';
import type { SyncLink } from '../../../shared/sync/link.js';
import type { FollowSpec } from './follow.js';
import { decodeMessage, encodeMessage, type DossierMessage, type FileEntry, type FilesMessage, type RecordsMessage, type UploadRootName } from './messages.js';
import type { PartContext } from './part.js';
import type { FilesAccess, PositionStore, RecordsAccess, StreamMessage } from './ports.js';

function dossierOf(m: StreamMessage): DossierMessage {
  const msg = decodeMessage(m.data, m.subject);
  if (msg.kind !== 'dossier') throw new InternalError(`expected a dossier message on '${m.subject}', got ${msg.kind}`);
  return msg;
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
    async handle(m) {
      const d = dossierOf(m);
      const found = await records.read(d.state?.faces.map((f) => f.recordId) ?? []);
      const out: RecordsMessage = { kind: 'records', dossierId: d.dossierId, capturedAt: d.capturedAt, records: found };
      await ctx.bus.publish(syncSubject(site, list, 'records', d.dossierId), encodeMessage(out));
      return d.capturedAt;
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
  return {
    link,
    role: 'publish-files',
    filter: syncKindFilter(site, list, 'dossier'),
    ...positionOf(positions, `publish-files.${link.id}`),
    async handle(m) {
      const d = dossierOf(m);
      const entries: FileEntry[] = [];
      const missing: FilesMessage['missing'] = [];
      for (const ref of faceFiles(d)) {
        const file = await files.read(ref.root, ref.rel);
        if (!file) {
          missing.push(ref);
          continue;
        }
        const blob = syncBlobSubject(site, file.sha256);
        if (!sent.has(file.sha256) && !(await ctx.bus.has(site, blob))) await ctx.bus.publish(blob, file.data);
        sent.add(file.sha256);
        entries.push({ ...ref, sha256: file.sha256, size: file.data.length });
      }
      const out: FilesMessage = { kind: 'files', dossierId: d.dossierId, capturedAt: d.capturedAt, files: entries, missing };
      await ctx.bus.publish(syncSubject(site, list, 'files', d.dossierId), encodeMessage(out));
      return d.capturedAt;
    },
  };
}
