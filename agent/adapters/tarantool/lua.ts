/**
 * Lua chunks the Tarantool adapters evaluate on a shard over iproto (`eval`, arguments in `...`).
 * Each chunk is self-contained (nothing is installed on the shard except small bookkeeping things:
 * the `ffk_cuts` table of checkpoint outcomes and the `ffk_watch` state of the write watcher between a
 * cut's prepare and its freeze, both in memory, and the `ffk_import_progress` space of resumable
 * imports). Gallery layout is the dev site's (FindFace-like): spaces of
 * `{id unsigned, feat string (float32 bytes), norm string, meta map}` registered in `ffk_galleries`
 * `{name, model, dim}`.
 */
import { GALLERY_LINE_LUA } from '../../../shared/tarantool/gallery-lua.js';

/** Absolute paths and string-keyed vclocks, shared by the admin chunks. */
const ADMIN_PRELUDE = String.raw`
local fio = require('fio')
local function abs(p)
  if p == nil then return fio.cwd() end
  p = tostring(p)
  if p:sub(1, 1) == '/' then return p end
  return fio.pathjoin(fio.cwd(), p)
end
local function vc(v)
  local o = setmetatable({}, {__serialize = 'map'})
  for k, n in pairs(v or {}) do o[tostring(k)] = n end
  return o
end
`;

/**
 * Lua: `start_checkpoint(token, wait_s)` → {vclock, signature}. Starts box.snapshot() in a fiber;
 * fiber.create runs it at once up to its first yield, by which time the checkpoint's read view is taken,
 * so the vclock read right after (without yielding) is the checkpoint's. The outcome lands in
 * ffk_cuts[token]. Waits up to wait_s for a checkpoint already in progress (an error after that).
 */
const START_CHECKPOINT_FN = String.raw`
local function start_checkpoint(token, wait_s)
  local fiber, clock = require('fiber'), require('clock')
  local deadline = clock.monotonic() + wait_s
  while box.info.gc().checkpoint_is_in_progress do
    if clock.monotonic() > deadline then
      error(string.format('a checkpoint is already in progress (waited %.0f ms)', wait_s * 1000), 0)
    end
    fiber.sleep(0.002)
  end
  local cuts = rawget(_G, 'ffk_cuts')
  if cuts == nil then cuts = {}; rawset(_G, 'ffk_cuts', cuts) end
  cuts[token] = {state = 'running'}
  fiber.create(function()
    local ok, err = pcall(box.snapshot)
    local cps = box.info.gc().checkpoints
    local last = cps[#cps]
    if ok and last ~= nil then
      cuts[token] = {state = 'done', signature = last.signature, vclock = vc(last.vclock)}
    else
      cuts[token] = {state = 'failed', message = tostring(err)}
    end
  end)
  return {vclock = vc(box.info.vclock), signature = box.info.signature}
end
`;

/**
 * Lua: `look(q)` — one look at box.info.signature for a watch state `q = {last, since, looks}` (the
 * signature seen last, when it changed, looks since): a change starts the quiet time again. The caller
 * counts `looks` up after each sleep. Shared by the write watcher and the freeze's wait, which takes the
 * watcher's state over.
 */
const LOOK_FN = String.raw`
local function look(q)
  local s = box.info.signature
  if s ~= q.last then q.last, q.since, q.looks = s, require('clock').monotonic(), 0 end
  return s
end
`;

/** → {status, vclock, signature, memtx, wal, vinyl} */
export const LUA_INFO = String.raw`${ADMIN_PRELUDE}
return {status = box.info.status, vclock = vc(box.info.vclock), signature = box.info.signature,
  memtx = abs(box.cfg.memtx_dir), wal = abs(box.cfg.wal_dir), vinyl = abs(box.cfg.vinyl_dir)}
`;

/**
 * (maxSeconds) → true. Starts the shard's write watcher (at prepare): a fiber that looks at
 * box.info.signature every millisecond and keeps, in the global `ffk_watch`, the last signature, when it
 * last changed and how many looks it has had since. The freeze's wait (LUA_QUIET) goes on from there, so
 * writes that stopped before the freeze was asked for count toward its quiet time: the cut's settle is
 * not waited for again from the moment the request arrives. A new watcher replaces the one running; the
 * watcher ends when the freeze takes it over, when it is stopped, or after maxSeconds.
 */
export const LUA_WATCH_WRITES = String.raw`${LOOK_FN}
local max_s = ...
local fiber, clock = require('fiber'), require('clock')
local old = rawget(_G, 'ffk_watch')
if old ~= nil then old.stop = true end
local now = clock.monotonic()
local w = {last = box.info.signature, since = now, looks = 0, started = now, stop = false}
rawset(_G, 'ffk_watch', w)
fiber.create(function()
  while not w.stop and clock.monotonic() - w.started < max_s do
    fiber.sleep(0.001)
    w.looks = w.looks + 1
    look(w)
  end
  w.stop = true
  if rawget(_G, 'ffk_watch') == w then rawset(_G, 'ffk_watch', nil) end
end)
return true
`;

/** () → true. Stops the write watcher, if one runs (a cut given up before its freeze). */
export const LUA_STOP_WATCH = String.raw`
local w = rawget(_G, 'ffk_watch')
if w ~= nil then w.stop = true; rawset(_G, 'ffk_watch', nil) end
return true
`;

/**
 * (settleSeconds, timeoutSeconds) → {settled, signature, waited_ms, watched, quiet_ms}: waits in a fiber
 * until box.info.signature has stayed the same for the settle time, looking every millisecond, at most the
 * timeout. On the shard rather than polled over iproto: the freeze ends within a millisecond of the
 * settle time instead of a round trip and a poll interval after it. The quiet time must also hold at
 * least one look per 2 ms of it: a shard the machine did not run for a while saw no writes then either,
 * and the writes waiting for it must get their turns (every look yields) before it can call itself quiet.
 * When the write watcher runs (LUA_WATCH_WRITES, started at prepare), its looks are taken over: quiet
 * time it already saw counts (`watched`), and the watcher stops. The first look is made at once, so a
 * shard quiet for the settle time already answers without waiting.
 * With a checkpoint token (and its busy wait, seconds), a settled wait goes straight on to
 * `start_checkpoint` in the same call and answers its outcome as `checkpoint`: the cut taken the moment
 * the writes are found stopped, without another round trip.
 */
export const LUA_QUIET = String.raw`${ADMIN_PRELUDE}${START_CHECKPOINT_FN}${LOOK_FN}
local settle_s, timeout_s, token, wait_busy_s = ...
local fiber, clock = require('fiber'), require('clock')
local min_looks = math.ceil(settle_s * 500)
local started = clock.monotonic()
local w = rawget(_G, 'ffk_watch')
local watched = w ~= nil and not w.stop
local q = {last = box.info.signature, since = started, looks = 0}
if watched then
  q = w
  w.stop = true
  rawset(_G, 'ffk_watch', nil)
end
while true do
  local s = look(q)
  local now = clock.monotonic()
  local result = {signature = s, waited_ms = (now - started) * 1000, watched = watched, quiet_ms = (now - q.since) * 1000}
  if now - q.since >= settle_s and q.looks >= min_looks then
    result.settled = true
    if token ~= nil then result.checkpoint = start_checkpoint(token, wait_busy_s) end
    return result
  end
  if now - started >= timeout_s then
    result.settled = false
    return result
  end
  fiber.sleep(0.001)
  q.looks = q.looks + 1
end
`;

/** (token, waitBusySeconds) → {vclock, signature}: `start_checkpoint` (above) on its own. */
export const LUA_START_CHECKPOINT = String.raw`${ADMIN_PRELUDE}${START_CHECKPOINT_FN}
return start_checkpoint(...)
`;

/** (token, waitSeconds) → {state, signature?, vclock?, message?}; forgets finished outcomes it returns. */
export const LUA_CHECKPOINT_OUTCOME = String.raw`
local token, wait_s = ...
local fiber, clock = require('fiber'), require('clock')
local cuts = rawget(_G, 'ffk_cuts') or {}
local deadline = clock.monotonic() + wait_s
while cuts[token] ~= nil and cuts[token].state == 'running' and clock.monotonic() < deadline do
  fiber.sleep(0.01)
end
local r = cuts[token]
if r == nil then return {state = 'unknown'} end
if r.state ~= 'running' then cuts[token] = nil end
return r
`;

/** → {in_progress, checkpoints = [{signature, vclock, pinned}]} (oldest first) */
export const LUA_CHECKPOINTS = String.raw`${ADMIN_PRELUDE}
local gc = box.info.gc()
local out = {}
for i, c in ipairs(gc.checkpoints) do
  local pinned = false
  for _, ref in ipairs(c.references or {}) do if ref == 'backup' then pinned = true end end
  out[i] = {signature = c.signature, vclock = vc(c.vclock), pinned = pinned}
end
return {in_progress = gc.checkpoint_is_in_progress, checkpoints = out}
`;

/** (indexFromNewest) → array of absolute file paths of the pinned checkpoint. */
export const LUA_PIN = String.raw`${ADMIN_PRELUDE}
local index = ...
local files = box.backup.start(index)
local out = {}
for i, f in ipairs(files) do out[i] = abs(f) end
return out
`;

export const LUA_UNPIN = 'box.backup.stop() return true';

/** ({name = true}|nil) → {name = {count, sha256}}: sha256 over line..'\n' of every record in key order. */
export const LUA_DIGEST = String.raw`${GALLERY_LINE_LUA}
local wanted = ...
local crypto, fiber = require('crypto'), require('fiber')
local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end
local names = {}
if wanted ~= nil then
  for _, n in ipairs(wanted) do names[#names + 1] = n end
elseif box.space.ffk_galleries ~= nil then
  for _, g in box.space.ffk_galleries:pairs() do names[#names + 1] = g[1] end
end
local out = {}
for _, name in ipairs(names) do
  local sp = space_of(name)
  local h, count, last = crypto.digest.sha256:new(), 0, nil
  while true do
    local n = 0
    local gen, param, state
    if last == nil then gen, param, state = sp.index[0]:pairs() else gen, param, state = sp.index[0]:pairs(last, {iterator = 'GT'}) end
    for _, t in gen, param, state do
      h:update(line_of(name, t) .. '\n')
      count, last, n = count + 1, t[1], n + 1
      if n >= 1000 then break end
    end
    if n < 1000 then break end
    fiber.yield()
  end
  out[name] = {count = count, sha256 = hex(h:result())}
end
return out
`;

/** Bookkeeping for imports: the registry and the progress space, created on first use. */
const IMPORT_PRELUDE = String.raw`
local function progress_space()
  local sp = box.space.ffk_import_progress
  if sp ~= nil then return sp end
  sp = box.schema.space.create('ffk_import_progress', {if_not_exists = true, format = {
    {name = 'export_id', type = 'string'}, {name = 'gallery', type = 'string'},
    {name = 'lines', type = 'unsigned'}, {name = 'finished', type = 'boolean'}}})
  sp:create_index('primary', {if_not_exists = true, parts = {{1, 'string'}, {2, 'string'}}})
  return sp
end
`;

/** A registered gallery's space, or an error naming the gallery (Lua prelude). */
const GALLERY_OF = String.raw`
local function gallery_of(name)
  local sp = box.space[name]
  local g = box.space.ffk_galleries and box.space.ffk_galleries:get(name)
  if sp == nil or g == nil then error(string.format("gallery '%s' does not exist on this shard", name), 0) end
  return sp, g
end
`;

/** Decodes and checks a batch of gallery lines (export format) into tuples; errors name the line. */
const DECODE_LINES = String.raw`
local json, digest = require('json'), require('digest')
local function decode_lines(name, g, before, lines)
  local recs = {}
  for i, line in ipairs(lines) do
    local where = string.format("gallery '%s' line %d", name, before + i)
    local ok, r = pcall(json.decode, line)
    if not ok or type(r) ~= 'table' then error(where .. ': not a JSON record: ' .. tostring(r), 0) end
    local id_ok = type(r.id) == 'cdata' or (type(r.id) == 'number' and r.id >= 0 and r.id == math.floor(r.id))
    if not id_ok then error(where .. ': id ' .. tostring(r.id) .. ' is not an unsigned integer', 0) end
    if type(r.norm) ~= 'string' then error(where .. ' (id ' .. tostring(r.id) .. '): norm is not a string', 0) end
    local okf, feat = pcall(digest.base64_decode, r.feat or '')
    if not okf or #feat ~= g[3] * 4 then
      error(string.format("%s (id %s): vector of %d bytes, gallery '%s' (model '%s') expects %d",
        where, tostring(r.id), okf and #feat or 0, name, g[2], g[3] * 4), 0)
    end
    local meta = r.meta
    if meta == nil or meta == json.NULL then meta = setmetatable({}, {__serialize = 'map'}) end
    recs[i] = {r.id, feat, r.norm, meta}
  end
  return recs
end
`;

/** (name, model, dim) → true; creates the gallery (dev-site format) or checks its model and dimension. */
export const LUA_ENSURE_GALLERY = String.raw`${IMPORT_PRELUDE}
local name, model, dim = ...
local reg = box.schema.space.create('ffk_galleries', {if_not_exists = true,
  format = {{name = 'name', type = 'string'}, {name = 'model', type = 'string'}, {name = 'dim', type = 'unsigned'}}})
reg:create_index('primary', {if_not_exists = true, parts = {{1, 'string'}}})
local g = reg:get(name)
if g ~= nil and (g[2] ~= model or g[3] ~= dim) then
  error(string.format("gallery '%s' holds vectors of model '%s' (dim %d); the export's vectors are of model '%s' (dim %d)",
    name, g[2], g[3], model, dim), 0)
end
local sp = box.schema.space.create(name, {if_not_exists = true, format = {
  {name = 'id', type = 'unsigned'}, {name = 'feat', type = 'string'},
  {name = 'norm', type = 'string'}, {name = 'meta', type = 'map'}}})
sp:create_index('primary', {if_not_exists = true, parts = {{1, 'unsigned'}}})
if g == nil then reg:insert{name, model, dim} end
progress_space()
return true
`;

/** (exportId) → {gallery = {lines, finished}} */
export const LUA_READ_PROGRESS = String.raw`
local export_id = ...
local out = setmetatable({}, {__serialize = 'map'})
local sp = box.space.ffk_import_progress
if sp == nil then return out end
for _, t in sp.index.primary:pairs({export_id}, {iterator = 'EQ'}) do out[t[2]] = {lines = t[3], finished = t[4]} end
return out
`;

/**
 * (exportId, gallery, linesDoneBefore, lines, finished) → lines done after. Decodes and checks every
 * line first, then replaces the records and advances the progress in one transaction.
 */
export const LUA_IMPORT_BATCH = String.raw`${IMPORT_PRELUDE}${GALLERY_OF}${DECODE_LINES}
local export_id, name, before, lines, finished = ...
local sp, g = gallery_of(name)
local prog = progress_space()
local cur = prog:get{export_id, name}
local done = cur and cur[3] or 0
if done ~= before then
  error(string.format("import %s of gallery '%s': progress is at line %d, not %d (another import running?)", export_id, name, done, before), 0)
end
local recs = decode_lines(name, g, before, lines)
box.atomic(function()
  for _, t in ipairs(recs) do sp:replace(t) end
  prog:replace{export_id, name, before + #lines, finished}
end)
return before + #lines
`;

/** (exportId) → number of progress rows removed. */
export const LUA_CLEAR_PROGRESS = String.raw`
local export_id = ...
local sp = box.space.ffk_import_progress
if sp == nil then return 0 end
local keys = {}
for _, t in sp.index.primary:pairs({export_id}, {iterator = 'EQ'}) do keys[#keys + 1] = {t[1], t[2]} end
box.atomic(function() for _, k in ipairs(keys) do sp:delete(k) end end)
return #keys
`;


/** (gallery) → records removed; empties the gallery (a snapshot import fills it from the export). */
export const LUA_TRUNCATE_GALLERY = String.raw`${GALLERY_OF}
local name = ...
local sp = gallery_of(name)
local n = sp:len()
sp:truncate()
return n
`;

/** (gallery, lines) → records written; every line decoded and checked first, then replaced in one transaction. */
export const LUA_REPLACE_BATCH = String.raw`${GALLERY_OF}${DECODE_LINES}
local name, lines = ...
local sp, g = gallery_of(name)
local recs = decode_lines(name, g, 0, lines)
box.atomic(function() for _, t in ipairs(recs) do sp:replace(t) end end)
return #recs
`;

/** A model migration's bookkeeping in a new shard: each gallery's cursor and counts, and the faces that failed. */
const MIGRATION_PRELUDE = String.raw`
local function migration_spaces()
  local prog = box.schema.space.create('ffk_migration_progress', {if_not_exists = true, format = {
    {name = 'migration', type = 'string'}, {name = 'gallery', type = 'string'}, {name = 'cursor', type = 'string'},
    {name = 'written', type = 'unsigned'}, {name = 'failed', type = 'unsigned'}, {name = 'done', type = 'boolean'}}})
  prog:create_index('primary', {if_not_exists = true, parts = {{1, 'string'}, {2, 'string'}}})
  local failed = box.schema.space.create('ffk_migration_failed', {if_not_exists = true, format = {
    {name = 'migration', type = 'string'}, {name = 'gallery', type = 'string'}, {name = 'id', type = 'string'},
    {name = 'reason', type = 'string'}}})
  failed:create_index('primary', {if_not_exists = true, parts = {{1, 'string'}, {2, 'string'}, {3, 'string'}}})
  return prog, failed
end
`;

/**
 * (migration, gallery, cursorBefore, cursorAfter, lines, failed {{id, reason}}, done) → records written.
 * Every line decoded and checked first; then the records, the failed faces and the cursor in one
 * transaction. Refused when the stored cursor is not `cursorBefore` (another batch got there first).
 */
export const LUA_MIGRATE_BATCH = String.raw`${GALLERY_OF}${DECODE_LINES}${MIGRATION_PRELUDE}
local migration, name, before, after, lines, failed, done = ...
local prog, fl = migration_spaces()
local sp, g = gallery_of(name)
local cur = prog:get{migration, name}
local at = cur and cur[3] or ''
if at ~= before then
  error(string.format("migration %s of gallery '%s': the new shard's cursor is at '%s', not '%s' (another batch running?)", migration, name, at, before), 0)
end
local recs = decode_lines(name, g, 0, lines)
box.atomic(function()
  for _, t in ipairs(recs) do sp:replace(t) end
  for _, f in ipairs(failed) do fl:replace{migration, name, f[1], f[2]} end
  prog:replace{migration, name, after, (cur and cur[4] or 0) + #recs, (cur and cur[5] or 0) + #failed, done}
end)
return #recs
`;

/** (migration, maxFailed) → {galleries = {name = {cursor, written, failed, done}}, failed = {{gallery, id, reason}}} */
export const LUA_READ_MIGRATION = String.raw`
local migration, max_failed = ...
local out = {galleries = setmetatable({}, {__serialize = 'map'}), failed = setmetatable({}, {__serialize = 'array'})}
local prog, fl = box.space.ffk_migration_progress, box.space.ffk_migration_failed
if prog ~= nil then
  for _, t in prog.index.primary:pairs({migration}, {iterator = 'EQ'}) do
    out.galleries[t[2]] = {cursor = t[3], written = t[4], failed = t[5], done = t[6]}
  end
end
if fl ~= nil then
  for _, t in fl.index.primary:pairs({migration}, {iterator = 'EQ'}) do
    if #out.failed >= max_failed then break end
    out.failed[#out.failed + 1] = {gallery = t[2], id = t[3], reason = t[4]}
  end
end
return out
`;

/** (name, afterKeyText|nil, limit) → {keys as text}: a gallery's primary keys in order, after `after`. */
export const LUA_KEYS_AFTER = String.raw`${GALLERY_LINE_LUA}
local name, after, limit = ...
local sp = space_of(name)
local gen, param, state
if after == nil then gen, param, state = sp.index[0]:pairs() else gen, param, state = sp.index[0]:pairs(tonumber64(after), {iterator = 'GT'}) end
local keys = setmetatable({}, {__serialize = 'array'})
for _, t in gen, param, state do
  keys[#keys + 1] = key_text(t[1])
  if #keys >= limit then break end
end
return keys
`;

/** (name, {keyText}) → the keys of the list this gallery does not hold. */
export const LUA_MISSING_KEYS = String.raw`${GALLERY_LINE_LUA}
local name, keys = ...
local sp = space_of(name)
local out = setmetatable({}, {__serialize = 'array'})
for _, k in ipairs(keys) do if sp:get(tonumber64(k)) == nil then out[#out + 1] = k end end
return out
`;

/** (name, {keyText}) → records deleted, in one transaction. */
export const LUA_DELETE_KEYS = String.raw`${GALLERY_LINE_LUA}
local name, keys = ...
local sp = space_of(name)
local n = 0
box.atomic(function()
  for _, k in ipairs(keys) do if sp:delete(tonumber64(k)) ~= nil then n = n + 1 end end
end)
return n
`;

/** (name) → the greatest primary key as text, or nil for an empty gallery. */
export const LUA_MAX_KEY = String.raw`${GALLERY_LINE_LUA}
local name = ...
local t = space_of(name).index[0]:max()
if t == nil then return nil end
return key_text(t[1])
`;
