/** Ports of the agent's sync parts; adapters in agent/adapters/sync and agent/transport implement them. */
import type { SyncLink, SyncPartStatus } from '../../../shared/sync/link.js';
import type { DossierMessage, FileEntry, RecordEntry, UploadRootName } from './messages.js';

/** A message read from a sync stream. */
export interface StreamMessage {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** Messages matching the filter after this one when it was delivered. */
  pending: number;
}

export interface Subscription {
  stop(): Promise<void>;
}

/** A file a slave asks the master for: one of those the master list's files message of `dossierId` names. */
export interface FileRequest {
  dossierId: number;
  root: UploadRootName;
  rel: string;
}

/** Part of a file's bytes from `offset`, and the file's whole size then. */
export interface FileChunk {
  data: Uint8Array;
  size: number;
}

/** Answers one request for a chunk: undefined when the file is not there (or not one the list names). */
export type FileServer = (request: FileRequest, offset: number, max: number) => Promise<FileChunk | undefined>;

/** Which way a slave's files agent gets a master's file bytes: a direct TLS channel between the files agents, or core NATS. */
export type FilesPath = 'direct' | 'nats';

/** Fetches files of one master list; many calls may be in flight at once (they share its connection). */
export interface FileFetcher {
  /**
   * A file, whole; undefined when the master says it is not there; `'too-large'` when it is bigger than
   * this way carries whole (the caller gets that file another way, the fetcher stays usable). Throws an
   * UnavailableError when the channel itself failed (closed, timed out), a PermissionDeniedError when the
   * master refused it: the caller may get the file another way.
   */
  fetch(request: FileRequest): Promise<Uint8Array | undefined | 'too-large'>;
  close(): Promise<void>;
}

/**
 * The direct channel between the files agents of a link's master and slave (bulk transfers; the
 * handshake goes over the master list's files subject, so only agents NATS lets ask can learn it).
 */
export interface DirectFiles {
  /** Serves the master list's files to the link's slave site (its agents' certificates) until stopped. */
  offer(link: SyncLink, serve: FileServer): Promise<Subscription>;
  /** A fetcher over the direct channel; throws (saying why) when the master offers none or it cannot be reached. */
  connect(link: SyncLink): Promise<FileFetcher>;
}

/** The sync stream of master sites, and the link records and status bucket (JetStream). */
export interface SyncBus {
  /** Creates the master site's stream when missing (last value per subject kept). */
  ensureStream(masterSite: string): Promise<void>;
  /** Publishes and waits for the stream's ack; returns the message's sequence. */
  publish(subject: string, data: Uint8Array): Promise<number>;
  /** The last message on `subject`, or undefined. */
  last(masterSite: string, subject: string): Promise<Uint8Array | undefined>;
  /**
   * Delivers the messages on `filter` with a sequence above `after`, in order, in batches of what is
   * available (at most `maxBatch`); a handler that throws is retried (after a pause) with the same batch.
   * Resumes after NATS outages from the last batch handled. `onFollowing` is called each time the
   * subscription (re)starts, with the number of messages on `filter` waiting for it then.
   */
  follow(
    masterSite: string,
    filter: string,
    after: number,
    handler: (batch: StreamMessage[]) => Promise<void>,
    options?: { maxBatch?: number; onFollowing?: (pending: number) => void },
  ): Subscription;
  /** How many messages on `filter` have a sequence above `after`. */
  pendingAfter(masterSite: string, filter: string, after: number): Promise<number>;
  /** The stream's first and last sequence (both 0 when it is empty). */
  bounds(masterSite: string): Promise<{ first: number; last: number }>;
  /**
   * Answers the slaves' requests for the files of a master list (`serve` gives each chunk); several
   * servers of one list share the requests (each is answered once).
   */
  serveFiles(masterSite: string, list: number, serve: FileServer): Subscription;
  /**
   * A file of a master list, whole, from the master's agent that serves them (in chunks the server's
   * payload limit allows); undefined when the master says it is not there. Fails when no agent answers.
   */
  fetchFile(masterSite: string, list: number, request: FileRequest): Promise<Uint8Array | undefined>;
  putStatus(status: SyncPartStatus): Promise<void>;
  /** Statuses the parts of a link reported. */
  statuses(linkId: string): Promise<SyncPartStatus[]>;
  removeStatus(link: string, role: string, host: string): Promise<void>;
  /** Calls `onLinks` with every link at start and whenever one changes. */
  watchLinks(onLinks: (links: SyncLink[]) => void): Subscription;
}

/** Changed dossiers of a master database (the capture log ffkeeper keeps there). */
export interface ChangeSource {
  /** Installs the capture (own schema, triggers); idempotent. */
  install(): Promise<void>;
  /** Queues every dossier of `list` once (the first sync), unless already done. Returns how many it queued. */
  seed(list: number): Promise<number>;
  /** Up to `limit` changes of finished transactions, oldest first. */
  take(limit: number): Promise<{ ids: number[]; dossierIds: number[] }>;
  /**
   * The current state of each given dossier in `list`: its rows when it is in the list, null when it
   * left the list (or was deleted) after it was published as present; absent when neither.
   */
  read(list: number, dossierIds: readonly number[]): Promise<Map<number, DossierMessage['state']>>;
  /** Remembers which dossiers are now published as present in `list` and which as gone. */
  noted(list: number, present: readonly number[], gone: readonly number[]): Promise<void>;
  /** Forgets handled changes. */
  ack(ids: readonly number[]): Promise<void>;
  /** Changes waiting (finished or not). */
  backlog(): Promise<number>;
  close(): Promise<void>;
}

/** The slave database: replica lists, guarded, with the applied position kept in the same transaction. */
export interface RowsTarget {
  /** Installs the guard and registers the link's list as a replica; idempotent. */
  prepare(link: SyncLink): Promise<void>;
  /** The stream sequence applied last (0: none). */
  position(link: SyncLink): Promise<number>;
  /** Whether the first sync already replaced the list's previous content. */
  replaced(link: SyncLink): Promise<boolean>;
  /** Removes from the list every dossier the link did not bring (the first sync), in one transaction. */
  replaceList(link: SyncLink): Promise<number>;
  /**
   * Applies one dossier's state and records `seq`, in one transaction; a `seq` at or below the recorded
   * position is skipped (applied already) unless `force` (undoing a local delete with the master's state).
   */
  apply(link: SyncLink, seq: number, message: DossierMessage, force?: boolean): Promise<void>;
  /** Applies many dossiers' states (the last of each dossier wins) and records `seq`, in one transaction; skipped when `seq` is applied already. */
  applyBatch(link: SyncLink, seq: number, messages: readonly DossierMessage[]): Promise<void>;
  /** Link ids registered in this database (replica lists). */
  registered(): Promise<string[]>;
  /** Dossiers of the list the link brought, by master id. */
  replicatedIds(link: SyncLink): Promise<number[]>;
  /** Marks whether the master is reachable (slave-side deletes are allowed only while it is not). */
  setMasterReachable(link: SyncLink, reachable: boolean): Promise<void>;
  /** Master ids of replicated dossiers deleted on the slave while the master was away. */
  deletedLocally(link: SyncLink): Promise<number[]>;
  /** Removes the guard of the link's list (unlink): content stays, writable. */
  release(linkId: string): Promise<void>;
  close(): Promise<void>;
}

/** Gallery records on this host's shards. */
export interface RecordsAccess {
  /** The records of these ids found on this host's shards (gallery `ffsec_face_objects`). */
  read(ids: readonly number[]): Promise<RecordEntry[]>;
  /** Makes the shards hold exactly each dossier's `records` (replacing what the link applied before), atomically per shard. */
  apply(linkId: string, dossiers: readonly { dossierId: number; records: readonly RecordEntry[] }[]): Promise<void>;
  close(): Promise<void>;
}

/** What `FilesAccess.write` did: wrote the file, or found the data hashing to something else. */
export type WriteOutcome = { written: true } | { written: false; sha256: string };

/** Upload files on this host. */
export interface FilesAccess {
  /** SHA-256 and size of a file; undefined when it does not exist. */
  digest(root: UploadRootName, rel: string): Promise<{ sha256: string; size: number } | undefined>;
  /** `max` bytes at most from `offset`, and the file's size; undefined when it does not exist. */
  readChunk(root: UploadRootName, rel: string, offset: number, max: number): Promise<FileChunk | undefined>;
  /** SHA-256 of a file; undefined when it does not exist. */
  hash(root: UploadRootName, rel: string): Promise<string | undefined>;
  /**
   * Writes a file atomically (temp + rename), creating directories, when `data` hashes to `sha256`;
   * else writes nothing and answers the data's own SHA-256. `data` is handed over: the caller does not
   * use it afterwards (its buffer may move to another thread).
   */
  write(root: UploadRootName, rel: string, data: Uint8Array, sha256: string): Promise<WriteOutcome>;
  remove(root: UploadRootName, rel: string): Promise<void>;
}

/**
 * Which replica files a link put on this host for each dossier (`root:path` keys), so that files a
 * dossier no longer names can be removed. Memory whose loss leaves only stale files behind: no fsync.
 */
export interface AppliedFiles {
  /** The files remembered for each of `dossiers` that has any. */
  get(link: string, dossiers: readonly number[]): Promise<Map<number, string[]>>;
  /** Remembers each given dossier's files, replacing what was remembered (an empty list forgets it). */
  set(link: string, files: ReadonlyMap<number, readonly string[]>): Promise<void>;
}

/** Where a part keeps its position when no database transaction can (publishers, files). */
export interface PositionStore {
  get(key: string): Promise<{ position: number; extra: Record<string, unknown> }>;
  set(key: string, position: number, extra?: Record<string, unknown>): Promise<void>;
}

export type { FileEntry };
