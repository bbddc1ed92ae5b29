/**
 * Lua loaded by every dev-site shard (written to `<siteDir>/tarantool/ffk_galleries.lua` and `dofile`d
 * by the instance files). It plays FindFace's tntapi: galleries are spaces of records
 * `{id unsigned, feat string, norm string, meta map}` where `feat` holds the raw float32 vector bytes;
 * `ffk_galleries` remembers each gallery's model and dimension, and inserts of another model or size are
 * refused with an error naming the gallery and both models. The writer and checker call these
 * functions over iproto. It also defines the global `FindFace` an instance file starts the shard with:
 * `FindFace.start(host, httpPort, {meta_scheme = meta_scheme})` creates the galleries tnt_schema.lua
 * lists and marks the shard ready. Kept as a TS string so the compiled CLI (dist/) carries it.
 */
export const GALLERIES_LUA = String.raw`
-- ffkeeper dev site: FindFace-like galleries (generated, do not edit)

local function registry()
  box.schema.space.create('ffk_galleries', {if_not_exists = true,
    format = {{name = 'name', type = 'string'}, {name = 'model', type = 'string'}, {name = 'dim', type = 'unsigned'}}})
  box.space.ffk_galleries:create_index('primary', {if_not_exists = true, parts = {{1, 'string'}}})
  return box.space.ffk_galleries
end

local function gallery(name)
  local g = box.space.ffk_galleries:get(name)
  if g == nil or box.space[name] == nil then
    error(string.format("gallery '%s' does not exist on this shard", tostring(name)), 0)
  end
  return g, box.space[name]
end

-- Creates missing galleries; an existing gallery keeps the model it was created with.
function ffk_setup(galleries)
  local reg = registry()
  for _, def in ipairs(galleries) do
    local name, model, dim = def[1], def[2], def[3]
    local sp = box.schema.space.create(name, {if_not_exists = true, format = {
      {name = 'id', type = 'unsigned'}, {name = 'feat', type = 'string'},
      {name = 'norm', type = 'string'}, {name = 'meta', type = 'map'}}})
    sp:create_index('primary', {if_not_exists = true, parts = {{1, 'unsigned'}}})
    if reg:get(name) == nil then reg:insert{name, model, dim} end
  end
  return true
end

-- Inserts records {id, feat, norm, meta} of 'model' into a gallery, all or nothing.
function ffk_insert(name, model, records)
  local g, sp = gallery(name)
  if g[2] ~= model then
    error(string.format("gallery '%s' holds vectors of model '%s', refusing a vector of model '%s'", name, g[2], tostring(model)), 0)
  end
  local size = g[3] * 4
  for _, r in ipairs(records) do
    if type(r[2]) ~= 'string' or #r[2] ~= size then
      error(string.format("gallery '%s' (model '%s') expects %d-dim float32 vectors (%d bytes), record %s has %s bytes",
        name, g[2], g[3], size, tostring(r[1]), type(r[2]) == 'string' and #r[2] or 'no'), 0)
    end
  end
  box.atomic(function()
    for _, r in ipairs(records) do sp:insert{r[1], r[2], r[3], r[4] or setmetatable({}, {__serialize = 'map'})} end
  end)
  return #records
end

-- Deletes records by id; returns how many existed.
function ffk_delete(name, ids)
  local _, sp = gallery(name)
  local n = 0
  box.atomic(function()
    for _, id in ipairs(ids) do
      if sp:delete(id) ~= nil then n = n + 1 end
    end
  end)
  return n
end

-- Ids and normalized-image ids of up to 'limit' records with id > after (after = -1: from the start).
function ffk_scan(name, after, limit)
  local _, sp = gallery(name)
  local ids, norms = {}, {}
  local gen, param, state
  if after < 0 then
    gen, param, state = sp.index.primary:pairs()
  else
    gen, param, state = sp.index.primary:pairs(after, {iterator = 'GT'})
  end
  for _, t in gen, param, state do
    ids[#ids + 1] = t[1]
    norms[#norms + 1] = t[3]
    if #ids >= limit then break end
  end
  return ids, norms
end

-- The subset of 'ids' present, with their normalized-image ids.
function ffk_get(name, ids)
  local _, sp = gallery(name)
  local found, norms = {}, {}
  for _, id in ipairs(ids) do
    local t = sp:get(id)
    if t ~= nil then found[#found + 1] = t[1]; norms[#norms + 1] = t[3] end
  end
  return found, norms
end

-- Every gallery with its model, dimension and record count.
function ffk_galleries()
  local out = {}
  for _, g in box.space.ffk_galleries:pairs() do
    local sp = box.space[g[1]]
    out[#out + 1] = {name = g[1], model = g[2], dim = g[3], count = sp and sp:len() or 0}
  end
  return out
end

-- FindFace's module as an instance file uses it: the galleries of meta_scheme ({name, model, dim} each)
-- are created, then the shard is ready. The HTTP host:port is recorded; the dev site serves iproto only.
local FindFace = {}
rawset(_G, 'FindFace', FindFace)
function FindFace.start(host, port, opts)
  local defs = {}
  for _, g in ipairs((opts or {}).meta_scheme or {}) do defs[#defs + 1] = {g.name, g.model, g.dim} end
  ffk_setup(defs)
  rawset(_G, 'ffk_http', {host = host, port = port})
  rawset(_G, 'ffk_ready', true)
end
`;
