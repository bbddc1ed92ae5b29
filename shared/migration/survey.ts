/**
 * Model migration (issue 17): what the controller asks of a site's agents, as JSON over the agent's
 * `Migration` call, and what they answer. Agents only report facts of their host; the controller builds
 * the plan from them (controller/domain/migration/plan.ts).
 *
 * - `survey`: for each Tarantool shard this agent serves, its instance file, its galleries (model, count),
 *   the bytes it holds and the free bytes where its new sibling shard's directories would go, and whether
 *   the new shard's name, ports and directories (shifted by `portOffset`, as the reference shifts them) are
 *   free; the sf-api config when it runs sf-api; the extraction-api config and whether `toModel`'s file is
 *   under its `models_root` when it runs extraction-api (the `extraction-api` role);
 * - `sample`: extracts up to `faces` normalized images of this agent's upload directories with the
 *   extraction-api at `extractionApiUrl`, `concurrency` batches at a time, and reports how long it took — the
 *   measured sample a migration's time estimate rests on.
 */
import { z } from 'zod';
import { parseJsonRequest } from '../json-request.js';
import { migrationOpSchemas, type MigrationOpResult } from './ops.js';

/** The agent that runs findface-extraction-api announces this role (config `extractionApi`). */
export const EXTRACTION_API_ROLE = 'extraction-api';

export const migrationRequestSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('survey'), toModel: z.string().min(1), toDetector: z.string().min(1).max(300).optional(), portOffset: z.number().int().min(1).max(30_000) }).strict(),
  z
    .object({
      op: z.literal('sample'),
      extractionApiUrl: z.string().url(),
      faces: z.number().int().min(1).max(1024),
      batchSize: z.number().int().min(1).max(256),
      concurrency: z.number().int().min(1).max(64),
      /** Also times the face detector on as many images of the uploads root (a regeneration's estimate). */
      detect: z.boolean().optional(),
    })
    .strict(),
  ...migrationOpSchemas,
]);

export type MigrationRequest = z.infer<typeof migrationRequestSchema>;

/** A file the agent read, or why it could not. */
export interface FileRead {
  path: string;
  text?: string;
  error?: string;
}

export interface GallerySurvey {
  name: string;
  model: string;
  dim: number;
  count: number;
}

/** Whether a port on this host is free (nothing listens, nothing else of the site claims it). */
export interface PortSurvey {
  port: number;
  free: boolean;
  detail?: string;
}

export interface ShardSurvey {
  /** `tarantool:shard-001` */
  component: string;
  name: string;
  unit: string;
  host: string;
  port: number;
  instanceFile: FileRead;
  galleries: GallerySurvey[];
  galleriesError?: string;
  /** Bytes in the shard's memtx, WAL and vinyl directories. */
  dataBytes: number;
  /** The new shard as this agent derived it (absent when its instance file could not be read or shifted). */
  target?: {
    name: string;
    instanceFile: string;
    /** The instance file or a directory of the new shard already exists. */
    existing: string[];
    listen: PortSurvey;
    http?: PortSurvey;
    /** Free bytes on the filesystem of the new shard's work directory (its nearest existing parent). */
    freeBytes: number;
    freeDir: string;
  };
  targetError?: string;
}

export interface ExtractionSurvey {
  config: FileRead;
  unit: string;
  modelsRoot?: string;
  /** `toModel`'s file exists under `models_root`. */
  targetModelPresent: boolean;
  /** `toDetector`'s file exists under `models_root` (asked with one). */
  targetDetectorPresent?: boolean;
}

export interface MigrationSurvey {
  host: string;
  shards: ShardSurvey[];
  sfApi?: { component: string; unit: string; config: FileRead };
  extractionApi?: ExtractionSurvey;
}

export interface ExtractionSample {
  host: string;
  /** Images sent and how many came back with a vector. */
  faces: number;
  extracted: number;
  failed: number;
  ms: number;
  /** The model file the extraction-api answered with. */
  model?: string;
  /** Why no sample could be taken (no images here, the extraction-api did not answer). */
  error?: string;
  /** Asked with `detect`: images of the uploads root sent to the face detector, normalized images made, the time. */
  detection?: { photos: number; detected: number; failed: number; ms: number; detector?: string; error?: string };
}

export type MigrationResult = { op: 'survey'; survey: MigrationSurvey } | { op: 'sample'; sample: ExtractionSample } | MigrationOpResult;

/** Parses a request from JSON; ValidationError naming the bad field otherwise. */
export function parseMigrationRequest(json: string): MigrationRequest {
  return parseJsonRequest(json, migrationRequestSchema, 'migration request');
}
