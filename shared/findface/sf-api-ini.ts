/**
 * findface-sf-api's configuration (`/etc/findface-sf-api.ini`, YAML): where it listens, the
 * extraction-api it calls and the Tarantool shards it reads and writes (`storage-api.shards[].master`).
 * Read into a typed value, and the shard list replaced in place with every other line and comment kept
 * (what a model migration does when it points sf-api at the new shards). Pure: no file access.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { listenOf, parseYamlConfig } from './yaml-config.js';

const shardSchema = z.object({ master: z.string().url(), slave: z.string().optional() }).loose();

const sfApiSchema = z
  .object({
    listen: z.string().regex(/^[^:]*:\d+$/, 'host:port'),
    'extraction-api': z.object({ 'extraction-api': z.string().url() }).loose().optional(),
    'storage-api': z.object({ shards: z.array(shardSchema).min(1) }).loose(),
    'normalized-storage': z.object({ webdav: z.object({ 'upload-url': z.string().url() }).loose().optional() }).loose().optional(),
  })
  .loose();

export interface SfApiConfig {
  listen: { host: string; port: number };
  extractionApiUrl: string | undefined;
  /** `storage-api.shards[].master`, in order (a record's shard is its position in this list). */
  shards: string[];
  /** findface-upload's WebDAV holding normalized images (`normalized-storage.webdav.upload-url`), when set. */
  normalizedUploadUrl: string | undefined;
}

/** Parses the config; ValidationError naming the file and field otherwise. */
export function parseSfApiConfig(text: string, file: string): SfApiConfig {
  const { config: c } = parseYamlConfig(text, file, sfApiSchema);
  return {
    listen: listenOf(c.listen),
    extractionApiUrl: c['extraction-api']?.['extraction-api'],
    shards: c['storage-api'].shards.map((s) => s.master),
    normalizedUploadUrl: c['normalized-storage']?.webdav?.['upload-url'],
  };
}

/** The config with its shard list replaced by `masters` (slaves empty); every other line kept. */
export function setSfApiShards(text: string, masters: readonly string[], file: string): string {
  parseSfApiConfig(text, file);
  const doc = parseDocument(text);
  doc.setIn(['storage-api', 'shards'], doc.createNode(masters.map((master) => ({ master, slave: '' }))));
  return doc.toString();
}

/** Port of a shard URL (`http://127.0.0.1:8101/v2/` → 8101). */
export function portOfUrl(url: string): number {
  const u = new URL(url);
  return Number(u.port || (u.protocol === 'https:' ? 443 : 80));
}
