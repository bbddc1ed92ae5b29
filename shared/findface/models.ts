/**
 * FindFace neural-network model files as `findface-extraction-api.ini` names them
 * (`extractors.models.face: face/elderberry_576.r2.cpu.fnk`): the object kind, the model's name, the
 * feature-vector size (the number after the last `_`), a variant and the device. Pure.
 */
import { ValidationError } from '../errors.js';

export const MODEL_KINDS = ['face', 'body', 'car'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export interface ModelFile {
  /** As written in the config: `face/elderberry_576.r2.cpu.fnk`. */
  file: string;
  kind: ModelKind;
  /** `elderberry` */
  name: string;
  /** Feature-vector size in floats: `576`. */
  dim: number;
  /** `r2`, or undefined. */
  variant: string | undefined;
  device: 'cpu' | 'gpu';
}

const MODEL_FILE = /^(face|body|car)\/([a-z][a-z0-9]*)_(\d+)(?:\.([a-z0-9]+))?\.(cpu|gpu)\.fnk$/;

/** Parses a model file name; ValidationError naming it when it is not `<kind>/<name>_<dim>[.<variant>].<cpu|gpu>.fnk`. */
export function parseModelFile(file: string): ModelFile {
  const m = MODEL_FILE.exec(file);
  const dim = Number(m?.[3]);
  if (!m || !(dim > 0)) {
    throw new ValidationError(`model file '${file}' is not <kind>/<name>_<dim>[.<variant>].<cpu|gpu>.fnk (e.g. face/elderberry_576.cpu.fnk)`, { field: 'model' });
  }
  return { file, kind: m[1] as ModelKind, name: m[2] as string, dim, variant: m[4], device: m[5] as 'cpu' | 'gpu' };
}

const GALLERY_MODEL = /^(face|body|car)-([a-z][a-z0-9]*)-(\d+)(?:-([a-z0-9]+))?$/;

/** A gallery's model as its Tarantool space records it: `face-mango-512` (kind, name, dimension[, variant]). */
export interface GalleryModel {
  kind: ModelKind;
  name: string;
  dim: number;
  variant: string | undefined;
}

const parsedModels = new Map<string, GalleryModel>();

/** Parses `face-mango-512` (or `face-elderberry-576-r2`); ValidationError naming it otherwise. */
export function parseGalleryModel(model: string): GalleryModel {
  const cached = parsedModels.get(model);
  if (cached) return cached;
  const m = GALLERY_MODEL.exec(model);
  const dim = Number(m?.[3]);
  if (!m || !(dim > 0)) throw new ValidationError(`model '${model}' is not <kind>-<name>-<dim>[-<variant>] (e.g. face-mango-512)`, { field: 'model' });
  const parsed = { kind: m[1] as ModelKind, name: m[2] as string, dim, variant: m[4] };
  parsedModels.set(model, parsed);
  return parsed;
}

/** The extraction-api model file of a gallery model: `face-mango-512` → `face/mango_512.cpu.fnk`. */
export function modelFileOf(model: string): string {
  const m = parseGalleryModel(model);
  return `${m.kind}/${m.name}_${m.dim}${m.variant ? `.${m.variant}` : ''}.cpu.fnk`;
}

/** The gallery model of an extraction-api model file: `face/ifruit_320.cpu.fnk` → `face-ifruit-320`. */
export function galleryModelOf(file: string): string {
  const m = parseModelFile(file);
  return `${m.kind}-${m.name}-${m.dim}${m.variant ? `-${m.variant}` : ''}`;
}
