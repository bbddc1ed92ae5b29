/**
 * Discovery of a host's Tarantool shards and findface-sf-api: one `tarantool` component per FindFace
 * instance file (`instances.enabled/*.lua`; when it has none, `instances.available/`; a file without `FindFace.start`
 * is another application's instance and is skipped), checked against sf-api's shard list
 * (`storage-api.shards[].master`), and an `sf-api` component when its config is here.
 */
import type { z } from 'zod';
import type { sfApiComponentSchema, tarantoolComponentSchema } from '../../../shared/config/agent.js';
import { isValidId } from '../../../shared/ids.js';
import { parseInstanceFile, type InstanceFile } from '../../../shared/findface/instance-file.js';
import { parseSfApiConfig, portOfUrl, type SfApiConfig } from '../../../shared/findface/sf-api-ini.js';
import { INSTANCES_AVAILABLE, INSTANCES_ENABLED, SF_API_INI, tarantoolUnit, tarantoolWorkDirDefault } from './layout.js';
import type { HostTree } from './ports.js';
import { Notes, readFirst, type DiscoveryReport, type Found } from './report.js';

export type TarantoolComponentInput = z.input<typeof tarantoolComponentSchema>;
export type SfApiComponentInput = z.input<typeof sfApiComponentSchema>;

export interface ShardsFound {
  shards: Found<TarantoolComponentInput>[];
  sfApi: Found<SfApiComponentInput> | undefined;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '0.0.0.0', '']);

/** The instance files of the first instances directory that has any (enabled, else available). */
function instanceFiles(tree: HostTree, report: DiscoveryReport): { dir: string; names: string[] } | undefined {
  for (const dir of [INSTANCES_ENABLED, INSTANCES_AVAILABLE]) {
    const names = tree.list(dir);
    if (names === undefined) {
      report.notFound(`${tree.where(dir)}/`);
      continue;
    }
    const lua = names.filter((n) => n.endsWith('.lua'));
    if (lua.length > 0) return { dir, names: lua };
    report.remark(`${tree.where(dir)}/ holds no instance file`);
  }
  return undefined;
}

function shardOf(name: string, file: string, f: InstanceFile, sfApi: SfApiConfig | undefined): Found<TarantoolComponentInput> {
  const notes = new Notes();
  notes.note([], `from ${file}`);
  const workDir = f.workDir ?? tarantoolWorkDirDefault(name);
  const dirOf = (dir: string | undefined, field: string, setting: string): string => {
    if (dir !== undefined) return dir;
    notes.guess([field], f.workDir ? `no ${setting} in the instance file: Tarantool uses work_dir` : `no ${setting} nor work_dir: tarantoolctl's default work_dir`);
    return workDir;
  };
  const shard: TarantoolComponentInput = {
    kind: 'tarantool',
    name,
    host: LOCAL_HOSTS.has(f.listen.host) ? '127.0.0.1' : f.listen.host,
    port: f.listen.port,
    ...(f.http ? { httpPort: f.http.port } : {}),
    memtxDir: dirOf(f.memtxDir, 'memtxDir', 'memtx_dir'),
    walDir: dirOf(f.walDir, 'walDir', 'wal_dir'),
    vinylDir: dirOf(f.vinylDir, 'vinylDir', 'vinyl_dir'),
    unit: tarantoolUnit(name),
    instanceFile: file,
  };
  notes.guess(['unit'], "FindFace's unit name for this instance (not checked)");
  if (sfApi && f.http && !sfApi.shards.some((url) => portOfUrl(url) === f.http?.port)) {
    notes.note([], `not in ${SF_API_INI}'s shard list (HTTP port ${f.http.port}): a shard sf-api does not use (kept for a rollback?)`);
  }
  return { value: shard, notes };
}

/** The shards and sf-api found on the host; what is missing or unreadable goes to `report`. */
export function discoverShards(tree: HostTree, report: DiscoveryReport): ShardsFound {
  const sf = readFirst(tree, report, [SF_API_INI], parseSfApiConfig);
  const shards: Found<TarantoolComponentInput>[] = [];
  const files = instanceFiles(tree, report);
  for (const name of files?.names ?? []) {
    const hostPath = `${files?.dir ?? ''}/${name}`;
    if (!isValidId(name.slice(0, -'.lua'.length))) {
      report.remark(`skipped ${tree.where(hostPath)}: '${name}' is no valid component name (letters, digits, "-", "_")`);
      continue;
    }
    const parsed = readFirst(tree, report, [hostPath], parseInstanceFile);
    if (!parsed) continue;
    if (!parsed.value.http) {
      report.remark(`skipped ${parsed.file}: no FindFace.start (not a FindFace shard)`);
      continue;
    }
    const shard = shardOf(name.slice(0, -'.lua'.length), parsed.file, parsed.value, sf?.value);
    // The operator's file is the one in instances.available/ that the enabled link points at: a migration copies that.
    if (files?.dir === INSTANCES_ENABLED && tree.list(INSTANCES_AVAILABLE)?.includes(name)) shard.value.instanceFile = tree.where(`${INSTANCES_AVAILABLE}/${name}`);
    shards.push(shard);
  }
  if (sf) {
    const here = new Set(shards.map((s) => s.value.httpPort));
    for (const url of sf.value.shards) {
      if (!here.has(portOfUrl(url))) report.remark(`${sf.file} lists shard ${url}: no instance file here has that FindFace.start port (a shard on another host?)`);
    }
  }
  const sfApi = sf ? { value: { kind: 'sf-api' as const, name: 'sf-api', configPath: sf.file, unit: 'findface-sf-api' }, notes: new Notes() } : undefined;
  if (sfApi) {
    sfApi.notes.note([], `from ${sf?.file ?? ''}: ${sf?.value.shards.length ?? 0} shard(s)`);
    sfApi.notes.guess(['unit'], "FindFace's unit name (not checked)");
  }
  return { shards, sfApi };
}
