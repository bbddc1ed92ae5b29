/**
 * `IprotoRecordsAccess`: the dossier-face gallery records (`ffsec_face_objects`) on this host's shards,
 * for sync. Reading returns records with their vector in base64 and meta as JSON. Applying makes a
 * shard hold exactly the given records of one dossier of one link: `ffk_sync_applied` on the shard
 * remembers which records the link put there for the dossier, and the records and that memory change
 * in one `box.atomic` — applying twice changes nothing, and records the master dropped are deleted. A
 * gallery of another model refuses the records with an error naming both models. Records are placed
 * on shard `id % shards` (the dev site's placement, in the order of the agent's shard components).
 */
import type { RecordEntry } from '../../domain/sync/messages.js';
import type { RecordsAccess } from '../../domain/sync/ports.js';
import { Reply, ShardConnection, type ShardEndpoint } from '../tarantool/connection.js';

export const FACE_GALLERY = 'ffsec_face_objects';

/** A batch of hundreds of dossiers' records takes longer than a single request's default. */
const LONG_REQUEST_MS = 120_000;
/** Records read by one request at most (a sync check reads a whole list's). */
const READ_SLICE = 1000;

const LUA_READ = String.raw`
local name, ids = ...
local json, digest = require('json'), require('digest')
local sp = box.space[name]
local g = box.space.ffk_galleries and box.space.ffk_galleries:get(name)
if sp == nil or g == nil then return {} end
local out = {}
for _, id in ipairs(ids) do
  local t = sp:get(id)
  if t ~= nil then
    out[#out + 1] = {id = t[1], feat = digest.base64_encode(t[2], {nowrap = true}), norm = t[3], meta = json.encode(t[4]), model = g[2], dim = g[3]}
  end
end
return out
`;

const LUA_APPLY = String.raw`
local link, name, dossiers = ...
local json, digest = require('json'), require('digest')
local ap = box.schema.space.create('ffk_sync_applied', {if_not_exists = true,
  format = {{name = 'link', type = 'string'}, {name = 'dossier', type = 'unsigned'}, {name = 'ids', type = 'array'}}})
ap:create_index('primary', {if_not_exists = true, parts = {{1, 'string'}, {2, 'unsigned'}}})
local sp = box.space[name]
local g = box.space.ffk_galleries and box.space.ffk_galleries:get(name)
local plan = {}
for k, d in ipairs(dossiers) do
  local tuples, keep, ids = {}, {}, {}
  for i, r in ipairs(d.recs) do
    if sp == nil or g == nil then error(string.format("gallery '%s' does not exist on this shard", name), 0) end
    if g[2] ~= r.model then
      error(string.format("gallery '%s' on this shard holds vectors of model '%s'; the master's record %s is of model '%s'", name, g[2], tostring(r.id), r.model), 0)
    end
    local feat = digest.base64_decode(r.feat)
    if #feat ~= g[3] * 4 then
      error(string.format("gallery '%s' (model '%s') expects %d-byte vectors, record %s has %d", name, g[2], g[3] * 4, tostring(r.id), #feat), 0)
    end
    local meta = json.decode(r.meta)
    if type(meta) ~= 'table' or next(meta) == nil then meta = setmetatable(type(meta) == 'table' and meta or {}, {__serialize = 'map'}) end
    tuples[i] = {r.id, feat, r.norm, meta}
    keep[r.id] = true
    ids[i] = r.id
  end
  plan[k] = {dossier = d.dossier, tuples = tuples, keep = keep, ids = ids}
end
box.atomic(function()
  for _, p in ipairs(plan) do
    local old = ap:get{link, p.dossier}
    if old ~= nil and sp ~= nil then
      for _, id in ipairs(old[3]) do if not p.keep[id] then sp:delete(id) end end
    end
    for _, t in ipairs(p.tuples) do sp:replace(t) end
    if #p.ids == 0 then ap:delete{link, p.dossier} else ap:replace{link, p.dossier, p.ids} end
  end
end)
return #plan
`;

export class IprotoRecordsAccess implements RecordsAccess {
  private readonly shards: ShardConnection[];

  constructor(endpoints: readonly ShardEndpoint[]) {
    this.shards = endpoints.map((e) => new ShardConnection(e));
  }

  async read(ids: readonly number[]): Promise<RecordEntry[]> {
    if (ids.length === 0) return [];
    const out: RecordEntry[] = [];
    // A sync check asks for every record of the list: in slices, each a bounded request.
    for (let from = 0; from < ids.length; from += READ_SLICE) {
      await this.readSlice(ids.slice(from, from + READ_SLICE), out);
    }
    return out;
  }

  private async readSlice(ids: readonly number[], out: RecordEntry[]): Promise<void> {
    for (const shard of this.shards) {
      const r = new Reply(shard.address, 'sync read of records');
      const [raw] = await shard.eval(LUA_READ, [FACE_GALLERY, [...ids]], { timeoutMs: LONG_REQUEST_MS });
      for (const [i, v] of r.arr(raw).entries()) {
        const o = r.obj(v, `records[${i}]`);
        out.push({
          gallery: FACE_GALLERY,
          model: r.str(o.model, 'model'),
          dim: r.num(o.dim, 'dim'),
          id: r.num(o.id, 'id'),
          feat: r.str(o.feat, 'feat'),
          norm: r.str(o.norm, 'norm'),
          meta: JSON.parse(r.str(o.meta, 'meta')) as Record<string, unknown>,
        });
      }
    }
  }

  async apply(linkId: string, dossiers: readonly { dossierId: number; records: readonly RecordEntry[] }[]): Promise<void> {
    const n = this.shards.length;
    const wire = (x: RecordEntry) => ({ id: x.id, feat: x.feat, norm: x.norm, meta: JSON.stringify(x.meta), model: x.model });
    // Every shard hears of every dossier: one that held a record of it before drops it.
    await Promise.all(
      this.shards.map((shard, i) =>
        shard.eval(LUA_APPLY, [linkId, FACE_GALLERY, dossiers.map((d) => ({ dossier: d.dossierId, recs: d.records.filter((r) => r.id % n === i).map(wire) }))], { timeoutMs: LONG_REQUEST_MS }),
      ),
    );
  }

  async close(): Promise<void> {
    for (const s of this.shards) s.close();
  }
}
