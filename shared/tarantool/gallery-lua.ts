/**
 * Lua every reader of gallery records evaluates on a shard (the agent's logical export, the dev site's
 * findface-storage-api-dump): the one line format of an exported gallery (`line_of`, with `space_of`),
 * the batch read in key order that writes it, and the gallery registry.
 */

/**
 * Encodes one gallery record as a JSON line with a fixed field order and canonical values: map keys
 * sorted, integers exact (64-bit included), other numbers with 17 significant digits (round-trip
 * exact; Tarantool's json module keeps only 14), the vector as base64.
 */
export const GALLERY_LINE_LUA = String.raw`
local json, digest = require('json'), require('digest')
local enc
local function is_seq(t)
  local mt = getmetatable(t)
  local s = mt and mt.__serialize
  if s == 'seq' or s == 'sequence' or s == 'array' then return true end
  if s == 'map' or s == 'mapping' then return false end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n > 0 and n == #t
end
enc = function(v, buf, where)
  local t = type(v)
  if v == nil then buf[#buf + 1] = 'null'
  elseif t == 'boolean' then buf[#buf + 1] = v and 'true' or 'false'
  elseif t == 'number' then
    if v ~= v or v == math.huge or v == -math.huge then error(where .. ': a non-finite number cannot be exported', 0) end
    if v == math.floor(v) and v >= -2^53 and v <= 2^53 then buf[#buf + 1] = string.format('%d', v)
    else buf[#buf + 1] = string.format('%.17g', v) end
  elseif t == 'cdata' then
    local s = tostring(v)
    if s:match('^%-?%d+U?LL$') == nil then error(where .. ': cannot export a value ' .. s, 0) end
    buf[#buf + 1] = (s:gsub('U?LL$', ''))
  elseif t == 'string' then buf[#buf + 1] = json.encode(v)
  elseif t == 'table' then
    if is_seq(v) then
      buf[#buf + 1] = '['
      for i = 1, #v do
        if i > 1 then buf[#buf + 1] = ',' end
        enc(v[i], buf, where)
      end
      buf[#buf + 1] = ']'
    else
      local keys = {}
      for k in pairs(v) do
        if type(k) ~= 'string' then error(where .. ': map key ' .. tostring(k) .. ' is not a string', 0) end
        keys[#keys + 1] = k
      end
      table.sort(keys)
      buf[#buf + 1] = '{'
      for i, k in ipairs(keys) do
        if i > 1 then buf[#buf + 1] = ',' end
        buf[#buf + 1] = json.encode(k)
        buf[#buf + 1] = ':'
        enc(v[k], buf, where)
      end
      buf[#buf + 1] = '}'
    end
  else error(where .. ': cannot export a ' .. t, 0) end
end
local function key_text(k) return (tostring(k):gsub('U?LL$', '')) end
local function line_of(name, t)
  local where = string.format("gallery '%s' record %s", name, key_text(t[1]))
  if type(t[2]) ~= 'string' then error(where .. ': vector is not a string', 0) end
  local buf = {'{"id":', key_text(t[1]), ',"feat":"', digest.base64_encode(t[2], {nowrap = true}), '","norm":'}
  enc(t[3], buf, where)
  buf[#buf + 1] = ',"meta":'
  enc(t[4] == nil and setmetatable({}, {__serialize = 'map'}) or t[4], buf, where)
  buf[#buf + 1] = '}'
  return table.concat(buf)
end
local function space_of(name)
  local sp = box.space[name]
  if sp == nil then error(string.format("gallery '%s' does not exist on this shard", tostring(name)), 0) end
  return sp
end
`;

/** → [{name, model, dim, count}] from the ffk_galleries registry (empty when there is none). */
export const LIST_GALLERIES_LUA = String.raw`
local reg = box.space.ffk_galleries
local out = {}
if reg == nil then return out end
for _, g in reg:pairs() do
  local sp = box.space[g[1]]
  out[#out + 1] = {name = g[1], model = g[2], dim = g[3], count = sp and sp:len() or 0}
end
return out
`;

/**
 * (name, afterKeyText|nil, limit) → base64 of the batch's lines joined by '\n' (base64, so bytes that
 * are not UTF-8 cross iproto unchanged), the last key as text, the number of lines.
 */
export const GALLERY_BATCH_LUA = String.raw`${GALLERY_LINE_LUA}
local name, after, limit = ...
local sp = space_of(name)
-- index:pairs() returns an iterator triplet: keep all three values.
local gen, param, state
if after == nil then gen, param, state = sp.index[0]:pairs() else gen, param, state = sp.index[0]:pairs(tonumber64(after), {iterator = 'GT'}) end
local lines, last = {}, nil
for _, t in gen, param, state do
  lines[#lines + 1] = line_of(name, t)
  last = t[1]
  if #lines >= limit then break end
end
return digest.base64_encode(table.concat(lines, '\n'), {nowrap = true}), last ~= nil and key_text(last) or nil, #lines
`;
