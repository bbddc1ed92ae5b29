/**
 * The dev site's feature vectors ("facens"): what its extraction-api returns for an image, and what the
 * loader, the writer and the native sync store for a face — one pure function of the model and the
 * normalized image's bytes, so a test can recompute any face's vector under any model:
 *
 *   digest = SHA-256("ffk-facen-v1\0" + model + "\0" + image bytes)
 *   xoshiro128** seeded with the digest's first four little-endian uint32s gives dim uint32s u;
 *   x[i] = u[i] / 2^32 * 2 - 1; the vector is x / |x| as float32 (little-endian bytes).
 *
 * `model` is the gallery model name (`face-mango-512`: kind, name, dimension); the extraction-api's
 * model file for it is `face/mango_512.cpu.fnk` (a `gpu` file is the same model).
 */
import { createCipheriv, createHash, webcrypto } from 'node:crypto';
import { galleryModelOf, modelFileOf, parseGalleryModel, type ModelKind } from '../../shared/findface/models.js';
import type { GalleryName } from './state.js';

export { galleryModelOf, modelFileOf, parseGalleryModel };

/** The kind of object a gallery holds (`ffsec_body_events` → body; user faces and persons are faces). */
export function galleryKindOf(gallery: GalleryName): ModelKind {
  return gallery.includes('body') ? 'body' : gallery.includes('car') ? 'car' : 'face';
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

const prefixOf = (model: string): Buffer => Buffer.from(`ffk-facen-v1\0${model}\0`);

/** The feature vector of `image` under `model` (float32 bytes, unit length); see the module header. */
export function facen(model: string, image: Uint8Array): Uint8Array {
  const { dim } = parseGalleryModel(model);
  return expand(createHash('sha256').update(prefixOf(model)).update(image).digest(), dim);
}

/** `facen`, hashing on the thread pool (the bulk loader runs thousands side by side without holding the event loop). */
export async function facenAsync(model: string, image: Uint8Array): Promise<Uint8Array> {
  const { dim } = parseGalleryModel(model);
  const prefix = prefixOf(model);
  const input = Buffer.concat([prefix, image]);
  return expand(Buffer.from(await webcrypto.subtle.digest('SHA-256', input)), dim);
}

function expand(digest: Buffer, dim: number): Uint8Array {
  let a = digest.readUInt32LE(0) | 0;
  let b = digest.readUInt32LE(4) | 0;
  let c = digest.readUInt32LE(8) | 0;
  let d = digest.readUInt32LE(12) | 0;
  if ((a | b | c | d) === 0) a = 1; // xoshiro's one forbidden state
  const x = new Float64Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    const out = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    const v = (out / 2 ** 32) * 2 - 1;
    x[i] = v;
    norm += v * v;
  }
  const scale = 1 / Math.sqrt(norm || 1);
  const vector = new Float32Array(dim);
  for (let i = 0; i < dim; i++) vector[i] = (x[i] as number) * scale;
  return new Uint8Array(vector.buffer);
}

/** The detector of a dev site's extraction-api (FindFace's `detectors.models` entry aliased `face`). */
export const DEV_DETECTOR = 'detector/face.jasmine_fast.004.cpu.fnk';
/** Another detector a site's models root holds: what a detector change switches to. */
export const OTHER_DETECTOR = 'detector/face.jasmine_fast.005.cpu.fnk';

const JPEG_HEAD = Buffer.from('ffd8ffe000104a46494600010101004800480000', 'hex');
const JPEG_TAIL = Buffer.from('ffd9', 'hex');

/**
 * The normalized face image `detector` makes of a source photo (a dossier photo or an event's full frame):
 * a JPEG-framed block of an eighth of the photo's size (at least 64 bytes), its bytes the AES-256-CTR
 * keystream (zero IV) under the key SHA-256("ffk-norm-v1\0" + detector + "\0" + SHA-256(photo)) — a pure
 * function, so a test recomputes any regenerated image, and its vector with `facen`.
 */
export function normalizeFace(detector: string, photo: Uint8Array): Buffer {
  const key = createHash('sha256').update(`ffk-norm-v1\0${detector}\0`).update(createHash('sha256').update(photo).digest()).digest();
  const size = Math.max(64, Math.floor(photo.length / 8));
  const out = createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
  JPEG_HEAD.copy(out, 0);
  JPEG_TAIL.copy(out, size - JPEG_TAIL.length);
  return out;
}
