/**
 * `migration.ini`, the config of `findface-sf-api-migrate` (reference 001, step 6): the extraction-api to
 * call, the old shards (`storage-api-from`) and the new ones (`storage-api-to`), workers and batch sizes,
 * and where normalized images are read from. Written with the reference's timeouts. Pure.
 */
import { stringify } from 'yaml';

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
