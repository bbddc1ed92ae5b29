/**
 * findface-extraction-api's configuration (`/etc/findface-extraction-api.ini`, YAML): where it listens
 * and which model file extracts each kind of object (`extractors.models.face: face/elderberry_576.cpu.fnk`,
 * an empty string for a kind it does not extract), found under `extractors.models_root`. Read into a
 * typed value, and one model line replaced in place with every other line kept (the edit of a model
 * migration). Pure: no file access.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { ValidationError } from '../errors.js';
import { listenOf, parseYamlConfig } from './yaml-config.js';
import { MODEL_KINDS, parseModelFile, type ModelFile, type ModelKind } from './models.js';

const extractionSchema = z
  .object({
    listen: z.string().regex(/^[^:]*:\d+$/, 'host:port'),
    extractors: z
      .object({
        instances: z.number().int().min(1).default(1),
        max_batch_size: z.number().int().min(1).default(16),
        models_root: z.string().min(1),
        models: z.record(z.string(), z.string()),
      })
      .loose(),
  })
  .loose();

export interface ExtractionApiConfig {
  listen: { host: string; port: number };
  instances: number;
  maxBatchSize: number;
  modelsRoot: string;
  /** The model of each kind it extracts (kinds configured with '' are absent). */
  models: Partial<Record<ModelKind, ModelFile>>;
  /** The whole document, for settings of its own a caller reads (the dev site's per-face cost). */
  raw: Record<string, unknown>;
}

/** Parses the config; ValidationError naming the file and field otherwise. */
export function parseExtractionApiConfig(text: string, file: string): ExtractionApiConfig {
  const { config: c, raw } = parseYamlConfig(text, file, extractionSchema);
  const models: Partial<Record<ModelKind, ModelFile>> = {};
  for (const kind of MODEL_KINDS) {
    const name = c.extractors.models[kind];
    if (!name) continue;
    try {
      models[kind] = parseModelFile(name);
    } catch (err) {
      throw new ValidationError(`${file}: extractors.models.${kind}: ${(err as Error).message}`, { field: `extractors.models.${kind}`, cause: err });
    }
    if (models[kind]?.kind !== kind) throw new ValidationError(`${file}: extractors.models.${kind}: '${name}' is a ${models[kind]?.kind ?? '?'} model`, { field: `extractors.models.${kind}` });
  }
  return {
    listen: listenOf(c.listen),
    instances: c.extractors.instances,
    maxBatchSize: c.extractors.max_batch_size,
    modelsRoot: c.extractors.models_root,
    models,
    raw: raw as Record<string, unknown>,
  };
}

/** The config with the model line of `kind` set to `file` (`face: face/ifruit_320.cpu.fnk`); every other line kept. */
export function setExtractionModel(text: string, kind: ModelKind, file: string, configFile: string): string {
  parseExtractionApiConfig(text, configFile);
  if (parseModelFile(file).kind !== kind) throw new ValidationError(`model '${file}' is no ${kind} model`, { field: `extractors.models.${kind}` });
  const doc = parseDocument(text);
  doc.setIn(['extractors', 'models', kind], file);
  return doc.toString();
}
