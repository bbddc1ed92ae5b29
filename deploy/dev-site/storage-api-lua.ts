/**
 * Lua the `findface-storage-api-dump` / `findface-storage-api-restore` shims evaluate on a dev-site shard
 * over iproto (arguments in `...`). Galleries are the dev site's (galleries-lua.ts): spaces of
 * `{id unsigned, feat string (float32 bytes), norm string, meta map}` registered in `ffk_galleries`.
 *
 * A dump line is `{"id":<unsigned>,"feat":"<base64>","norm":"<string>","meta":{...}}`: the line format
 * the agent's gallery export writes (the encoder both share, shared/tarantool/gallery-lua.ts; and
 * test/devsite-storage-api.test.ts compares the two byte for byte): map keys sorted, integers exact, other
 * numbers with 17 significant digits.
 *
 * The restore keeps its progress in the shard, in the space `ffk_restore_progress`
 * `{gallery, lines, sha256}`: how many lines of the file this shard has taken and the SHA-256 of those
 * lines, written in the same transaction as the records.
 */

/** (gallery) → {lines, sha256} of this shard's restore progress of the gallery, or nil. */
export const READ_PROGRESS_LUA = String.raw`
local name = ...
local sp = box.space.ffk_restore_progress
local t = sp and sp:get(name)
if t == nil then return nil end
return {lines = t[2], sha256 = t[3]}
`;

/** (gallery) → true; forgets the gallery's restore progress (a finished run's). */
export const CLEAR_PROGRESS_LUA = String.raw`
local name = ...
local sp = box.space.ffk_restore_progress
if sp ~= nil then sp:delete(name) end
return true
`;

/**
 * Decodes and checks `entries` ({{lineNo, line}...} of `file`) into `recs` for the gallery `name` whose
 * registry row is `g` (JSON, unsigned id, string norm, a vector of the gallery's size, a map meta); the
 * first bad line fails naming the file, the line and the id.
 */
const DECODE_ENTRIES_LUA = String.raw`local recs = {}
for i, e in ipairs(entries) do
  local where = string.format('%s line %d', file, e[1])
  local ok, r = pcall(json.decode, e[2])
  if not ok or type(r) ~= 'table' then error(where .. ': not a JSON record: ' .. tostring(r), 0) end
  local id_ok = type(r.id) == 'cdata' or (type(r.id) == 'number' and r.id >= 0 and r.id == math.floor(r.id))
  if not id_ok then error(where .. ': id ' .. tostring(r.id) .. ' is not an unsigned integer', 0) end
  where = string.format('%s (id %s)', where, (tostring(r.id):gsub('U?LL$', '')))
  if type(r.norm) ~= 'string' then error(where .. ': norm is not a string', 0) end
  local okf, feat = pcall(digest.base64_decode, type(r.feat) == 'string' and r.feat or '')
  if not okf or #feat ~= g[3] * 4 then
    error(string.format("%s: vector of %d bytes, gallery '%s' (model '%s', %d-dim) expects %d",
      where, okf and #feat or 0, name, g[2], g[3], g[3] * 4), 0)
  end
  local meta = r.meta
  if meta == nil or meta == json.NULL then meta = setmetatable({}, {__serialize = 'map'}) end
  local mt = type(meta) == 'table' and getmetatable(meta) or nil
  if type(meta) ~= 'table' or (mt ~= nil and (mt.__serialize == 'seq' or mt.__serialize == 'array')) then
    error(where .. ': meta is not an object', 0)
  end
  recs[i] = {r.id, feat, r.norm, meta}
end`;

/**
 * (gallery, file, entries {{lineNo, line}...}, prev {lines, sha256}|nil, lines, sha256) → records
 * replaced. Checks every line first (JSON, unsigned id, string norm, a vector of the gallery's size, a
 * map meta), then replaces the records and moves the progress from `prev` to `{lines, sha256}` in one
 * transaction. Refuses when the stored progress is not `prev` (another restore of the gallery running).
 */
export const RESTORE_BATCH_LUA = String.raw`
local name, file, entries, prev, lines_done, sha = ...
local json, digest = require('json'), require('digest')
local reg, sp = box.space.ffk_galleries, box.space[name]
local g = reg and reg:get(name)
if g == nil or sp == nil then error(string.format("gallery '%s' does not exist on this shard", name), 0) end
local prog = box.schema.space.create('ffk_restore_progress', {if_not_exists = true, format = {
  {name = 'gallery', type = 'string'}, {name = 'lines', type = 'unsigned'}, {name = 'sha256', type = 'string'}}})
prog:create_index('primary', {if_not_exists = true, parts = {{1, 'string'}}})
local cur = prog:get(name)
local same = (cur == nil and prev == nil) or (cur ~= nil and prev ~= nil and cur[2] == prev.lines and cur[3] == prev.sha256)
if not same then
  error(string.format("restore of gallery '%s': its progress on this shard is at line %d, this run expected %d (another restore running?)",
    name, cur and cur[2] or 0, prev and prev.lines or 0), 0)
end
${DECODE_ENTRIES_LUA}
box.atomic(function()
  for _, t in ipairs(recs) do sp:replace(t) end
  prog:replace{name, lines_done, sha}
end)
return #recs
`;

/**
 * (gallery, file, entries {{lineNo, line}...}) → records replaced: the lines checked as the restore checks
 * them, then replaced in one transaction (a model migration's re-extracted faces into a new shard).
 */
export const REPLACE_LINES_LUA = String.raw`
local name, file, entries = ...
local json, digest = require('json'), require('digest')
local reg, sp = box.space.ffk_galleries, box.space[name]
local g = reg and reg:get(name)
if g == nil or sp == nil then error(string.format("gallery '%s' does not exist on this shard", name), 0) end
${DECODE_ENTRIES_LUA}
box.atomic(function()
  for _, t in ipairs(recs) do sp:replace(t) end
end)
return #recs
`;
