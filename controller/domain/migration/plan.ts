/**
 * A model migration's plan (issue 17; FindFace's procedure, reference 001): from what a site's agents
 * reported (shared/migration/survey.ts) and the site's verified snapshots, the new shards with their
 * names, ports and directories, each config edit as a diff, `migration.ini`, the faces to re-extract and
 * the time that takes at the measured extraction rate, the disk needed, the preconditions checked, and the
 * procedure's steps with the commands for this site. Pure: the facts come in, the plan goes out.
 */
import path from 'node:path';
import { formatBytes } from '../../../shared/bytes.js';
import { formatDuration } from '../../../shared/duration.js';
import { parseExtractionApiConfig, setExtractionModel, setFaceDetector } from '../../../shared/findface/extraction-api-ini.js';
import { migrationIniText } from '../../../shared/findface/migration-ini.js';
import { parseInstanceFile, shiftInstanceFile, type InstanceFile } from '../../../shared/findface/instance-file.js';
import { galleryModelOf, parseGalleryModel, parseModelFile, type ModelFile } from '../../../shared/findface/models.js';
import { parseSfApiConfig, portOfUrl, setSfApiShards } from '../../../shared/findface/sf-api-ini.js';
import type { ExtractionSample, MigrationSurvey, ShardSurvey } from '../../../shared/migration/survey.js';
import { unifiedDiff } from '../../../shared/text-diff.js';

/** findface-sf-api-migrate's settings the reference's migration.ini uses (and the sample is taken with). */
export const MIGRATE_WORKERS = 3;
export const MIGRATE_BATCH = 8;
export const MIGRATE_FACES_LIMIT = 100;
/** findface-upload's WebDAV, where the reference's migration.ini reads normalized images. */
export const DEFAULT_NORMALIZED_URL = 'http://127.0.0.1:3333/uploads/';
/** A verified snapshot older than this does not count as recent. */
export const RECENT_VERIFIED_MS = 7 * 24 * 3600_000;
/** Room above the estimate of the new shards' size. */
const DISK_MARGIN = 1.1;

export interface PlanCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface PlanStep {
  n: number;
  title: string;
  /** The agent host the step runs on, when it runs on one. */
  host?: string;
  commands: string[];
  /**
   * The files the step writes, after its commands: each one's whole new text, and for an edit of an
   * existing file (or a copy) the diff from the file it started from.
   */
  files?: { path: string; content: string; diff?: string }[];
  note?: string;
}

export interface PlannedShard {
  host: string;
  from: { name: string; unit: string; instanceFile: string; listen: number; http?: number; dirs: string[] };
  to: { name: string; unit: string; instanceFile: string; listen: number; http?: number; dirs: string[]; url?: string };
  faces: number;
  dataBytes: number;
}

export interface MigrationPlan {
  site: string;
  createdAt: string;
  fromModel?: string;
  toModel: string;
  portOffset: number;
  shards: PlannedShard[];
  faces: { total: number; byGallery: Record<string, number> };
  sample?: ExtractionSample & { facesPerSecond?: number };
  estimateSeconds?: number;
  /** `--regenerate-normalized`: the time the regeneration takes at the detector's measured rate (the sample's detection). */
  regenerateSeconds?: number;
  disk: { host: string; dir: string; needBytes: number; freeBytes: number }[];
  snapshot?: { id: string; createdAt: string; verifiedAt: string };
  checks: PlanCheck[];
  steps: PlanStep[];
  /** sf-api: its host and unit, its shard list now and after the switch, the extraction-api and normalized images it uses. */
  sfApi?: { host: string; unit: string; shards: string[]; newShards: string[]; extractionApiUrl?: string; normalizedUrl: string };
  /** The extraction-api: its host and unit. */
  extraction?: { host: string; unit: string };
  /**
   * `--regenerate-normalized`: the face detector configured now, the one `--to-detector` switches to, and the
   * agents that read the source photos' paths and write the images.
   */
  regenerate?: { detector?: string; toDetector?: string; dbHost?: string; filesHost?: string };
  /** Every check passed. */
  ready: boolean;
}

export interface PlanFacts {
  site: string;
  now: Date;
  toModel: string;
  portOffset: number;
  /** The site's agents: which are offline. */
  offline: string[];
  surveys: MigrationSurvey[];
  sample?: ExtractionSample;
  /** The newest snapshot whose latest verification passed. */
  verified?: { id: string; createdAt: Date; verifiedAt: Date };
  /** Asked to regenerate normalized images (with another detector): the online agents holding the database and the upload directories. */
  regenerate?: { dbHost?: string; filesHost?: string; toDetector?: string };
}

/** The reference's offset (10, `shard-001` → `shard-011`), or the smallest power of ten not below the number of shards. */
export function defaultPortOffset(shards: number): number {
  let offset = 10;
  while (offset < shards) offset *= 10;
  return offset;
}

/** A gallery model's kind (`face-mango-512` → face), or undefined for a name that is no model. */
export const kindOfGallery = (model: string): string | undefined => {
  try {
    return parseGalleryModel(model).kind;
  } catch {
    return undefined;
  }
};

const dirsOf = (f: InstanceFile): string[] => [...new Set([f.workDir, f.memtxDir, f.walDir, f.vinylDir].filter((d): d is string => d !== undefined))];


/** A new shard and its instance file's text. */
type BuiltShard = PlannedShard & { text: string; oldText: string; oldFile: InstanceFile };

interface Sections {
  sfApi?: { host: string; unit: string; path: string; text: string; shards: string[]; extractionUrl?: string; normalizedUrl?: string };
  extraction?: { host: string; unit: string; path: string; text: string; face?: ModelFile; detector?: string; modelsRoot: string; present: boolean; detectorPresent?: boolean };
  shards: { host: string; s: ShardSurvey }[];
}

function sections(surveys: readonly MigrationSurvey[], checks: PlanCheck[]): Sections {
  const out: Sections = { shards: surveys.flatMap((v) => v.shards.map((s) => ({ host: v.host, s }))) };
  const sf = surveys.find((v) => v.sfApi);
  if (!sf?.sfApi) checks.push({ name: 'sf-api', ok: false, detail: "no agent of the site serves an 'sf-api' component: the shard list (findface-sf-api.ini) is unknown" });
  else if (sf.sfApi.config.text === undefined) checks.push({ name: 'sf-api', ok: false, detail: `${sf.host}: ${sf.sfApi.config.path}: ${sf.sfApi.config.error ?? 'not read'}` });
  else {
    try {
      const c = parseSfApiConfig(sf.sfApi.config.text, sf.sfApi.config.path);
      out.sfApi = { host: sf.host, unit: sf.sfApi.unit, path: sf.sfApi.config.path, text: sf.sfApi.config.text, shards: c.shards, ...(c.extractionApiUrl ? { extractionUrl: c.extractionApiUrl } : {}), ...(c.normalizedUploadUrl ? { normalizedUrl: c.normalizedUploadUrl } : {}) };
      checks.push({ name: 'sf-api', ok: true, detail: `${sf.host}: ${sf.sfApi.config.path} lists ${c.shards.length} shard(s)` });
    } catch (err) {
      checks.push({ name: 'sf-api', ok: false, detail: `${sf.host}: ${(err as Error).message}` });
    }
  }
  const ex = surveys.find((v) => v.extractionApi);
  if (!ex?.extractionApi) checks.push({ name: 'extraction-api', ok: false, detail: "no agent of the site runs findface-extraction-api (an agent with 'extractionApi' in its config)" });
  else if (ex.extractionApi.config.text === undefined || ex.extractionApi.config.error) {
    checks.push({ name: 'extraction-api', ok: false, detail: `${ex.host}: ${ex.extractionApi.config.path}: ${ex.extractionApi.config.error ?? 'not read'}` });
  } else {
    const c = parseExtractionApiConfig(ex.extractionApi.config.text, ex.extractionApi.config.path);
    out.extraction = { host: ex.host, unit: ex.extractionApi.unit, path: ex.extractionApi.config.path, text: ex.extractionApi.config.text, ...(c.models.face ? { face: c.models.face } : {}), ...(c.faceDetector ? { detector: c.faceDetector } : {}), modelsRoot: c.modelsRoot, present: ex.extractionApi.targetModelPresent, ...(ex.extractionApi.targetDetectorPresent === undefined ? {} : { detectorPresent: ex.extractionApi.targetDetectorPresent }) };
    checks.push({ name: 'extraction-api', ok: c.models.face !== undefined, detail: c.models.face ? `${ex.host}: ${ex.extractionApi.config.path} extracts faces with ${c.models.face.file}` : `${ex.host}: ${ex.extractionApi.config.path} extracts no faces (extractors.models.face is empty)` });
  }
  return out;
}

/** The plan; every precondition that fails is a check with ok false (and `ready` false), never an exception. */
export function buildMigrationPlan(f: PlanFacts): MigrationPlan {
  const checks: PlanCheck[] = [];
  const to = parseModelFile(f.toModel);
  checks.push(f.offline.length === 0 ? { name: 'agents', ok: true, detail: `${f.surveys.length} agent(s) online` } : { name: 'agents', ok: false, detail: `offline: ${f.offline.join(', ')}` });
  const sec = sections(f.surveys, checks);
  const from = sec.extraction?.face;
  const fromGallery = from ? galleryModelOf(from.file) : undefined;
  if (to.kind !== 'face') checks.push({ name: 'target model', ok: false, detail: `${to.file} is a ${to.kind} model: a migration moves faces` });
  else if (from && from.file === to.file) {
    // A detector change alone keeps the model: every face is still re-extracted, from its new normalized image.
    const detectors = { now: sec.extraction?.detector, to: f.regenerate?.toDetector };
    checks.push(
      detectors.to && detectors.now && detectors.to !== detectors.now
        ? { name: 'target model', ok: true, detail: `the model stays ${to.file}; the face detector changes (${detectors.now} → ${detectors.to}), so every face is re-extracted from its new normalized image` }
        : { name: 'target model', ok: false, detail: `the site already extracts faces with ${to.file}${detectors.to ? ` and detects them with ${detectors.to}` : ' (a detector change alone: --to-detector FILE)'}` },
    );
  }
  else if (sec.extraction) {
    checks.push({ name: 'target model', ok: sec.extraction.present, detail: sec.extraction.present ? `${to.file} is under ${sec.extraction.modelsRoot} on ${sec.extraction.host}` : `${to.file} is not under ${sec.extraction.modelsRoot} on ${sec.extraction.host}: install the model first` });
  }

  // Galleries: the faces to re-extract, and whether they hold the model the extraction-api serves now.
  const byGallery: Record<string, number> = {};
  const stray: string[] = [];
  for (const { s } of sec.shards) {
    if (s.galleriesError) stray.push(`${s.component}: ${s.galleriesError}`);
    for (const g of s.galleries) {
      if (kindOfGallery(g.model) !== to.kind) continue;
      byGallery[g.name] = (byGallery[g.name] ?? 0) + g.count;
      if (fromGallery && g.model !== fromGallery) stray.push(`${s.component} ${g.name} holds ${g.model}`);
    }
  }
  const total = Object.values(byGallery).reduce((a, b) => a + b, 0);
  if (sec.shards.length === 0) checks.push({ name: 'galleries', ok: false, detail: 'no agent of the site serves a Tarantool shard' });
  else checks.push(stray.length === 0 ? { name: 'galleries', ok: true, detail: `${total} face(s) in ${Object.keys(byGallery).length} galler${Object.keys(byGallery).length === 1 ? 'y' : 'ies'} over ${sec.shards.length} shard(s)${fromGallery ? `, all ${fromGallery}` : ''}` } : { name: 'galleries', ok: false, detail: `not every face gallery holds the extraction-api's model ${fromGallery ?? '?'}: ${stray.join('; ')}` });

  // The new shards, in sf-api's order.
  const built: BuiltShard[] = [];
  const shardProblems: string[] = [];
  const takenNames = new Set(sec.shards.map(({ s }) => s.name));
  // Each shard's instance file, read once; one that does not parse is a failed precondition, not an error.
  const oldFiles = new Map<ShardSurvey, InstanceFile>();
  for (const { host, s } of sec.shards) {
    if (s.instanceFile.text === undefined) continue;
    try {
      oldFiles.set(s, parseInstanceFile(s.instanceFile.text, s.instanceFile.path));
    } catch (err) {
      shardProblems.push(`${host} ${s.component}: ${(err as Error).message}`);
    }
  }
  const takenPorts = new Set(sec.shards.flatMap(({ s }) => [s.port, oldFiles.get(s)?.http?.port]).filter((p): p is number => p !== undefined));
  const ports: string[] = [];
  for (const { host, s } of sec.shards) {
    if (s.instanceFile.text === undefined) {
      shardProblems.push(`${host} ${s.component}: instance file ${s.instanceFile.path}: ${s.instanceFile.error ?? 'not read'}`);
      continue;
    }
    if (!s.target) {
      shardProblems.push(`${host} ${s.component}: ${s.targetError ?? 'no new shard derived'}`);
      continue;
    }
    const old = oldFiles.get(s);
    if (!old) continue;
    let text: string;
    try {
      text = shiftInstanceFile(s.instanceFile.text, s.instanceFile.path, { fromName: s.name, toName: s.target.name, portOffset: f.portOffset });
    } catch (err) {
      shardProblems.push(`${host} ${s.component}: ${(err as Error).message}`);
      continue;
    }
    const neu = parseInstanceFile(text, s.target.instanceFile);
    if (takenNames.has(s.target.name)) shardProblems.push(`${host}: the new shard name ${s.target.name} is an existing shard's`);
    for (const p of [neu.listen.port, neu.http?.port]) if (p !== undefined && takenPorts.has(p)) shardProblems.push(`${host}: port ${p} of ${s.target.name} is an existing shard's`);
    if (s.target.existing.length > 0) shardProblems.push(`${host}: ${s.target.existing.join(', ')} already exist(s)`);
    for (const p of [s.target.listen, s.target.http]) if (p && !p.free) ports.push(`${host} ${s.target.name}: ${p.detail ?? `port ${p.port} is in use`}`);
    const faces = s.galleries.filter((g) => kindOfGallery(g.model) === to.kind).reduce((a, g) => a + g.count, 0);
    const url = neu.http ? `http://${neu.http.host}:${neu.http.port}/v2/` : undefined;
    built.push({
      text,
      oldText: s.instanceFile.text,
      oldFile: old,
      host,
      from: { name: s.name, unit: s.unit, instanceFile: s.instanceFile.path, listen: old.listen.port, ...(old.http ? { http: old.http.port } : {}), dirs: dirsOf(old) },
      to: { name: s.target.name, unit: s.unit.replace(s.name, s.target.name), instanceFile: s.target.instanceFile, listen: neu.listen.port, ...(neu.http ? { http: neu.http.port } : {}), dirs: dirsOf(neu), ...(url ? { url } : {}) },
      faces,
      dataBytes: s.dataBytes,
    });
  }
  // sf-api's order: a record's shard is its position in that list.
  const order = sec.sfApi?.shards.map(portOfUrl) ?? [];
  const listed = new Set(order);
  const unlisted = built.filter((p) => p.from.http === undefined || !listed.has(p.from.http));
  const missing = order.filter((port) => !built.some((p) => p.from.http === port));
  if (sec.sfApi && unlisted.length > 0) shardProblems.push(`not in ${sec.sfApi.path}: ${unlisted.map((p) => `${p.host} ${p.from.name}`).join(', ')}`);
  if (sec.sfApi && missing.length > 0) shardProblems.push(`${sec.sfApi.path} lists shards on port(s) ${missing.join(', ')} no agent of the site serves`);
  built.sort((a, b) => order.indexOf(a.from.http ?? -1) - order.indexOf(b.from.http ?? -1));
  checks.push(shardProblems.length === 0 ? { name: 'new shards', ok: built.length > 0, detail: built.map((p) => `${p.from.name} → ${p.to.name}`).join(', ') || 'none' } : { name: 'new shards', ok: false, detail: shardProblems.join('; ') });
  checks.push(ports.length === 0 ? { name: 'ports', ok: true, detail: `free: ${built.flatMap((p) => [p.to.listen, p.to.http]).filter((p) => p !== undefined).join(', ')}` } : { name: 'ports', ok: false, detail: ports.join('; ') });

  // Disk: the new shards next to the old ones, their vectors scaled to the new model's size.
  const ratio = from && from.dim > 0 ? Math.max(1, to.dim / from.dim) : 1;
  const disk = new Map<string, { host: string; dir: string; needBytes: number; freeBytes: number }>();
  for (const { host, s } of sec.shards) {
    if (!s.target) continue;
    const key = `${host}\0${s.target.freeDir}`;
    const d = disk.get(key) ?? { host, dir: s.target.freeDir, needBytes: 0, freeBytes: s.target.freeBytes };
    d.needBytes += Math.ceil(s.dataBytes * ratio * DISK_MARGIN);
    disk.set(key, d);
  }
  const short = [...disk.values()].filter((d) => d.freeBytes < d.needBytes);
  checks.push(short.length === 0 ? { name: 'disk', ok: true, detail: [...disk.values()].map((d) => `${d.host} ${d.dir}: ${formatBytes(d.needBytes)} needed, ${formatBytes(d.freeBytes)} free`).join('; ') || 'nothing to place' } : { name: 'disk', ok: false, detail: short.map((d) => `${d.host} ${d.dir}: ${formatBytes(d.needBytes)} needed, only ${formatBytes(d.freeBytes)} free`).join('; ') });

  if (f.regenerate) checks.push(...regenerateChecks(f.regenerate, sec.extraction));

  // A recent verified snapshot: the way back if everything else fails.
  const age = f.verified ? f.now.getTime() - f.verified.verifiedAt.getTime() : Infinity;
  checks.push(
    f.verified && age <= RECENT_VERIFIED_MS
      ? { name: 'verified snapshot', ok: true, detail: `${f.verified.id} (taken ${f.verified.createdAt.toISOString()}), verified ${f.verified.verifiedAt.toISOString()}` }
      : { name: 'verified snapshot', ok: false, detail: `${f.verified ? `the newest verified snapshot ${f.verified.id} was verified ${f.verified.verifiedAt.toISOString()}, more than 7 days ago` : 'the site has no verified snapshot'}: ffkeeper snapshot create --site ${f.site} && ffkeeper verify --site ${f.site}` },
  );

  // The measured extraction rate.
  let estimateSeconds: number | undefined;
  let sample: MigrationPlan['sample'];
  if (f.sample) {
    const rate = f.sample.extracted > 0 && f.sample.ms > 0 ? f.sample.extracted / (f.sample.ms / 1000) : undefined;
    sample = { ...f.sample, ...(rate ? { facesPerSecond: rate } : {}) };
    if (rate) estimateSeconds = total / rate;
    checks.push(f.sample.error || !rate ? { name: 'extraction sample', ok: false, detail: `${f.sample.host}: ${f.sample.error ?? `none of ${f.sample.faces} image(s) extracted`}` } : { name: 'extraction sample', ok: true, detail: `${f.sample.extracted}/${f.sample.faces} face(s) in ${f.sample.ms.toFixed(0)} ms with ${f.sample.model ?? '?'} (${rate.toFixed(0)} faces/s${f.sample.failed > 0 ? `; ${f.sample.failed} image(s) failed` : ''})` });
  } else if (sec.sfApi && !sec.sfApi.extractionUrl) {
    checks.push({ name: 'extraction sample', ok: false, detail: `${sec.sfApi.path} names no extraction-api (extraction-api.extraction-api)` });
  }
  // The detector's measured rate (a regeneration): the current detector's, the images it made being the rate's own.
  let regenerateSeconds: number | undefined;
  const det = f.regenerate ? f.sample?.detection : undefined;
  if (det) {
    const rate = det.detected > 0 && det.ms > 0 ? det.detected / (det.ms / 1000) : undefined;
    if (rate) regenerateSeconds = total / rate;
    checks.push(det.error || !rate ? { name: 'detector sample', ok: false, detail: `${f.sample?.host ?? '?'}: ${det.error ?? `none of ${det.photos} image(s) got a normalized image`}` } : { name: 'detector sample', ok: true, detail: `${det.detected}/${det.photos} image(s) of the uploads root in ${det.ms.toFixed(0)} ms with ${det.detector ?? '?'} (${rate.toFixed(0)} images/s${det.failed > 0 ? `; no face in ${det.failed}` : ''})` });
  }

  const newShards = (sec.sfApi?.shards ?? []).map((u) => built.find((s) => s.from.http === portOfUrl(u))?.to.url ?? '?');
  return {
    site: f.site,
    createdAt: f.now.toISOString(),
    ...(from ? { fromModel: from.file } : {}),
    toModel: to.file,
    portOffset: f.portOffset,
    shards: built.map(({ text: _text, oldText: _old, oldFile: _file, ...p }) => p),
    faces: { total, byGallery },
    ...(sample ? { sample } : {}),
    ...(estimateSeconds !== undefined ? { estimateSeconds } : {}),
    ...(regenerateSeconds !== undefined ? { regenerateSeconds } : {}),
    disk: [...disk.values()],
    ...(f.verified ? { snapshot: { id: f.verified.id, createdAt: f.verified.createdAt.toISOString(), verifiedAt: f.verified.verifiedAt.toISOString() } } : {}),
    checks,
    steps: stepsOf(f, sec, built, { to, total, ...(estimateSeconds !== undefined ? { estimateSeconds } : {}), ...(regenerateSeconds !== undefined ? { regenerateSeconds } : {}) }),
    ...(sec.sfApi
      ? { sfApi: { host: sec.sfApi.host, unit: sec.sfApi.unit, shards: sec.sfApi.shards, newShards, ...(sec.sfApi.extractionUrl ? { extractionApiUrl: sec.sfApi.extractionUrl } : {}), normalizedUrl: sec.sfApi.normalizedUrl ?? DEFAULT_NORMALIZED_URL } }
      : {}),
    ...(sec.extraction ? { extraction: { host: sec.extraction.host, unit: sec.extraction.unit } } : {}),
    ...(f.regenerate ? { regenerate: { ...(sec.extraction?.detector ? { detector: sec.extraction.detector } : {}), ...f.regenerate } } : {}),
    ready: checks.every((c) => c.ok),
  };
}

/** `--regenerate-normalized`: a face detector configured, and agents to read the source photos' paths and to write the images. */
function regenerateChecks(r: NonNullable<PlanFacts['regenerate']>, ex: Sections['extraction']): PlanCheck[] {
  const checks: PlanCheck[] = [];
  if (ex) {
    checks.push(
      ex.detector
        ? { name: 'detector', ok: true, detail: `${ex.host}: ${ex.path} detects faces with ${ex.detector}` }
        : { name: 'detector', ok: false, detail: `${ex.host}: ${ex.path} configures no face detector (detectors.models has no entry named or aliased face): normalized images cannot be made again` },
    );
    if (r.toDetector) {
      checks.push(
        ex.detectorPresent
          ? { name: 'target detector', ok: true, detail: `${r.toDetector} is under ${ex.modelsRoot} on ${ex.host}` }
          : { name: 'target detector', ok: false, detail: `${r.toDetector} is not under ${ex.modelsRoot} on ${ex.host}: install the detector first` },
      );
    }
  }
  const missing = [...(r.dbHost ? [] : ["findface-security's database (a 'postgres' component)"]), ...(r.filesHost ? [] : ["the upload directories (an 'uploads' component)"])];
  checks.push(
    missing.length === 0
      ? { name: 'regeneration', ok: true, detail: `source photos found through the database on ${r.dbHost ?? '?'}; normalized images made again on ${r.filesHost ?? '?'}` }
      : { name: 'regeneration', ok: false, detail: `no online agent holds ${missing.join(' or ')}` },
  );
  return checks;
}

const q = (s: string): string => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);

/** The tnt_schema.lua the shards' instance files load (FindFace's path when they name none). */
function tntSchemaOf(shards: readonly BuiltShard[]): string {
  for (const s of shards) if (s.oldFile.tntSchema) return s.oldFile.tntSchema;
  return '/etc/findface-security/tnt_schema.lua';
}

function hostsOf(shards: readonly BuiltShard[]): string {
  return [...new Set(shards.map((s) => s.host))].join(', ');
}

/** FindFace's procedure (reference 001) for this site: what to run where, and what each config edit is. */
function stepsOf(f: PlanFacts, sec: Sections, shards: readonly BuiltShard[], m: { to: ModelFile; total: number; estimateSeconds?: number; regenerateSeconds?: number }): PlanStep[] {
  const steps: Omit<PlanStep, 'n'>[] = [];
  const sf = sec.sfApi;
  const ex = sec.extraction;
  steps.push({
    title: 'Take a snapshot of the site (the way back; it holds the galleries, the database and the photos)',
    commands: [`ffkeeper snapshot create --site ${f.site} --reason ${q(`before migrating to ${m.to.file}`)}`],
    note: "in place of the reference's findface-storage-api-dump, which saves the galleries only",
  });
  if (sf) steps.push({ title: 'Stop findface-sf-api', host: sf.host, commands: [`systemctl stop ${sf.unit}`] });
  steps.push({
    title: `Create ${shards.length} new shard(s)`,
    host: hostsOf(shards),
    commands: shards.flatMap((s) => {
      const enabled = path.join(path.dirname(path.dirname(s.to.instanceFile)), 'instances.enabled');
      return [`cp ${q(s.from.instanceFile)} ${q(s.to.instanceFile)}`, `ln -s ${q(s.to.instanceFile)} ${q(enabled)}/`, `mkdir -p ${s.to.dirs.map(q).join(' ')}`, `chown tarantool:tarantool ${s.to.dirs.map(q).join(' ')}`];
    }),
    files: shards.map((s) => ({ path: s.to.instanceFile, diff: unifiedDiff(s.oldText, s.text, s.from.instanceFile, s.to.instanceFile), content: s.text })),
  });
  const toDetector = f.regenerate?.toDetector;
  if (ex) {
    const model = setExtractionModel(ex.text, 'face', m.to.file, ex.path);
    const text = toDetector ? setFaceDetector(model, toDetector, ex.path) : model;
    steps.push({ title: `Switch findface-extraction-api to ${m.to.file}${toDetector ? ` and its face detector to ${toDetector}` : ''}`, host: ex.host, commands: [], files: [{ path: ex.path, diff: unifiedDiff(ex.text, text, ex.path, ex.path), content: text }] });
    steps.push({ title: 'Restart findface-extraction-api', host: ex.host, commands: [`systemctl restart ${ex.unit}`] });
  }
  if (f.regenerate) {
    steps.push({
      title: `Make each face's normalized image again from its source photo with the detector ${toDetector ?? ex?.detector ?? '?'}`,
      ...(f.regenerate.filesHost ? { host: f.regenerate.filesHost } : {}),
      commands: [],
      note: `${m.regenerateSeconds !== undefined ? `about ${formatDuration(m.regenerateSeconds * 1000)} at the detector's measured rate (the sample ran with the detector configured now); ` : ''}ffkeeper's own step (FindFace's findface-regenerate --regenerate=normalized works on the SDK's MongoDB): the source photo of each dossier face and event (ffsecurity_dossierface.source_photo, ffsecurity_event.fullframe) sent to the extraction-api's detector, the image it returns written in place of the normalized one; the images replaced are kept in <ffupload>/.ffk-migration-<job>/ until migrate finish (a rollback puts them back)`,
    });
  }
  steps.push({
    title: 'Regenerate tnt_schema.lua',
    commands: [`findface-security make_tnt_schema | tee ${q(tntSchemaOf(shards))}`],
    note: 'on the findface-security host, before the new shards start: they create their galleries with the model it names; the reference regenerates it once more after the switch',
  });
  steps.push({ title: 'Start the new shards', host: hostsOf(shards), commands: shards.map((s) => `systemctl start ${s.to.unit}`) });
  const urls = (sf?.shards ?? []).map((u) => shards.find((s) => s.from.http === portOfUrl(u))?.to.url ?? '?');
  const ini = migrationIniText({
    extractionApiUrl: sf?.extractionUrl ?? '?',
    from: sf?.shards ?? [],
    to: urls,
    workers: MIGRATE_WORKERS,
    facesLimit: MIGRATE_FACES_LIMIT,
    extractionBatchSize: MIGRATE_BATCH,
    normalizedUploadUrl: sf?.normalizedUrl ?? DEFAULT_NORMALIZED_URL,
  });
  steps.push({ title: 'Write migration.ini', ...(sf ? { host: sf.host } : {}), commands: [], files: [{ path: 'migration.ini', content: ini }] });
  steps.push({
    title: `Re-extract ${m.total} face(s) with ${m.to.file} into the new shards`,
    ...(sf ? { host: sf.host } : {}),
    commands: ['findface-sf-api-migrate -config migration.ini'],
    note: m.estimateSeconds !== undefined ? `about ${formatDuration(m.estimateSeconds * 1000)} at the measured extraction rate (the sample ran with the model served now)` : 'no estimate: no extraction sample',
  });
  steps.push({ title: 'Stop the old shards and disable their autostart (do not remove them: they are the way back)', host: hostsOf(shards), commands: shards.flatMap((s) => [`systemctl stop ${s.from.unit}`, `systemctl disable ${s.from.unit}`]) });
  if (sf) {
    const text = setSfApiShards(sf.text, urls, sf.path);
    steps.push({ title: 'Point findface-sf-api at the new shards', host: sf.host, commands: [], files: [{ path: sf.path, diff: unifiedDiff(sf.text, text, sf.path, sf.path), content: text }] });
    steps.push({ title: 'Start findface-sf-api', host: sf.host, commands: [`systemctl start ${sf.unit}`] });
  }
  steps.push({ title: "Re-create FindFace's database structure, groups and first user", commands: ['findface-security migrate', 'findface-security create_groups', 'findface-security create_default_user'], note: 'on the findface-security host' });
  steps.push({
    title: 'Restart the services',
    commands: ['systemctl restart findface-security', `systemctl restart ${[ex?.unit ?? 'findface-extraction-api', 'findface-video-worker*', 'findface-video-manager', sf?.unit ?? 'findface-sf-api'].join(' ')}`],
  });
  return steps.map((s, i) => ({ n: i + 1, ...s }));
}
