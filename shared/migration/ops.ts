/**
 * The steps of a model migration job (issue 17) as typed agent operations over the agent's `Migration`
 * call: the controller names what to do (a shard to copy, a model to switch to, a unit to start), never a
 * command line; each agent does it on its host, checks it (a config edit reads back, a shard answers) and
 * says what it found. Every operation can be repeated: a resumed job asks again and gets the same state.
 *
 * A new shard is always named by its old shard and the port offset (`shard-001` + 10 → `shard-011`), so an
 * agent only ever touches shards derived from its own.
 */
import { z } from 'zod';

const shardName = z.string().min(1).max(200);
const portOffset = z.number().int().min(1).max(30_000);
const model = z.string().min(1).max(300);
/** A migration's id: names its progress in the new shards. */
const migrationId = z.string().regex(/^[\w.-]{1,80}$/);
/** A path inside an upload root, as findface-security's tables store it. */
const relPath = z.string().min(1).max(1000);

/** The face galleries whose faces have source photos in findface-security's tables (dossier faces, events). */
export const FACE_SOURCE_GALLERIES = ['ffsec_face_objects', 'ffsec_face_events'] as const;
export type FaceSourceGallery = (typeof FACE_SOURCE_GALLERIES)[number];

const faceSourceSchema = z.object({ gallery: z.enum(FACE_SOURCE_GALLERIES), id: z.string().regex(/^\d{1,20}$/), source: relPath, normalized: relPath }).strict();
/** A face's source photo (in the uploads root) and its normalized image (in the ffupload root). */
export type FaceSource = z.infer<typeof faceSourceSchema>;

export const migrationOpSchemas = [
  /** Copies the shard's instance file to its new sibling (ports and dirs shifted), links it where the old one is, creates its dirs. */
  z.object({ op: z.literal('create-shard'), shard: shardName, portOffset }).strict(),
  /**
   * Sets the extraction-api's face model (the file must now name `from` or already `to`), and with
   * `toDetector` its face detector the same way (from `fromDetector`).
   */
  z.object({ op: z.literal('set-extraction-model'), from: model, to: model, fromDetector: model.optional(), toDetector: model.optional() }).strict(),
  /** Points sf-api's shard list from `from` to `to` (the file must now list `from` or already `to`). */
  z.object({ op: z.literal('set-sf-api-shards'), from: z.array(z.string().url()).min(1), to: z.array(z.string().url()).min(1) }).strict(),
  /** `findface-security make_tnt_schema`'s output (the agent that runs findface-security). */
  z.object({ op: z.literal('make-tnt-schema') }).strict(),
  /** Writes tnt_schema.lua where this agent's shards' instance files load it. */
  z.object({ op: z.literal('write-tnt-schema'), text: z.string().min(1).max(1_000_000) }).strict(),
  /** `findface-security migrate`, `create_groups`, `create_default_user` (reference 001, step 9). */
  z.object({ op: z.literal('security-setup') }).strict(),
  /** A unit of this agent's: a shard's (old, or new with `portOffset`), sf-api's, the extraction-api's, findface-security's. */
  z
    .object({
      op: z.literal('unit'),
      action: z.enum(['start', 'stop', 'restart', 'enable', 'disable', 'status']),
      target: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('shard'), shard: shardName, portOffset: portOffset.optional() }).strict(),
        z.object({ kind: z.enum(['sf-api', 'extraction-api', 'findface-security']) }).strict(),
      ]),
    })
    .strict(),
  /** The galleries a shard (old, or new with `portOffset`) holds: it answers on its port. */
  z.object({ op: z.literal('shard-galleries'), shard: shardName, portOffset: portOffset.optional() }).strict(),
  /**
   * One batch of a gallery: the next `limit` records after the cursor the new shard keeps for this
   * migration, each face re-extracted from its normalized image (read from `normalizedUrl`) with the
   * extraction-api, `workers` calls of `batchSize` images at a time, written to the new shard with the
   * cursor in one transaction. Records of other kinds are copied as they are.
   */
  z
    .object({
      op: z.literal('reextract'),
      migration: migrationId,
      shard: shardName,
      portOffset,
      gallery: z.string().min(1).max(200),
      toModel: model,
      limit: z.number().int().min(1).max(10_000),
      extractionApiUrl: z.string().url(),
      normalizedUrl: z.string().url(),
      batchSize: z.number().int().min(1).max(256),
      workers: z.number().int().min(1).max(64),
      /**
       * A rollback's carry-back: from the new shard into the old one (`toModel` the old model), starting
       * after the old shard's last record (what was written to the new shard after the switch).
       */
      reverse: z.boolean().default(false),
    })
    .strict(),
  /**
   * From now on this agent serves the new shards in place of the old (`undo`: the old again): written to
   * its cache directory (its config file keeps naming the old shards) and applied by restarting itself.
   */
  z.object({ op: z.literal('adopt'), shards: z.array(shardName).min(1), portOffset, undo: z.boolean().default(false) }).strict(),
  /** Removes from the new shard's gallery the records its old shard no longer holds (deleted after they were re-extracted). */
  z.object({ op: z.literal('reconcile'), shard: shardName, portOffset, gallery: z.string().min(1).max(200) }).strict(),
  /**
   * `migrate finish`: removes an old shard this agent no longer serves (adopted away, its unit stopped): its
   * instance file and link, and the directories that carry its name.
   */
  z.object({ op: z.literal('remove-shard'), shard: shardName }).strict(),
  /**
   * The agent holding findface-security's database: the next `limit` faces of a gallery after record id
   * `after` ('' from the start), each with its source photo and normalized image, in record id order.
   */
  z.object({ op: z.literal('face-sources'), gallery: z.enum(FACE_SOURCE_GALLERIES), after: z.string().regex(/^\d{0,20}$/), limit: z.number().int().min(1).max(10_000) }).strict(),
  /**
   * The agent holding the upload directories (reference 003, a detector change): each face's normalized
   * image made again from its source photo by the extraction-api's face detector, `workers` calls of
   * `batchSize` photos at a time. The image it replaces is kept in `<ffupload>/.ffk-migration-<id>/` (once:
   * asked again, the first one stays), for a rollback.
   */
  z.object({ op: z.literal('regenerate'), migration: migrationId, faces: z.array(faceSourceSchema).max(10_000), extractionApiUrl: z.string().url(), batchSize: z.number().int().min(1).max(256), workers: z.number().int().min(1).max(64) }).strict(),
  /** The normalized images a migration's regeneration kept: put back in place (a rollback) or removed (`migrate finish`). */
  z.object({ op: z.literal('normalized-aside'), migration: migrationId, action: z.enum(['restore', 'remove']) }).strict(),
  /** What the new shard keeps of this migration: each gallery's cursor, records written, failed faces. */
  z.object({ op: z.literal('migration-progress'), migration: migrationId, shard: shardName, portOffset }).strict(),
] as const;

export interface CreatedShard {
  from: string;
  name: string;
  unit: string;
  instanceFile: string;
  /** The link in instances.enabled/, when the old shard is enabled through one. */
  enabledLink?: string;
  dirs: string[];
  listen: { host: string; port: number };
  http?: { host: string; port: number };
  /** False when it already existed as this job makes it (a resumed job). */
  created: boolean;
}

export interface ConfigEdit {
  path: string;
  /** False when the file already read as wanted. */
  changed: boolean;
  diff: string;
}

export interface FailedFace {
  gallery: string;
  id: string;
  reason: string;
}

export interface ReextractBatch {
  gallery: string;
  /** The new shard's cursor after this batch ('' before the first record). */
  cursor: string;
  /** Records read from the old shard, written to the new one, failed; images sent to the extraction-api. */
  read: number;
  written: number;
  failed: FailedFace[];
  extracted: number;
  /** Every record of the gallery is past the cursor. */
  done: boolean;
  ms: number;
}

export interface GalleryProgress {
  cursor: string;
  written: number;
  failed: number;
  done: boolean;
}

export interface MigrationProgress {
  shard: string;
  galleries: Record<string, GalleryProgress>;
  /** Failed faces recorded (at most the first 1,000). */
  failed: FailedFace[];
}

export interface ShardGalleries {
  shard: string;
  address: string;
  galleries: { name: string; model: string; dim: number; count: number }[];
}

export type MigrationOpResult =
  | { op: 'create-shard'; shard: CreatedShard }
  | { op: 'set-extraction-model'; edit: ConfigEdit }
  | { op: 'set-sf-api-shards'; edit: ConfigEdit }
  | { op: 'make-tnt-schema'; text: string }
  | { op: 'write-tnt-schema'; edit: ConfigEdit }
  | { op: 'security-setup'; output: string }
  | { op: 'unit'; unit: string; active: boolean }
  | { op: 'shard-galleries'; galleries: ShardGalleries }
  | { op: 'reextract'; batch: ReextractBatch }
  | { op: 'migration-progress'; progress: MigrationProgress }
  | { op: 'adopt'; file: string; changed: boolean; serving: string[] }
  | { op: 'reconcile'; gallery: string; checked: number; removed: number }
  | { op: 'remove-shard'; shard: string; removed: string[]; bytes: number }
  | { op: 'face-sources'; faces: FaceSource[]; done: boolean }
  | { op: 'regenerate'; detector: string; regenerated: number; failed: FailedFace[] }
  | { op: 'normalized-aside'; dir: string; files: number };
