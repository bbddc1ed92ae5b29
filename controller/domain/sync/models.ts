/**
 * The feature-vector model check of a sync link: both sites must run the same model in every gallery
 * they share, or the replicated vectors would not match what the slave extracts.
 */
import { ValidationError } from '../../../shared/errors.js';

/** `ffsec_face_objects` → `face model`; other gallery names → `model`. */
function modelKind(gallery: string): string {
  const m = /^ffsec_([a-z]+)_objects$/.exec(gallery);
  return m ? `${m[1]} model` : 'model';
}

/**
 * The models both sites run in the galleries they share; throws a ValidationError naming both sites and
 * both models of every gallery that differs.
 */
export function commonModels(master: { site: string; models: Record<string, string> }, slave: { site: string; models: Record<string, string> }): Record<string, string> {
  const shared = Object.keys(master.models).filter((g) => slave.models[g] !== undefined).sort();
  const differing = shared.filter((g) => master.models[g] !== slave.models[g]);
  if (differing.length > 0) {
    const what = differing.map(
      (g) => `site '${master.site}' runs ${modelKind(g)} '${master.models[g]}' (${g}) but site '${slave.site}' runs '${slave.models[g]}'`,
    );
    throw new ValidationError(`${what.join('; ')}; sync needs the same model on both`, { field: 'models' });
  }
  return Object.fromEntries(shared.map((g) => [g, master.models[g] as string]));
}
