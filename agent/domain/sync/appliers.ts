/**
 * Slave-side followers: rows (the agent holding PostgreSQL; position in the same transaction as the
 * rows), gallery records (the agent holding the shards; what the link put on each shard is kept on the
 * shard in the same box.atomic) and files (the agent holding the upload directories; bytes checked
 * against their SHA-256 before they are written). Ids become the link's replica ids and paths the
 * link's replica paths (shared/sync/link.ts), so every host of the slave agrees without asking.
 */
import { InternalError, ValidationError } from '../../../shared/errors.js';
import { syncKindFilter, syncSubject } from '../../../shared/names.js';
import { replicaId, replicaPath, SYNC_STATUS_STALE_AFTER_MS, type SyncLink } from '../../../shared/sync/link.js';
import type { FollowSpec } from './follow.js';
import { decodeMessage, type FileEntry, type FilesMessage, type RecordEntry, type SyncMessage, type UploadRootName } from './messages.js';
import { mapLimit } from '../../../shared/concurrency.js';
import { FileChannel } from './file-channel.js';
import { latestDossiers } from './publishers.js';
import type { PartContext } from './part.js';
import type { AppliedFiles, FilesAccess, PositionStore, RecordsAccess, RowsTarget, StreamMessage } from './ports.js';

/** Files fetched and written at once by the files part. */
const FILE_CONCURRENCY = 256;
/** Stale files removed at once. */
const STALE_CONCURRENCY = 16;

/** The batch's messages of `kind`, the last of each dossier only (an earlier one is superseded). */
function latest<K extends 'records' | 'files'>(batch: readonly StreamMessage[], kind: K): Extract<SyncMessage, { kind: K }>[] {
  const out = new Map<number, Extract<SyncMessage, { kind: K }>>();
  for (const m of batch) {
    const msg = decodeMessage(m.data, m.subject);
    if (msg.kind !== kind) throw new InternalError(`expected a ${kind} message on '${m.subject}', got ${msg.kind}`);
    out.delete(msg.dossierId);
    out.set(msg.dossierId, msg as Extract<SyncMessage, { kind: K }>);
  }
  return [...out.values()];
}

export function applyRowsSpec(ctx: PartContext, link: SyncLink, target: RowsTarget): FollowSpec {
  return {
    link,
    role: 'apply-rows',
    filter: syncKindFilter(link.from.site, link.from.list, 'dossier'),
    position: () => target.position(link),
    async before() {
      await target.prepare(link);
      if (!(await target.replaced(link))) {
        const n = await target.replaceList(link);
        ctx.logger.info({ link: link.id, removed: n }, 'sync: the first sync replaced the slave list (its own dossiers left the list; they stay on the site)');
      }
    },
    async handle(batch) {
      const dossiers = latestDossiers(batch);
      await target.applyBatch(link, batch.at(-1)?.seq ?? 0, dossiers);
      return dossiers.at(-1)?.capturedAt;
    },
  };
}

/**
 * Watches whether the master's capture is reporting; while it is not, the slave may delete replicated
 * dossiers (FindFace's rule), and when it reports again those deletes are undone with the master's state.
 */
export class MasterWatch {
  private timer: NodeJS.Timeout | undefined;
  private reachable: boolean | undefined;

  constructor(
    private readonly ctx: PartContext,
    private readonly link: SyncLink,
    private readonly target: RowsTarget,
    private readonly intervalMs = 2000,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.check().catch((err: unknown) => this.ctx.logger.warn({ err, link: this.link.id }, 'sync: master watch failed')), this.intervalMs);
    this.timer.unref();
  }

  async check(): Promise<void> {
    const now = (this.ctx.now ? this.ctx.now() : new Date()).getTime();
    const capture = (await this.ctx.bus.statuses(this.link.id)).find((s) => s.role === 'capture');
    const fresh = capture !== undefined && now - Date.parse(capture.updatedAt) < SYNC_STATUS_STALE_AFTER_MS;
    if (fresh === this.reachable) return;
    await this.target.setMasterReachable(this.link, fresh);
    if (this.reachable !== undefined || !fresh) {
      this.ctx.logger.warn({ link: this.link.id, reachable: fresh }, fresh ? 'sync: the master is back' : 'sync: the master is unreachable; deletes on the slave are allowed until it returns');
    }
    this.reachable = fresh;
    if (fresh) await this.undoLocalDeletes();
  }

  private async undoLocalDeletes(): Promise<void> {
    const ids = await this.target.deletedLocally(this.link);
    for (const id of ids) {
      const data = await this.ctx.bus.last(this.link.from.site, syncSubject(this.link.from.site, this.link.from.list, 'dossier', id));
      if (!data) continue;
      const msg = decodeMessage(data, `dossier ${id}`);
      if (msg.kind === 'dossier') await this.target.apply(this.link, 0, msg, true);
    }
    if (ids.length > 0) this.ctx.logger.warn({ link: this.link.id, dossiers: ids.length }, 'sync: undid deletes made on the slave while the master was away');
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

function replicaRecord(link: SyncLink, r: RecordEntry): RecordEntry {
  const meta: Record<string, unknown> = { ...r.meta };
  for (const key of ['dossier_id', 'face_id']) {
    const v = meta[key];
    if (typeof v === 'number') meta[key] = replicaId(link.number, v);
  }
  return { ...r, id: replicaId(link.number, r.id), norm: replicaPath(link.from.site, r.norm), meta };
}

export function applyRecordsSpec(ctx: PartContext, link: SyncLink, records: RecordsAccess, positions: PositionStore): FollowSpec {
  const key = `apply-records.${link.id}`;
  return {
    link,
    role: 'apply-records',
    filter: syncKindFilter(link.from.site, link.from.list, 'records'),
    position: async () => (await positions.get(key)).position,
    save: (p) => positions.set(key, p),
    async handle(batch) {
      const msgs = latest(batch, 'records');
      await records.apply(link.id, msgs.map((msg) => ({ dossierId: replicaId(link.number, msg.dossierId), records: msg.records.map((r) => replicaRecord(link, r)) })));
      return msgs.at(-1)?.capturedAt;
    },
  };
}

export function applyFilesSpec(ctx: PartContext, link: SyncLink, files: FilesAccess, positions: PositionStore, applied: AppliedFiles): FollowSpec {
  const key = `apply-files.${link.id}`;
  const site = link.from.site;
  const channel = new FileChannel(ctx, link);
  return {
    link,
    role: 'apply-files',
    filter: syncKindFilter(site, link.from.list, 'files'),
    position: async () => (await positions.get(key)).position,
    save: (p) => positions.set(key, p),
    async handle(batch) {
      const msgs = latest(batch, 'files');
      // Every file of the batch at once (bounded), then the dossiers' stale files and memory.
      const wanted = msgs.flatMap((msg) => msg.files.map((f) => ({ msg, f })));
      await mapLimit(wanted, FILE_CONCURRENCY, ({ msg, f }) => applyFile(ctx, link, files, channel, msg.dossierId, f));
      await dropStaleFiles(link, files, applied, msgs);
      return msgs.at(-1)?.capturedAt;
    },
    report: () => (channel.path ? { filesPath: channel.path } : {}),
    after: () => channel.close(),
  };
}

/**
 * Puts one file at its replica path unless it is there with the right content. The bytes come from the
 * master's files agent as the file is now, and are written only when they hash to what the message
 * says. Content other than the message's means the file changed since: a second read that agrees with
 * the first is taken (the dossier's later message names it), one that does not is retried. A file the
 * master no longer has is left to the dossier's later message.
 */
async function applyFile(ctx: PartContext, link: SyncLink, files: FilesAccess, channel: FileChannel, dossierId: number, f: FileEntry): Promise<void> {
  const rel = replicaPath(link.from.site, f.rel);
  if ((await files.hash(f.root, rel)) === f.sha256) return;
  const request = { dossierId, root: f.root, rel: f.rel };
  const gone = (): void => ctx.logger.info({ link: link.id, dossier: dossierId, file: `${f.root}/${f.rel}` }, "sync: file no longer on the master; its dossier's later change brings the state");
  const first = await channel.fetch(request);
  if (!first) return gone();
  const put = await files.write(f.root, rel, first, f.sha256);
  if (put.written) return;
  const again = await channel.fetch(request);
  const taken = again && (await files.write(f.root, rel, again, put.sha256));
  if (!taken?.written) throw new ValidationError(`file ${f.root}/${f.rel} of dossier ${dossierId} changed on the master while it was read; reading it again`);
  ctx.logger.info({ link: link.id, dossier: dossierId, file: `${f.root}/${f.rel}` }, 'sync: file changed on the master since its dossier was published; took its current content');
}

/** Removes the files the link put there for the batch's dossiers before and that they no longer name; remembers the current ones. */
async function dropStaleFiles(link: SyncLink, files: FilesAccess, applied: AppliedFiles, msgs: readonly FilesMessage[]): Promise<void> {
  const before = await applied.get(link.id, msgs.map((m) => m.dossierId));
  const current = new Map<number, string[]>();
  for (const msg of msgs) current.set(msg.dossierId, [...new Set(msg.files.map((f) => `${f.root}:${replicaPath(link.from.site, f.rel)}`))]);
  // A file another dossier of the batch names now (a face moved between dossiers) stays.
  const named = new Set([...current.values()].flat());
  const stale = msgs.flatMap((msg) => (before.get(msg.dossierId) ?? []).filter((k) => !named.has(k)));
  await mapLimit(stale, STALE_CONCURRENCY, async (k) => {
    const colon = k.indexOf(':');
    await files.remove(k.slice(0, colon) as UploadRootName, k.slice(colon + 1));
  });
  await applied.set(link.id, current);
}
