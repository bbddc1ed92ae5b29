/**
 * findface-extraction-api's configuration (`/etc/findface-extraction-api.ini`, YAML): where it listens
 * and which model file extracts each kind of object (`extractors.models.face: face/elderberry_576.cpu.fnk`,
 * an empty string for a kind it does not extract), found under `extractors.models_root`. Read into a
 * typed value, and one model line replaced in place with every other line kept (the edit of a model
 * migration). The face detector (`detectors.models`: an entry named or aliased `face`, its `model` file
 * under the same root) is read too: a detector change regenerates normalized images (reference 003).
 * Pure: no file access.
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
    detectors: z
      .object({
        models: z.record(z.string(), z.union([z.string(), z.object({ model: z.string(), aliases: z.array(z.string()).optional() }).loose()])).default({}),
      })
      .loose()
      .optional(),
  })
  .loose();

export interface ExtractionApiConfig {
  listen: { host: string; port: number };
  instances: number;
  maxBatchSize: number;
  modelsRoot: string;
  /** The model of each kind it extracts (kinds configured with '' are absent). */
  models: Partial<Record<ModelKind, ModelFile>>;
  /** The model file of the face detector (`detectors.models.<face or aliased face>`), when one is configured. */
  faceDetector?: string;
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
  const face = faceDetectorEntry(c.detectors?.models ?? {});
  const faceDetector = face ? (typeof face[1] === 'string' ? face[1] : face[1].model) : undefined;
  return {
    listen: listenOf(c.listen),
    instances: c.extractors.instances,
    maxBatchSize: c.extractors.max_batch_size,
    modelsRoot: c.extractors.models_root,
    models,
    ...(faceDetector ? { faceDetector } : {}),
    raw: raw as Record<string, unknown>,
  };
}

type DetectorEntry = string | { model: string; aliases?: string[] | undefined };

/** The detector entry named `face`, else the first aliased `face`: its name and value. */
function faceDetectorEntry(models: Record<string, DetectorEntry>): [string, DetectorEntry] | undefined {
  const entries = Object.entries(models);
  return entries.find(([name]) => name === 'face') ?? entries.find(([, d]) => typeof d !== 'string' && (d.aliases ?? []).includes('face'));
}

/** A detector model file as extraction-api.ini names it (`detector/face.jasmine_fast.004.cpu.fnk`): a path under models_root ending in .fnk. */
export function checkDetectorFile(file: string): string {
  if (!/^[\w.-]+(\/[\w.-]+)*\.fnk$/.test(file) || file.split('/').some((seg) => seg === '..' || seg === '.')) {
    throw new ValidationError(`'${file}' is no detector model file (a path under models_root ending in .fnk, e.g. detector/face.jasmine_fast.004.cpu.fnk)`, { field: 'detector' });
  }
  return file;
}

/**
 * The config with the face detector's model file set to `file` — the entry named `face` or aliased `face`
 * (its `model`, or the entry itself when it is a plain file name), else a new `face` entry; every other line kept.
 */
export function setFaceDetector(text: string, file: string, configFile: string): string {
  parseExtractionApiConfig(text, configFile);
  checkDetectorFile(file);
  const doc = parseDocument(text);
  const models = (doc.toJS() as { detectors?: { models?: Record<string, DetectorEntry> } }).detectors?.models ?? {};
  const entry = faceDetectorEntry(models);
  if (!entry) doc.setIn(['detectors', 'models', 'face'], file);
  else if (typeof entry[1] === 'string') doc.setIn(['detectors', 'models', entry[0]], file);
  else doc.setIn(['detectors', 'models', entry[0], 'model'], file);
  return doc.toString({ flowCollectionPadding: false });
}

/** The config with the model line of `kind` set to `file` (`face: face/ifruit_320.cpu.fnk`); every other line kept. */
export function setExtractionModel(text: string, kind: ModelKind, file: string, configFile: string): string {
  parseExtractionApiConfig(text, configFile);
  if (parseModelFile(file).kind !== kind) throw new ValidationError(`model '${file}' is no ${kind} model`, { field: `extractors.models.${kind}` });
  const doc = parseDocument(text);
  doc.setIn(['extractors', 'models', kind], file);
  return doc.toString({ flowCollectionPadding: false });
}
