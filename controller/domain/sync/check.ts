/**
 * `sync check`: the full comparison of a link's two ends. Rows are compared per dossier, then the
 * gallery records and files the master's rows name, each side asked of the agents holding them (shared/
 * sync/inspect.ts), keyed by master ids and paths. Every difference is reported. With `repair`, the
 * master is asked to publish every differing dossier again: the slave re-applies its current state.
 */
import { UnavailableError } from '../../../shared/errors.js';
import type { AgentEntry } from '../../../shared/fleet.js';
import type { InspectRequest, ItemDigest, SyncCheckReport, SyncDifference, WatchListInfo } from '../../../shared/sync/inspect.js';
import type { SyncLink } from '../../../shared/sync/link.js';
import type { AgentClient } from '../ports.js';

export interface CheckDeps {
  agents: AgentClient;
  /** Agents of a site (online and offline) as the inventory knows them. */
  agentsOf(site: string): AgentEntry[];
  timeoutMs: number;
}

type Kind = 'postgres' | 'tarantool' | 'uploads';

/** The agents of `site` holding `kind`, all online; otherwise an UnavailableError naming what is missing. */
function holders(deps: CheckDeps, site: string, kind: Kind): AgentEntry[] {
  const found = deps.agentsOf(site).filter((a) => a.description.components.some((c) => c.kind === kind));
  if (found.length === 0) throw new UnavailableError(`site '${site}' has no agent holding ${kind} (sync check needs one)`);
  const offline = found.filter((a) => a.status !== 'online');
  if (offline.length > 0) throw new UnavailableError(`sync check needs agent ${site}/${offline[0]?.description.host} (${kind}), which is offline`);
  return found;
}

async function ask(deps: CheckDeps, site: string, kind: Kind, request: InspectRequest): Promise<ItemDigest[]> {
  const found = holders(deps, site, kind);
  const results = await Promise.all(
    found.map((a) => deps.agents.inspectSync(a.description.grpcAddress, request, { timeoutMs: deps.timeoutMs, operation: `sync check (${request.what}) on ${site}/${a.description.host}` })),
  );
  return results.flatMap((r) => r.items);
}

function compare(master: ItemDigest[], slave: ItemDigest[], what: string): SyncDifference[] {
  const s = new Map(slave.map((i) => [i.key, i.digest]));
  const m = new Map(master.map((i) => [i.key, i.digest]));
  const out: SyncDifference[] = [];
  for (const [key, digest] of m) {
    const other = s.get(key);
    if (other === undefined) out.push({ kind: 'missing-on-slave', key, detail: `${what} ${key} is on the master, not on the slave` });
    else if (other !== digest) out.push({ kind: 'different', key, detail: `${what} ${key} differs (master ${digest.slice(0, 12)}, slave ${other.slice(0, 12)})` });
  }
  for (const key of s.keys()) if (!m.has(key)) out.push({ kind: 'extra-on-slave', key, detail: `${what} ${key} is on the slave, not on the master` });
  return out;
}

/** Which dossier a record or file key belongs to (for the repair), from the master's rows. */
function ownerIndex(rows: ItemDigest[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of rows) {
    const id = Number(r.key.slice('dossier:'.length));
    for (const rec of r.recordIds ?? []) out.set(`record:${rec}`, id);
    for (const f of r.files ?? []) out.set(`file:${f}`, id);
  }
  return out;
}

/** The watch lists of a site, asked of its PostgreSQL agent. */
export async function watchListsOf(deps: CheckDeps, site: string): Promise<WatchListInfo[]> {
  const [agent] = holders(deps, site, 'postgres');
  const r = await deps.agents.inspectSync(agent?.description.grpcAddress ?? '', { what: 'lists' }, { timeoutMs: deps.timeoutMs, operation: `watch lists of site '${site}'` });
  return r.lists ?? [];
}

export async function checkLink(deps: CheckDeps, link: SyncLink, options: { repair: boolean; now?: () => Date }): Promise<SyncCheckReport> {
  const started = Date.now();
  const replica = { number: link.number, masterSite: link.from.site };
  for (const site of [link.from.site, link.to.site]) for (const kind of ['postgres', 'tarantool', 'uploads'] as const) holders(deps, site, kind);
  const [masterRows, slaveRows] = await Promise.all([
    ask(deps, link.from.site, 'postgres', { what: 'rows', list: link.from.list }),
    ask(deps, link.to.site, 'postgres', { what: 'rows', list: link.to.list, replica }),
  ]);
  const recordIds = masterRows.flatMap((r) => r.recordIds ?? []);
  const files = masterRows.flatMap((r) => r.files ?? []).map((k) => ({ root: k.slice(0, k.indexOf(':')) as 'uploads' | 'ffupload', rel: k.slice(k.indexOf(':') + 1) }));
  const [mRec, sRec, mFiles, sFiles] = await Promise.all([
    ask(deps, link.from.site, 'tarantool', { what: 'records', ids: recordIds }),
    ask(deps, link.to.site, 'tarantool', { what: 'records', ids: recordIds, replica }),
    ask(deps, link.from.site, 'uploads', { what: 'files', files }),
    ask(deps, link.to.site, 'uploads', { what: 'files', files, replica }),
  ]);
  const differences = [...compare(masterRows, slaveRows, 'dossier'), ...compare(mRec, sRec, 'gallery record'), ...compare(mFiles, sFiles, 'file')];
  // A record or file a master row names but the master itself lacks: the master is inconsistent, not the link.
  const onMasterRecords = new Set(mRec.map((i) => i.key));
  for (const id of recordIds) if (!onMasterRecords.has(`record:${id}`)) differences.push({ kind: 'missing-on-master', key: `record:${id}`, detail: `gallery record ${id} is named by a master row but is not on the master's shards` });
  const onMasterFiles = new Set(mFiles.map((i) => i.key));
  for (const f of files) if (!onMasterFiles.has(`file:${f.root}:${f.rel}`)) differences.push({ kind: 'missing-on-master', key: `file:${f.root}:${f.rel}`, detail: `file ${f.root}/${f.rel} is named by a master row but is not on the master` });
  let requeued = 0;
  if (options.repair && differences.length > 0) {
    const owners = ownerIndex(masterRows);
    const ids = new Set<number>();
    for (const d of differences) {
      if (d.kind === 'missing-on-master') continue;
      const id = d.key.startsWith('dossier:') ? Number(d.key.slice('dossier:'.length)) : owners.get(d.key);
      if (id !== undefined && Number.isSafeInteger(id)) ids.add(id);
    }
    if (ids.size > 0) {
      const r = await ask(deps, link.from.site, 'postgres', { what: 'requeue', list: link.from.list, dossierIds: [...ids] }).catch((err: unknown) => {
        throw new UnavailableError(`sync check found ${differences.length} differences but could not ask the master to publish them again: ${(err as Error).message}`, { cause: err });
      });
      void r;
      requeued = ids.size;
    }
  }
  return {
    link: link.id,
    checkedAt: (options.now ? options.now() : new Date()).toISOString(),
    dossiers: masterRows.length,
    records: recordIds.length,
    files: files.length,
    differences,
    requeued,
    durationMs: Date.now() - started,
  };
}
