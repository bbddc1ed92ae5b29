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
