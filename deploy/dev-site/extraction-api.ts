/**
 * findface-extraction-api of the dev site: an HTTP service that turns a normalized face image into its
 * feature vector under the model its config names (`extractors.models.face`), as `facen()` computes it,
 * taking the configured time per face — so a model migration has a real service to call and takes
 * measurable time. Reads `findface-extraction-api.ini` once at start (a restart applies edits).
 *
 * | request | answer |
 * |---|---|
 * | `GET /models` | `{models: {face: {file, model, dim}, ...}, available: [model files under models_root], instances, maxBatchSize, cost}` |
 * | `POST /v2/extract?kind=face` (body: the image) | `{kind, file, model, dim, facen}` (base64 float32); 422 when the image is no JPEG |
 * | `POST /v2/extract/batch` `{kind?, images: [base64]}` | `{kind, file, model, dim, results: [{facen} or {error}]}`; at most `max_batch_size` images |
 * | `POST /v2/detect/batch` `{images: [base64 source photos]}` | `{detector, results: [{normalized} or {error}]}`: each photo's normalized face image (`normalizeFace`) by the configured face detector; 404 when none is configured |
 * | `GET /stats`, `DELETE /stats` | `{requests, batches, faces, detected, failed, startedAt, pid}` since start (or the last DELETE) |
 *
 * Errors are `{"detail": "..."}`: 400 bad request, 404 unknown path or a kind without a model, 422 image.
 */
import { existsSync, readdirSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { UnavailableError, ValidationError } from '../../shared/errors.js';
import type { ModelFile, ModelKind } from '../../shared/findface/models.js';
import { MODEL_KINDS } from '../../shared/findface/models.js';
import { readExtractionSettings, type ExtractionSettings } from './extraction-config.js';
import { facen, galleryModelOf, normalizeFace } from './facen.js';
import { startServiceUnit, stopServiceUnit } from './service-unit.js';
import type { SiteState } from './state.js';
import { EXTRACTION_API_UNIT } from './unit-names.js';

export interface ExtractionStats {
  requests: number;
  batches: number;
  /** Faces extracted (a batch counts each of its images). */
  faces: number;
  /** Normalized images made from source photos by the detector. */
  detected: number;
  /** Images refused (not a JPEG). */
  failed: number;
  startedAt: string;
  pid: number;
}

class HttpProblem extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Waits for one of `n` slots: at most `n` faces are extracted at a time (the config's instances). */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiting.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}

/** Model files under the models root (`face/mango_512.cpu.fnk`, ...). */
export function availableModels(root: string): string[] {
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const kind of readdirSync(root, { withFileTypes: true })) {
    if (!kind.isDirectory()) continue;
    for (const f of readdirSync(path.join(root, kind.name))) if (f.endsWith('.fnk')) out.push(`${kind.name}/${f}`);
  }
  return out.sort();
}

/** The settings, refused when a configured model file is not under the models root. */
export function loadExtractionSettings(file: string): ExtractionSettings {
  const settings = readExtractionSettings(file);
  const available = new Set(availableModels(settings.modelsRoot));
  for (const [kind, m] of Object.entries(settings.models)) {
    if (!available.has(m.file)) throw new ValidationError(`${file}: extractors.models.${kind}: model file '${m.file}' not found in ${settings.modelsRoot}`, { field: `extractors.models.${kind}` });
  }
  if (settings.faceDetector && !available.has(settings.faceDetector)) throw new ValidationError(`${file}: detectors.models: face detector file '${settings.faceDetector}' not found in ${settings.modelsRoot}`, { field: 'detectors.models' });
  return settings;
}

/** The extraction service, listening on the config's address; resolves once it listens. */
export class ExtractionService {
  private stats: ExtractionStats;
  private readonly slots: Slots;
  readonly server: http.Server;

  constructor(readonly settings: ExtractionSettings) {
    this.stats = ExtractionService.freshStats();
    this.slots = new Slots(settings.instances);
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  private static freshStats(): ExtractionStats {
    return { requests: 0, batches: 0, faces: 0, detected: 0, failed: 0, startedAt: new Date().toISOString(), pid: process.pid };
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.settings.listen.port, this.settings.listen.host, () => resolve());
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const body = await this.route(req, url);
      send(res, 200, body);
    } catch (err) {
      const status = err instanceof HttpProblem ? err.status : 500;
      send(res, status, { detail: (err as Error).message });
    }
  }

  private async route(req: http.IncomingMessage, url: URL): Promise<unknown> {
    const route = `${req.method ?? 'GET'} ${url.pathname.replace(/\/+$/, '')}`;
    switch (route) {
      case 'GET /models':
        return this.describe();
      case 'GET /stats':
        return this.stats;
      case 'DELETE /stats':
        this.stats = ExtractionService.freshStats();
        return this.stats;
      case 'POST /v2/extract': {
        const model = this.modelOf(url.searchParams.get('kind') ?? 'face');
        const image = await readBody(req);
        this.stats.requests++;
        const vector = await this.extract(model, image);
        if (typeof vector === 'string') throw new HttpProblem(422, vector);
        return { ...this.modelInfo(model), facen: Buffer.from(vector).toString('base64') };
      }
      case 'POST /v2/extract/batch':
        return this.batch(await readBody(req));
      case 'POST /v2/detect/batch':
        return this.detectBatch(await readBody(req));
      default:
        throw new HttpProblem(404, `no such endpoint: ${route}`);
    }
  }

  private async batch(body: Buffer): Promise<unknown> {
    const { kind, images } = batchOf(body, this.settings.maxBatchSize);
    const model = this.modelOf(kind ?? 'face');
    this.stats.requests++;
    this.stats.batches++;
    const vectors = await Promise.all(images.map((b64) => this.extract(model, Buffer.from(b64, 'base64'))));
    return { ...this.modelInfo(model), results: vectors.map((v) => (typeof v === 'string' ? { error: v } : { facen: Buffer.from(v).toString('base64') })) };
  }

  private async detectBatch(body: Buffer): Promise<unknown> {
    const detector = this.settings.faceDetector;
    if (!detector) throw new HttpProblem(404, 'no face detector (detectors.models has no entry aliased face)');
    const { images } = batchOf(body, this.settings.maxBatchSize);
    this.stats.requests++;
    this.stats.batches++;
    const results = await Promise.all(
      images.map(async (b64) => {
        const photo = Buffer.from(b64, 'base64');
        if (!isJpeg(photo)) {
          this.stats.failed++;
          return { error: `no face detected: not a JPEG (${photo.length} bytes)` };
        }
        const normalized = await this.costed(() => normalizeFace(detector, photo));
        this.stats.detected++;
        return { normalized: normalized.toString('base64') };
      }),
    );
    return { detector, results };
  }

  /** `work` after the configured cost of one face. */
  private async costed<T>(work: () => T): Promise<T> {
    const { faceCostMs, mode } = this.settings.cost;
    if (faceCostMs <= 0) return work();
    if (mode === 'busy') {
      const until = performance.now() + faceCostMs;
      while (performance.now() < until); // burns the CPU as a real extraction does
      return work();
    }
    return this.slots.run(async () => (await new Promise((r) => setTimeout(r, faceCostMs)), work()));
  }

  /** One face: its vector after the configured cost, or why the image was refused. */
  private async extract(model: ModelFile, image: Buffer): Promise<Uint8Array | string> {
    if (!isJpeg(image)) {
      this.stats.failed++;
      return `cannot decode image: not a JPEG (${image.length} bytes)`;
    }
    const out = await this.costed(() => facen(galleryModelOf(model.file), image));
    this.stats.faces++;
    return out;
  }

  private modelOf(kind: string): ModelFile {
    const m = (MODEL_KINDS as readonly string[]).includes(kind) ? this.settings.models[kind as ModelKind] : undefined;
    if (!m) throw new HttpProblem(404, `no model for kind '${kind}' (extractors.models.${kind} is empty or unknown)`);
    return m;
  }

  private modelInfo(m: ModelFile): { kind: ModelKind; file: string; model: string; dim: number } {
    return { kind: m.kind, file: m.file, model: galleryModelOf(m.file), dim: m.dim };
  }

  private describe(): unknown {
    const models = Object.fromEntries(Object.values(this.settings.models).map((m) => [m.kind, this.modelInfo(m)]));
    const { instances, maxBatchSize, cost, faceDetector } = this.settings;
    return { models, ...(faceDetector ? { detector: faceDetector } : {}), available: availableModels(this.settings.modelsRoot), instances, maxBatchSize, cost };
  }
}

const MAX_BODY = 64 * 2 ** 20;

const isJpeg = (image: Buffer): boolean => image.length >= 4 && image[0] === 0xff && image[1] === 0xd8;

/** A batch request body: its `kind` and `images` (base64 strings, at most `max`). */
function batchOf(body: Buffer, max: number): { kind?: string; images: string[] } {
  let input: { kind?: unknown; images?: unknown };
  try {
    input = JSON.parse(body.toString('utf8')) as typeof input;
  } catch {
    throw new HttpProblem(400, 'the body is not JSON: want {"kind": "face", "images": [base64, ...]}');
  }
  const images = input.images;
  if (!Array.isArray(images) || !images.every((i): i is string => typeof i === 'string')) throw new HttpProblem(400, 'images: want an array of base64 strings');
  if (images.length > max) throw new HttpProblem(400, `images: ${images.length} images, at most max_batch_size ${max} per batch`);
  return { ...(typeof input.kind === 'string' ? { kind: input.kind } : {}), images };
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) reject(new HttpProblem(400, `body larger than ${MAX_BODY} bytes`));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Starts the unit unless it runs; resolves once it listens on its config's port. */
export async function startExtractionApi(state: SiteState): Promise<number> {
  const ex = state.extractionApi;
  if (!ex) throw new UnavailableError(`dev site '${state.site}' has no findface-extraction-api (site.json predates it)`);
  return startServiceUnit(state, { unit: EXTRACTION_API_UNIT, service: 'extraction-api', port: () => readExtractionSettings(ex.configPath).listen.port, logName: 'extraction-api.log', label: 'findface-extraction-api' });
}

export function stopExtractionApi(state: SiteState): Promise<boolean> {
  return stopServiceUnit(state, EXTRACTION_API_UNIT);
}
