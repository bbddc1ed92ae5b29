/**
 * `migration.ini`, the config of `findface-sf-api-migrate` (reference 001, step 6): the extraction-api to
 * call, the old shards (`storage-api-from`) and the new ones (`storage-api-to`), workers and batch sizes,
 * and where normalized images are read from. Written with the reference's timeouts, and read back (the dev
 * site's findface-sf-api-migrate). Pure.
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { parseYamlConfig } from './yaml-config.js';

export interface MigrationIniInput {
  extractionApiUrl: string;
  /** The old shards' URLs (`http://127.0.0.1:8101/v2/`), in sf-api's order. */
  from: readonly string[];
  /** The new shards' URLs, position for position. */
  to: readonly string[];
  workers: number;
  facesLimit: number;
  extractionBatchSize: number;
  /** findface-upload's WebDAV URL the normalized images are read from (`http://127.0.0.1:3333/uploads/`). */
  normalizedUploadUrl: string;
}

const STORAGE_TIMEOUTS = { connect: '5s', response_header: '30s', overall: '35s', idle_connection: '10s' };

const storage = (urls: readonly string[]): Record<string, unknown> => ({
  timeouts: { ...STORAGE_TIMEOUTS },
  'max-idle-conns-per-host': 20,
  shards: urls.map((master) => ({ master, slave: '' })),
});

export function migrationIniText(i: MigrationIniInput): string {
  return stringify({
    'extraction-api': { timeouts: { connect: '5s', response_header: '30s', overall: '35s', idle_connection: '0s' }, 'extraction-api': i.extractionApiUrl },
    'storage-api-from': storage(i.from),
    'storage-api-to': storage(i.to),
    workers_num: i.workers,
    faces_limit: i.facesLimit,
    extraction_batch_size: i.extractionBatchSize,
    normalized_storage: { type: 'webdav', enabled: true, webdav: { 'upload-url': i.normalizedUploadUrl } },
  });
}

const shards = z.object({ shards: z.array(z.object({ master: z.string().url() }).loose()).min(1) }).loose();
const migrationSchema = z
  .object({
    'extraction-api': z.object({ 'extraction-api': z.string().url() }).loose(),
    'storage-api-from': shards,
    'storage-api-to': shards,
    workers_num: z.number().int().min(1).default(3),
    faces_limit: z.number().int().min(1).default(100),
    extraction_batch_size: z.number().int().min(1).default(8),
  })
  .loose();

export interface MigrationIni {
  extractionApiUrl: string;
  from: string[];
  to: string[];
  workers: number;
  facesLimit: number;
  extractionBatchSize: number;
}

/** Parses a migration.ini; ValidationError naming the file and field otherwise (also when the shard lists differ in length). */
export function parseMigrationIni(text: string, file: string): MigrationIni {
  const { config: c } = parseYamlConfig(text, file, migrationSchema);
  const from = c['storage-api-from'].shards.map((s) => s.master);
  const to = c['storage-api-to'].shards.map((s) => s.master);
  if (from.length !== to.length) throw new ValidationError(`${file}: storage-api-from lists ${from.length} shard(s), storage-api-to ${to.length}: a record keeps its position`, { field: 'storage-api-to.shards' });
  return { extractionApiUrl: c['extraction-api']['extraction-api'], from, to, workers: c.workers_num, facesLimit: c.faces_limit, extractionBatchSize: c.extraction_batch_size };
}
