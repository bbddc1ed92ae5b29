/**
 * This host's steps of a model migration job (shared/migration/ops.ts): a new shard made from an old one,
 * config edits that read back, units, tnt_schema.lua, and the re-extraction of a gallery batch by batch
 * with its cursor kept in the new shard. Every step can be asked again and ends in the same state. The
 * host's files, units, shards and HTTP are behind `MigrationOpsHost` (agent/adapters/migration.ts).
 */
import path from 'node:path';
import type { AgentConfig } from '../../../shared/config/agent.js';
import { ConflictError, IllegalStateError, NotFoundError, ValidationError } from '../../../shared/errors.js';
import { parseExtractionApiConfig, setExtractionModel, setFaceDetector } from '../../../shared/findface/extraction-api-ini.js';
import { parseInstanceFile, shiftInstanceFile } from '../../../shared/findface/instance-file.js';
import { galleryModelOf, parseGalleryModel, parseModelFile } from '../../../shared/findface/models.js';
import { parseSfApiConfig, setSfApiShards } from '../../../shared/findface/sf-api-ini.js';
import { chunks, mapLimit } from '../../../shared/concurrency.js';
import type { ConfigEdit, CreatedShard, FailedFace, MigrationOpResult, ReextractBatch } from '../../../shared/migration/ops.js';
import type { MigrationRequest, MigrationResult } from '../../../shared/migration/survey.js';
import { unifiedDiff } from '../../../shared/text-diff.js';
import type { ExportBatch, GalleryInfo } from '../drivers/tarantool/ports.js';
import { adopt, adoptionFileOf, parseAdoption } from './adopt.js';
import { faceSources, normalizedAside, regenerate, type RegenerateHost } from './regenerate.js';
import { instanceFileOf, sample, siblingPaths, survey, type MigrationHost } from './survey.js';

type TarantoolComponent = Extract<AgentConfig['components'][number], { kind: 'tarantool' }>;
type OpRequest = Exclude<MigrationRequest, { op: 'survey' } | { op: 'sample' }>;

/** The new shard's side of a migration: the old shard's reads and the new shard's bookkeeping. */
export interface MigrationShard {
  readonly address: string;
  listGalleries(): Promise<GalleryInfo[]>;
  exportBatch(gallery: string, afterKey: string | undefined, limit: number): Promise<ExportBatch>;
  ensureGallery(gallery: { name: string; model: string; dim: number }): Promise<void>;
  migrateBatch(b: { migration: string; gallery: string; cursorBefore: string; cursorAfter: string; lines: Buffer[]; failed: { id: string; reason: string }[]; done: boolean }): Promise<number>;
  keysAfter(gallery: string, afterKey: string | undefined, limit: number): Promise<string[]>;
  /** The gallery's greatest primary key (decimal text), undefined when it is empty. */
  maxKey(gallery: string): Promise<string | undefined>;
  missingKeys(gallery: string, keys: readonly string[]): Promise<string[]>;
  deleteKeys(gallery: string, keys: readonly string[]): Promise<number>;
  readMigration(migration: string, maxFailed: number): Promise<{ galleries: Record<string, { cursor: string; written: number; failed: number; done: boolean }>; failed: FailedFace[] }>;
  close(): Promise<void>;
}

export interface MigrationOpsHost extends MigrationHost, RegenerateHost {
  /** Writes through a temporary file and a rename. */
  writeFile(file: string, text: string): Promise<void>;
  /** Where a symbolic link points, or undefined when `file` is none. */
  linkTarget(file: string): Promise<string | undefined>;
  symlink(target: string, link: string): Promise<void>;
  mkdirs(dirs: readonly string[]): Promise<void>;
  /** Gives the directories to the `tarantool` user when the host has one. */
  chownTarantool(dirs: readonly string[]): Promise<void>;
  unit(action: 'start' | 'stop' | 'restart' | 'enable' | 'disable', unit: string): Promise<void>;
  isActive(unit: string): Promise<boolean>;
  /** Runs a command (PATH with the agent's pathPrepend); throws naming it and its output when it fails. */
  run(command: readonly string[], timeoutMs: number): Promise<string>;
  shard(component: TarantoolComponent): MigrationShard;
  /** A normalized image from findface-upload; undefined when it has none (404). */
  fetchImage(url: string): Promise<Buffer | undefined>;
  /** One extraction batch: each image's vector (base64) or why it has none, and the model file used. */
  extract(url: string, images: readonly Buffer[]): Promise<{ file: string; results: { facen?: string; error?: string }[] }>;
}

/** How long findface-security's own commands may take (migrate on a large database). */
const SECURITY_COMMAND_MS = 600_000;
/** Failed faces a progress report carries at most. */
const MAX_FAILED_REPORTED = 1000;

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function shardOf(config: AgentConfig, name: string): TarantoolComponent {
  const s = config.components.find((c): c is TarantoolComponent => c.kind === 'tarantool' && c.name === name);
  if (!s) throw new NotFoundError(`agent ${config.site}/${config.host} serves no shard '${name}' (it serves: ${config.components.filter((c) => c.kind === 'tarantool').map((c) => c.name).join(', ') || 'none'})`);
  return s;
}

/** The new shard derived from one of this agent's shards: its instance file's text and the component it makes. */
async function siblingOf(config: AgentConfig, host: MigrationOpsHost, name: string, portOffset: number): Promise<{ old: TarantoolComponent; oldFile: string; text: string; created: CreatedShard; component: TarantoolComponent }> {
  const old = shardOf(config, name);
  const oldFile = instanceFileOf(old);
  const oldText = await host.readText(oldFile);
  const parsedOld = parseInstanceFile(oldText, oldFile);
  const where = siblingPaths(old, oldFile, parsedOld.workDir, portOffset);
  const text = shiftInstanceFile(oldText, oldFile, { fromName: old.name, toName: where.name, portOffset });
  const neu = parseInstanceFile(text, where.instanceFile);
  const rename = (dir: string | undefined): string | undefined => dir?.split('/').map((seg) => (seg === old.name ? where.name : seg)).join('/');
  const memtxDir = neu.memtxDir ?? rename(old.memtxDir) ?? old.memtxDir;
  const walDir = neu.walDir ?? rename(old.walDir) ?? old.walDir;
  const vinylDir = neu.vinylDir ?? rename(old.vinylDir);
  const enabledDir = path.join(path.dirname(path.dirname(where.instanceFile)), 'instances.enabled');
  const oldLinked = (await host.linkTarget(path.join(enabledDir, path.basename(oldFile)))) !== undefined;
  const unit = old.unit.replace(old.name, where.name);
  const created: CreatedShard = {
    from: old.name,
    name: where.name,
    unit,
    instanceFile: where.instanceFile,
    ...(oldLinked ? { enabledLink: path.join(enabledDir, `${where.name}.lua`) } : {}),
    dirs: [...new Set([neu.workDir ?? where.workDir, memtxDir, walDir, ...(vinylDir ? [vinylDir] : [])])],
    listen: neu.listen,
    ...(neu.http ? { http: neu.http } : {}),
    created: false,
  };
  const component: TarantoolComponent = {
    ...old,
    name: where.name,
    port: neu.listen.port,
    ...(neu.http ? { httpPort: neu.http.port } : {}),
    memtxDir,
    walDir,
    ...(vinylDir ? { vinylDir } : {}),
    unit,
    instanceFile: where.instanceFile,
  };
  return { old, oldFile, text, created, component };
}

async function createShard(config: AgentConfig, host: MigrationOpsHost, name: string, portOffset: number): Promise<CreatedShard> {
  const s = await siblingOf(config, host, name, portOffset);
  const file = s.created.instanceFile;
  let created = false;
  if (await host.exists(file)) {
    const now = await host.readText(file);
    if (now !== s.text) throw new ConflictError(`${file} already exists and is not the copy of ${s.oldFile} this migration makes: move it away or choose another --port-offset`);
  } else {
    await host.writeFile(file, s.text);
    created = true;
  }
  if (s.created.enabledLink) {
    const target = await host.linkTarget(s.created.enabledLink);
    if (target === undefined) {
      if (await host.exists(s.created.enabledLink)) throw new ConflictError(`${s.created.enabledLink} exists and is no link`);
      await host.symlink(file, s.created.enabledLink);
    } else if (path.resolve(path.dirname(s.created.enabledLink), target) !== file) throw new ConflictError(`${s.created.enabledLink} points at ${target}, not ${file}`);
  }
  await host.mkdirs(s.created.dirs);
  await host.chownTarantool(s.created.dirs);
  // The check: the file reads back as written.
  if ((await host.readText(file)) !== s.text) throw new IllegalStateError(`${file} does not read back as written`);
  return { ...s.created, created };
}

async function editFile(host: MigrationOpsHost, file: string, edit: (text: string) => string | undefined, check: (text: string) => boolean): Promise<ConfigEdit> {
  const before = await host.readText(file);
  const after = edit(before);
  if (after === undefined) return { path: file, changed: false, diff: '' };
  await host.writeFile(file, after);
  const back = await host.readText(file);
  if (!check(back)) throw new IllegalStateError(`${file} does not read back as written`);
  return { path: file, changed: true, diff: unifiedDiff(before, after, file, file) };
}

function setModel(config: AgentConfig, host: MigrationOpsHost, req: Extract<OpRequest, { op: 'set-extraction-model' }>): Promise<ConfigEdit> {
  const ex = config.extractionApi;
  if (!ex) throw new NotFoundError(`agent ${config.site}/${config.host} runs no findface-extraction-api (no extractionApi in its config)`);
  const { from, to, fromDetector, toDetector } = req;
  const read = (text: string): { face?: string; detector?: string } => {
    const c = parseExtractionApiConfig(text, ex.configPath);
    return { ...(c.models.face ? { face: c.models.face.file } : {}), ...(c.faceDetector ? { detector: c.faceDetector } : {}) };
  };
  const wanted = (text: string): boolean => {
    const now = read(text);
    return now.face === to && (toDetector === undefined || now.detector === toDetector);
  };
  return editFile(
    host,
    ex.configPath,
    (text) => {
      if (wanted(text)) return undefined;
      const now = read(text);
      if (now.face !== from && now.face !== to) throw new ConflictError(`${ex.configPath} extracts faces with ${now.face ?? 'nothing'}, neither ${from} (the migration's old model) nor ${to}`);
      if (toDetector !== undefined && now.detector !== fromDetector && now.detector !== toDetector) throw new ConflictError(`${ex.configPath} detects faces with ${now.detector ?? 'nothing'}, neither ${fromDetector ?? 'nothing'} (the migration's old detector) nor ${toDetector}`);
      const model = now.face === to ? text : setExtractionModel(text, 'face', to, ex.configPath);
      return toDetector === undefined || now.detector === toDetector ? model : setFaceDetector(model, toDetector, ex.configPath);
    },
    wanted,
  );
}

function setShards(config: AgentConfig, host: MigrationOpsHost, from: readonly string[], to: readonly string[]): Promise<ConfigEdit> {
  const sf = config.components.find((c) => c.kind === 'sf-api');
  if (sf?.kind !== 'sf-api') throw new NotFoundError(`agent ${config.site}/${config.host} serves no sf-api`);
  const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
  const shardsOf = (text: string): string[] => parseSfApiConfig(text, sf.configPath).shards;
  return editFile(
    host,
    sf.configPath,
    (text) => {
      const now = shardsOf(text);
      if (same(now, to)) return undefined;
      if (!same(now, from)) throw new ConflictError(`${sf.configPath} lists shards ${now.join(', ')}: neither the migration's old (${from.join(', ')}) nor its new ones`);
      return setSfApiShards(text, to, sf.configPath);
    },
    (text) => same(shardsOf(text), to),
  );
}

/** tnt_schema.lua as this agent's shards load it: the one path their instance files `dofile`. */
async function writeTntSchema(config: AgentConfig, host: MigrationOpsHost, text: string): Promise<ConfigEdit> {
  const paths = new Set<string>();
  for (const c of config.components) {
    if (c.kind !== 'tarantool') continue;
    const file = instanceFileOf(c);
    const p = parseInstanceFile(await host.readText(file), file).tntSchema;
    if (p) paths.add(p);
  }
  if (paths.size !== 1) throw new IllegalStateError(`agent ${config.site}/${config.host}: its shards' instance files load ${paths.size === 0 ? 'no tnt_schema.lua' : `several: ${[...paths].join(', ')}`}`);
  const file = [...paths][0] as string;
  return editFile(host, file, (now) => (now === text ? undefined : text), (back) => back === text);
}

function unitOf(config: AgentConfig, target: Extract<OpRequest, { op: 'unit' }>['target'], sibling: (name: string, offset: number) => Promise<TarantoolComponent>): Promise<string> | string {
  if (target.kind === 'shard') return target.portOffset ? sibling(target.shard, target.portOffset).then((c) => c.unit) : shardOf(config, target.shard).unit;
  if (target.kind === 'sf-api') {
    const sf = config.components.find((c) => c.kind === 'sf-api');
    if (sf?.kind !== 'sf-api') throw new NotFoundError(`agent ${config.site}/${config.host} serves no sf-api`);
    return sf.unit;
  }
  if (target.kind === 'extraction-api') {
    if (!config.extractionApi) throw new NotFoundError(`agent ${config.site}/${config.host} runs no findface-extraction-api`);
    return config.extractionApi.unit;
  }
  if (!config.findfaceSecurity) throw new NotFoundError(`agent ${config.site}/${config.host} runs no findface-security (no findfaceSecurity in its config)`);
  return config.findfaceSecurity.unit;
}

const ID = /"id":\s*"?(\d+)/;
const NORM = /"norm":\s*"((?:[^"\\]|\\.)*)"/;
const FEAT = /"feat":\s*"[^"]*"/;

/** One batch of a gallery, from the cursor the new shard keeps (see shared/migration/ops.ts `reextract`). */
async function reextract(config: AgentConfig, host: MigrationOpsHost, req: Extract<OpRequest, { op: 'reextract' }>): Promise<ReextractBatch> {
  const started = host.now();
  const s = await siblingOf(config, host, req.shard, req.portOffset);
  const [source, target] = req.reverse ? [s.component, s.old] : [s.old, s.component];
  const from = host.shard(source);
  const to = host.shard(target);
  try {
    const g = (await from.listGalleries()).find((x) => x.name === req.gallery);
    if (!g) throw new NotFoundError(`shard ${source.name} (${from.address}) has no gallery '${req.gallery}'`);
    const face = parseGalleryModel(g.model).kind === 'face';
    const model = face ? { model: galleryModelOf(req.toModel), dim: parseModelFile(req.toModel).dim } : { model: g.model, dim: g.dim };
    await to.ensureGallery({ name: g.name, ...model });
    // Always from the stored cursor, also past a gallery once done: records added since (a catch-up) follow.
    const progress = (await to.readMigration(req.migration, 0)).galleries[g.name];
    const stored = progress?.cursor ?? '';
    // A carry-back starts after the old shard's last record: those after it were written since the switch.
    const cursor = progress || !req.reverse ? stored : ((await to.maxKey(g.name)) ?? '');
    const base = { gallery: g.name, cursor, read: 0, written: 0, failed: [] as FailedFace[], extracted: 0 };
    const batch = await from.exportBatch(g.name, cursor === '' ? undefined : cursor, req.limit);
    const done = batch.lines.length < req.limit;
    let lines = batch.lines;
    const failed: FailedFace[] = [];
    let extracted = 0;
    if (face && lines.length > 0) {
      const r = await reextractLines(host, req, g.name, lines);
      lines = r.lines;
      failed.push(...r.failed);
      extracted = r.extracted;
    }
    const after = batch.lastKey ?? cursor;
    const written = await to.migrateBatch({ migration: req.migration, gallery: g.name, cursorBefore: stored, cursorAfter: after, lines, failed: failed.map((f) => ({ id: f.id, reason: f.reason })), done });
    return { ...base, cursor: after, read: batch.lines.length, written, failed, extracted, done, ms: host.now() - started };
  } finally {
    await Promise.all([from.close(), to.close()]);
  }
}

/** The lines with their vectors re-extracted; faces without an image or a vector are left out and listed. */
async function reextractLines(host: MigrationOpsHost, req: Extract<OpRequest, { op: 'reextract' }>, gallery: string, lines: readonly Buffer[]): Promise<{ lines: Buffer[]; failed: FailedFace[]; extracted: number }> {
  const failed: FailedFace[] = [];
  const records = lines.map((line) => {
    const text = line.toString('utf8');
    const norm = NORM.exec(text)?.[1];
    return { text, id: ID.exec(text)?.[1] ?? '?', norm: norm === undefined ? undefined : (JSON.parse(`"${norm}"`) as string) };
  });
  const base = req.normalizedUrl.endsWith('/') ? req.normalizedUrl : `${req.normalizedUrl}/`;
  const imageOf = async (r: (typeof records)[number]): Promise<Buffer | undefined> => {
    if (!r.norm) {
      failed.push({ gallery, id: r.id, reason: 'the record names no normalized image' });
      return undefined;
    }
    const url = new URL(r.norm.split('/').map(encodeURIComponent).join('/'), base).toString();
    const image = await host.fetchImage(url);
    if (!image) failed.push({ gallery, id: r.id, reason: `normalized image ${r.norm}: missing (${url})` });
    return image;
  };
  // Each worker fetches its batch's images, then has them extracted: fetching overlaps the other workers' extraction.
  let extracted = 0;
  const answers = await mapLimit(chunks(records, req.batchSize), req.workers, async (b) => {
    const images = await Promise.all(b.map(imageOf));
    const ready = b.flatMap((r, i) => (images[i] ? [{ r, image: images[i] as Buffer }] : []));
    if (ready.length === 0) return [];
    extracted += ready.length;
    const a = await host.extract(req.extractionApiUrl, ready.map((x) => x.image));
    if (a.file !== req.toModel) throw new IllegalStateError(`extraction-api ${req.extractionApiUrl} extracts faces with ${a.file}, not ${req.toModel}: restart it after switching its model`);
    return ready.map((x, i) => ({ r: x.r, result: a.results[i] }));
  });
  const out: Buffer[] = [];
  for (const { r, result } of answers.flat()) {
    if (!result?.facen) failed.push({ gallery, id: r.id, reason: `extraction-api: ${result?.error ?? 'no vector'}` });
    else out.push(Buffer.from(r.text.replace(FEAT, `"feat":"${result.facen}"`)));
  }
  return { lines: out, failed, extracted };
}

/** Keys compared per round trip when reconciling a gallery. */
const RECONCILE_PAGE = 5000;

/** Deletes from the new shard's gallery what the old shard no longer holds; walks the new shard's keys in order. */
async function reconcile(config: AgentConfig, host: MigrationOpsHost, shard: string, portOffset: number, gallery: string): Promise<Extract<MigrationOpResult, { op: 'reconcile' }>> {
  const s = await siblingOf(config, host, shard, portOffset);
  const from = host.shard(s.old);
  const to = host.shard(s.component);
  try {
    if (!(await to.listGalleries()).some((g) => g.name === gallery)) return { op: 'reconcile', gallery, checked: 0, removed: 0 };
    let checked = 0;
    let removed = 0;
    for (let after: string | undefined; ; ) {
      const keys = await to.keysAfter(gallery, after, RECONCILE_PAGE);
      if (keys.length === 0) break;
      checked += keys.length;
      const gone = await from.missingKeys(gallery, keys);
      if (gone.length > 0) removed += await to.deleteKeys(gallery, gone);
      if (keys.length < RECONCILE_PAGE) break;
      after = keys[keys.length - 1];
    }
    return { op: 'reconcile', gallery, checked, removed };
  } finally {
    await Promise.all([from.close(), to.close()]);
  }
}

/** Removes an old shard the agent no longer serves (see shared/migration/ops.ts `remove-shard`). */
async function removeShard(config: AgentConfig, host: MigrationOpsHost, shard: string): Promise<Extract<MigrationOpResult, { op: 'remove-shard' }>> {
  const old = shardOf(config, shard);
  const adoptionFile = adoptionFileOf(config);
  const adoption = (await host.exists(adoptionFile)) ? parseAdoption(await host.readText(adoptionFile), adoptionFile) : { shards: {} };
  const serving = adoption.shards[shard]?.component.name;
  if (!serving) throw new IllegalStateError(`agent ${config.site}/${config.host} still serves shard ${shard} (no migration switched it to a new shard): it is not removed`);
  if (await host.isActive(old.unit)) throw new IllegalStateError(`${old.unit} is active: shard ${shard} is not removed while it runs`);
  const file = instanceFileOf(old);
  const target = await host.linkTarget(file);
  const available = target === undefined ? file : path.resolve(path.dirname(file), target);
  const enabled = path.join(path.dirname(path.dirname(available)), 'instances.enabled', path.basename(available));
  const text = await host.readText(available).catch(() => undefined);
  const parsed = text === undefined ? undefined : parseInstanceFile(text, available);
  // Only directories that carry the shard's own name: never a parent another shard shares.
  const dirs = [...new Set([parsed?.workDir, parsed?.memtxDir, parsed?.walDir, parsed?.vinylDir, old.memtxDir, old.walDir, old.vinylDir])].filter((d): d is string => d !== undefined && d.split('/').includes(shard));
  const bytes = await host.bytesUnder(dirs);
  const removed: string[] = [];
  for (const f of [...new Set([enabled, file, available]), ...dirs]) {
    if (!(await host.exists(f)) && (await host.linkTarget(f)) === undefined) continue;
    await host.remove(f);
    removed.push(f);
  }
  return { op: 'remove-shard', shard, removed, bytes };
}

/** The new sibling of one of this agent's shards, as a component (what a migrated agent serves). */
export async function siblingComponent(config: AgentConfig, host: MigrationOpsHost, shard: string, portOffset: number): Promise<TarantoolComponent> {
  return (await siblingOf(config, host, shard, portOffset)).component;
}

async function adoptShards(config: AgentConfig, host: MigrationOpsHost, shards: readonly string[], portOffset: number, undo: boolean): Promise<Extract<MigrationOpResult, { op: 'adopt' }>> {
  const file = adoptionFileOf(config);
  const text = (await host.exists(file)) ? await host.readText(file) : undefined;
  const current = text === undefined ? { shards: {} } : parseAdoption(text, file);
  const siblings = new Map<string, TarantoolComponent | undefined>();
  for (const s of shards) {
    shardOf(config, s);
    if (undo) {
      siblings.set(s, undefined);
      continue;
    }
    const c = await siblingComponent(config, host, s, portOffset);
    if (!(await host.exists(c.instanceFile as string))) throw new IllegalStateError(`shard ${s}'s new sibling ${c.name} has no instance file ${c.instanceFile ?? '?'}: it was never created`);
    siblings.set(s, c);
  }
  const next = adopt(current, siblings, portOffset, undo);
  const json = `${JSON.stringify(next, null, 2)}\n`;
  const changed = JSON.stringify(current) !== JSON.stringify(next);
  if (changed) {
    await host.mkdirs([path.dirname(file)]);
    await host.writeFile(file, json);
  }
  const served = config.components.filter((c) => c.kind === 'tarantool').map((c) => next.shards[c.name]?.component.name ?? c.name);
  return { op: 'adopt', file, changed, serving: served };
}

export async function migrationOp(config: AgentConfig, host: MigrationOpsHost, req: OpRequest): Promise<MigrationOpResult> {
  const sibling = async (name: string, offset: number): Promise<TarantoolComponent> => (await siblingOf(config, host, name, offset)).component;
  switch (req.op) {
    case 'create-shard':
      return { op: 'create-shard', shard: await createShard(config, host, req.shard, req.portOffset) };
    case 'set-extraction-model':
      return { op: 'set-extraction-model', edit: await setModel(config, host, req) };
    case 'set-sf-api-shards':
      return { op: 'set-sf-api-shards', edit: await setShards(config, host, req.from, req.to) };
    case 'make-tnt-schema': {
      if (!config.findfaceSecurity) throw new NotFoundError(`agent ${config.site}/${config.host} runs no findface-security (no findfaceSecurity in its config)`);
      const text = await host.run(['findface-security', 'make_tnt_schema'], SECURITY_COMMAND_MS);
      if (!text.trim()) throw new IllegalStateError('findface-security make_tnt_schema printed nothing');
      return { op: 'make-tnt-schema', text };
    }
    case 'write-tnt-schema':
      return { op: 'write-tnt-schema', edit: await writeTntSchema(config, host, req.text) };
    case 'security-setup': {
      if (!config.findfaceSecurity) throw new NotFoundError(`agent ${config.site}/${config.host} runs no findface-security (no findfaceSecurity in its config)`);
      let output = '';
      for (const sub of ['migrate', 'create_groups', 'create_default_user']) output += await host.run(['findface-security', sub], SECURITY_COMMAND_MS);
      return { op: 'security-setup', output };
    }
    case 'unit': {
      const unit = await unitOf(config, req.target, sibling);
      if (req.action !== 'status') await host.unit(req.action, unit);
      return { op: 'unit', unit, active: await host.isActive(unit) };
    }
    case 'shard-galleries': {
      const c = req.portOffset ? await sibling(req.shard, req.portOffset) : shardOf(config, req.shard);
      const store = host.shard(c);
      try {
        return { op: 'shard-galleries', galleries: { shard: c.name, address: store.address, galleries: await store.listGalleries() } };
      } catch (err) {
        throw new IllegalStateError(`shard ${c.name} (${store.address}) does not answer: ${message(err)}`, { cause: err });
      } finally {
        await store.close();
      }
    }
    case 'reextract':
      if (!req.toModel.startsWith('face/')) throw new ValidationError(`'${req.toModel}' is no face model file`, { field: 'toModel' });
      return { op: 'reextract', batch: await reextract(config, host, req) };
    case 'reconcile':
      return reconcile(config, host, req.shard, req.portOffset, req.gallery);
    case 'remove-shard':
      return removeShard(config, host, req.shard);
    case 'adopt':
      return adoptShards(config, host, req.shards, req.portOffset, req.undo);
    case 'face-sources':
      return faceSources(config, host, req);
    case 'regenerate':
      return regenerate(config, host, req);
    case 'normalized-aside':
      return normalizedAside(config, host, req);
    case 'migration-progress': {
      const c = await sibling(req.shard, req.portOffset);
      const store = host.shard(c);
      try {
        const p = await store.readMigration(req.migration, MAX_FAILED_REPORTED);
        return { op: 'migration-progress', progress: { shard: c.name, ...p } };
      } finally {
        await store.close();
      }
    }
  }
}

/** The agent's `Migration` call: a survey, a sample, or a step. */
export async function migration(config: AgentConfig, host: MigrationOpsHost, req: MigrationRequest): Promise<MigrationResult> {
  if (req.op === 'survey') return { op: 'survey', survey: await survey(config, host, req) };
  if (req.op === 'sample') return { op: 'sample', sample: await sample(config, host, req) };
  return migrationOp(config, host, req);
}
