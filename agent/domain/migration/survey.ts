/**
 * This host's part of a model migration plan (shared/migration/survey.ts): the facts of its shards,
 * sf-api and extraction-api, and a measured extraction sample. Reads only; the host's files, ports,
 * shards and HTTP are behind `MigrationHost` (agent/adapters/migration.ts).
 */
import path from 'node:path';
import type { AgentConfig } from '../../../shared/config/agent.js';
import { checkDetectorFile, parseExtractionApiConfig } from '../../../shared/findface/extraction-api-ini.js';
import { parseInstanceFile, shiftedShardName } from '../../../shared/findface/instance-file.js';
import { parseModelFile } from '../../../shared/findface/models.js';
import type { ExtractionSample, FileRead, GallerySurvey, MigrationRequest, MigrationSurvey, PortSurvey, ShardSurvey } from '../../../shared/migration/survey.js';
import { INSTANCES_AVAILABLE } from '../discover/layout.js';
import { uploadRoots } from '../drivers/uploads/layout.js';
import { chunks, mapLimit } from '../../../shared/concurrency.js';
import type { RegenerateHost } from './regenerate.js';

type TarantoolComponent = Extract<AgentConfig['components'][number], { kind: 'tarantool' }>;

export interface MigrationHost {
  /** A file's text; throws (ENOENT...) when it cannot be read. */
  readText(file: string): Promise<string>;
  exists(file: string): Promise<boolean>;
  /** Bytes of the regular files under these directories (a missing one counts 0). */
  bytesUnder(dirs: readonly string[]): Promise<number>;
  /** Free bytes of the filesystem of `dir`'s nearest existing parent, and that parent. */
  free(dir: string): Promise<{ dir: string; bytes: number }>;
  /** Whether nothing listens on host:port (binding it succeeds). */
  portFree(host: string, port: number): Promise<PortSurvey>;
  galleries(shard: TarantoolComponent): Promise<GallerySurvey[]>;
  /** Up to `n` image files under these directories (normalized images first). */
  sampleImages(dirs: readonly string[], n: number): Promise<Buffer[]>;
  /** One extraction batch: how many came back with a vector, and the model file that extracted them. */
  extractBatch(url: string, images: readonly Buffer[]): Promise<{ extracted: number; failed: number; model: string }>;
  now(): number;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

async function read(host: MigrationHost, file: string): Promise<FileRead> {
  try {
    return { path: file, text: await host.readText(file) };
  } catch (err) {
    return { path: file, error: message(err) };
  }
}

/** The instance file of a configured shard: its `instanceFile`, else FindFace's default path. */
export function instanceFileOf(shard: TarantoolComponent): string {
  return shard.instanceFile ?? path.join(INSTANCES_AVAILABLE, `${shard.name}.lua`);
}

/**
 * Where a shard's new sibling goes: its name (`shard-001` + 10 → `shard-011`), its instance file (a file
 * found through instances.enabled/, a link, gets its sibling in instances.available/, linked as the old one
 * is) and its work directory next to the old one's.
 */
export function siblingPaths(shard: TarantoolComponent, instanceFile: string, workDir: string | undefined, portOffset: number): { name: string; instanceFile: string; workDir: string } {
  const name = shiftedShardName(shard.name, portOffset);
  const dir = path.dirname(instanceFile);
  const file = path.join(path.basename(dir) === 'instances.enabled' ? path.join(path.dirname(dir), 'instances.available') : dir, `${name}.lua`);
  return { name, instanceFile: file, workDir: path.join(path.dirname(workDir ?? path.dirname(shard.memtxDir)), name) };
}

async function surveyShard(host: MigrationHost, shard: TarantoolComponent, portOffset: number): Promise<ShardSurvey> {
  const instanceFile = await read(host, instanceFileOf(shard));
  const out: ShardSurvey = {
    component: `tarantool:${shard.name}`,
    name: shard.name,
    unit: shard.unit,
    host: shard.host,
    port: shard.port,
    instanceFile,
    galleries: [],
    dataBytes: await host.bytesUnder([shard.memtxDir, shard.walDir, ...(shard.vinylDir ? [shard.vinylDir] : [])]),
  };
  try {
    out.galleries = await host.galleries(shard);
  } catch (err) {
    out.galleriesError = message(err);
  }
  if (instanceFile.text === undefined) return out;
  try {
    const parsed = parseInstanceFile(instanceFile.text, instanceFile.path);
    const { name, instanceFile: newFile, workDir: newWorkDir } = siblingPaths(shard, instanceFile.path, parsed.workDir, portOffset);
    const existing: string[] = [];
    for (const f of [newFile, newWorkDir]) if (await host.exists(f)) existing.push(f);
    const free = await host.free(newWorkDir);
    out.target = {
      name,
      instanceFile: newFile,
      existing,
      listen: await host.portFree(parsed.listen.host, parsed.listen.port + portOffset),
      ...(parsed.http ? { http: await host.portFree(parsed.http.host, parsed.http.port + portOffset) } : {}),
      freeBytes: free.bytes,
      freeDir: free.dir,
    };
  } catch (err) {
    out.targetError = message(err);
  }
  return out;
}

export async function survey(config: AgentConfig, host: MigrationHost, req: { toModel: string; toDetector?: string | undefined; portOffset: number }): Promise<MigrationSurvey> {
  const shards: ShardSurvey[] = [];
  for (const c of config.components) if (c.kind === 'tarantool') shards.push(await surveyShard(host, c, req.portOffset));
  const out: MigrationSurvey = { host: config.host, shards };
  const sfApi = config.components.find((c) => c.kind === 'sf-api');
  if (sfApi?.kind === 'sf-api') out.sfApi = { component: `sf-api:${sfApi.name}`, unit: sfApi.unit, config: await read(host, sfApi.configPath) };
  if (config.extractionApi) {
    const cfg = await read(host, config.extractionApi.configPath);
    let modelsRoot: string | undefined;
    let targetModelPresent = false;
    let targetDetectorPresent: boolean | undefined;
    if (cfg.text !== undefined) {
      try {
        modelsRoot = parseExtractionApiConfig(cfg.text, cfg.path).modelsRoot;
        targetModelPresent = await host.exists(path.join(modelsRoot, parseModelFile(req.toModel).file));
        if (req.toDetector) targetDetectorPresent = await host.exists(path.join(modelsRoot, checkDetectorFile(req.toDetector)));
      } catch (err) {
        cfg.error = message(err);
      }
    }
    out.extractionApi = { config: cfg, unit: config.extractionApi.unit, ...(modelsRoot ? { modelsRoot } : {}), targetModelPresent, ...(targetDetectorPresent === undefined ? {} : { targetDetectorPresent }) };
  }
  return out;
}

/** Extracts a sample of this host's normalized images, `concurrency` batches at a time, and times it. */
export async function sample(config: AgentConfig, host: MigrationHost & Pick<RegenerateHost, 'detect'>, req: Extract<MigrationRequest, { op: 'sample' }>): Promise<ExtractionSample> {
  const dirs = config.components.flatMap((c) => (c.kind === 'uploads' ? c.paths : []));
  const base: ExtractionSample = { host: config.host, faces: 0, extracted: 0, failed: 0, ms: 0 };
  if (dirs.length === 0) return { ...base, error: `agent ${config.site}/${config.host} holds no upload directories` };
  const images = await host.sampleImages(dirs, req.faces);
  if (images.length === 0) return { ...base, error: `no image files under ${dirs.join(', ')}` };
  const out = { ...base, faces: images.length };
  const started = host.now();
  try {
    await mapLimit(chunks(images, req.batchSize), req.concurrency, async (b) => {
      const r = await host.extractBatch(req.extractionApiUrl, b);
      out.extracted += r.extracted;
      out.failed += r.failed;
      out.model = r.model;
    });
  } catch (err) {
    return { ...out, ms: host.now() - started, error: `extraction-api at ${req.extractionApiUrl}: ${message(err)}` };
  }
  const taken: ExtractionSample = { ...out, ms: host.now() - started };
  return req.detect ? { ...taken, detection: await detectSample(config, host, req) } : taken;
}

/** Sends up to `faces` images of the uploads root (photos, full frames) to the face detector, `concurrency` batches at a time, and times it. */
async function detectSample(config: AgentConfig, host: MigrationHost & Pick<RegenerateHost, 'detect'>, req: Extract<MigrationRequest, { op: 'sample' }>): Promise<NonNullable<ExtractionSample['detection']>> {
  const c = config.components.find((x) => x.kind === 'uploads');
  const root = c?.kind === 'uploads' ? uploadRoots(c.paths).uploads : undefined;
  const out = { photos: 0, detected: 0, failed: 0, ms: 0 };
  if (!root) return { ...out, error: `agent ${config.site}/${config.host} holds no uploads root (findface-security's photos)` };
  const photos = await host.sampleImages([root], req.faces);
  if (photos.length === 0) return { ...out, error: `no image files under ${root}` };
  const started = host.now();
  let detector: string | undefined;
  try {
    await mapLimit(chunks(photos, req.batchSize), req.concurrency, async (b) => {
      const r = await host.detect(req.extractionApiUrl, b);
      detector = r.detector;
      const made = r.results.filter((x) => typeof x.normalized === 'string').length;
      out.detected += made;
      out.failed += b.length - made;
    });
  } catch (err) {
    return { ...out, photos: photos.length, ms: host.now() - started, error: `extraction-api at ${req.extractionApiUrl}: ${message(err)}` };
  }
  return { ...out, photos: photos.length, ms: host.now() - started, ...(detector ? { detector } : {}) };
}
