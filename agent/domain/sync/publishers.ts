/**
 * Master-side followers of the dossier messages: the agent holding the shards publishes each dossier's
 * gallery records, the agent holding the upload directories which files it names, with their SHA-256
 * (the slaves' files agents ask that agent for the bytes: `serveFiles`). Both read the current state
 * when the dossier message arrives — the writer puts records and files in place before it commits the
 * row that names them. A batch is read together (one request
 * per shard; files read in parallel) and published together.
 */
import { mapLimit } from '../../../shared/concurrency.js';
import { InternalError } from '../../../shared/errors.js';
import { syncKindFilter, syncSubject } from '../../../shared/names.js';
import type { SyncLink } from '../../../shared/sync/link.js';
import type { FollowSpec } from './follow.js';
import { decodeMessage, encodeMessage, type DossierMessage, type FileEntry, type FilesMessage, type RecordEntry, type RecordsMessage, type UploadRootName } from './messages.js';
import type { PartContext } from './part.js';
import type { FileRequest, FileServer, FilesAccess, PositionStore, RecordsAccess, StreamMessage, Subscription } from './ports.js';

/** Files read (to hash them) at once. */
const FILE_CONCURRENCY = 256;
/** Dossiers whose named files are remembered (beyond that the stream is asked). */
const NAMED_MEMORY = 100_000;

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
      const wanted = dossiers.flatMap((d) => d.state?.faces.map((f) => f.recordId) ?? []);
      const found = await records.read(wanted);
      const byId = new Map<number, RecordEntry>(found.map((r) => [r.id, r]));
      // The writer puts a record in place before it commits the row naming it: a record missing now is a
      // face deleted since its dossier's message (a later message publishes the dossier again), or shards
      // that do not hold the master's galleries. Either way the slave gets the dossier without it: said.
      const missing = wanted.filter((id) => !byId.has(id));
      if (missing.length > 0) {
        ctx.logger.warn(
          { link: link.id, missing: missing.length, of: wanted.length, sample: missing.slice(0, 5) },
          "sync: records the master's rows name are not on its shards; their dossiers are published without them",
        );
      }
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

/**
 * Which files each dossier's last published files message names: what the list's file server hands out
 * (a slave's request for anything else is answered "not there"). Filled as messages are published, and
 * from the stream for dossiers published before this part started (or by another link's part).
 */
class NamedFiles {
  private readonly byDossier = new Map<number, Set<string>>();

  constructor(
    private readonly ctx: PartContext,
    private readonly site: string,
    private readonly list: number,
  ) {}

  note(msg: FilesMessage): void {
    this.byDossier.delete(msg.dossierId);
    if (this.byDossier.size >= NAMED_MEMORY) this.byDossier.delete(this.byDossier.keys().next().value as number);
    this.byDossier.set(msg.dossierId, new Set(msg.files.map((f) => `${f.root}:${f.rel}`)));
  }

  async has(req: FileRequest): Promise<boolean> {
    const key = `${req.root}:${req.rel}`;
    if (this.byDossier.get(req.dossierId)?.has(key)) return true;
    const data = await this.ctx.bus.last(this.site, syncSubject(this.site, this.list, 'files', req.dossierId));
    if (!data) return false;
    const msg = decodeMessage(data, `files of dossier ${req.dossierId}`);
    if (msg.kind !== 'files') return false;
    this.note(msg);
    return this.byDossier.get(req.dossierId)?.has(key) ?? false;
  }
}

export function publishFilesSpec(ctx: PartContext, link: SyncLink, files: FilesAccess, positions: PositionStore): FollowSpec {
  const { site, list } = link.from;
  const named = new NamedFiles(ctx, site, list);
  let server: Subscription | undefined;
  let direct: Subscription | undefined;
  // Only files the dossier's last files message names; the bytes as the file is now (the message says which content).
  const serve: FileServer = async (req, offset, max) => ((await named.has(req)) ? files.readChunk(req.root, req.rel, offset, max) : undefined);
  const readOne = async (ref: { root: UploadRootName; rel: string }): Promise<FileEntry | undefined> => {
    const file = await files.digest(ref.root, ref.rel);
    return file ? { ...ref, sha256: file.sha256, size: file.size } : undefined;
  };
  return {
    link,
    role: 'publish-files',
    filter: syncKindFilter(site, list, 'dossier'),
    ...positionOf(positions, `publish-files.${link.id}`),
    // The slaves ask for the bytes: over NATS, and over the direct channel to the link's slave when this agent has one.
    async before() {
      server ??= ctx.bus.serveFiles(site, list, serve);
      direct ??= await ctx.direct?.offer(link, serve);
    },
    async after() {
      await direct?.stop();
      await server?.stop();
    },
    async handle(batch) {
      const dossiers = latestDossiers(batch);
      const refs = dossiers.map(faceFiles);
      const entries = await mapLimit(refs.flat(), FILE_CONCURRENCY, readOne);
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
          named.note(out); // before a slave can ask for them
          return ctx.bus.publish(syncSubject(site, list, 'files', d.dossierId), encodeMessage(out));
        }),
      );
      return dossiers.at(-1)?.capturedAt;
    },
  };
}
