-- The StreamStore of @stowage/stores-redis: the rules of core's StreamEngine (engine.ts), in Lua,
-- one call per operation. KEYS[1] is the store's index of deadlines; every key of a store
-- shares its hash tag (`<prefix>{streams}:`), so a fork may read its sources in one script on
-- Redis Cluster too. ARGV: now, grace, key prefix, operation, then the operation's arguments.
-- Results are arrays; a refusal is {'err', code, message, details as JSON}.
-- EVAL has no imports: stream-store.ts runs the files of stream/ as one script, in its order.

-- This part: a stream's keys; its record (a hash) and messages (a list), as read and written;
-- change events, refusals. A new incarnation's id comes from the caller (a random UUID), not
-- from a counter key: a store whose streams are all deleted leaves no key behind.

local P = ARGV[3]
local OP = ARGV[4]
local XKEY = KEYS[1]
local CHANNEL = P .. 'events'
local function mkey(name) return P .. 'm:' .. name end
local function dkey(id) return P .. 'd:' .. id end
local function pkey(id) return P .. 'p:' .. id end
-- The names of a stream's forks (a set): whether one still reads through a hidden source.
local function fkey(id) return P .. 'f:' .. id end

local FIELDS = { 'id', 'contentType', 'mediaType', 'ttlMs', 'expiresAt', 'createdAt', 'accessedAt', 'deadline',
  'closed', 'lastSeq', 'tail', 'forkedFrom', 'forkPosition', 'forkSubOffset', 'refCount', 'deleted' }
local NUMERIC = { ttlMs = true, expiresAt = true, createdAt = true, accessedAt = true, deadline = true, tail = true,
  forkPosition = true, forkSubOffset = true, refCount = true }

-- Details as a JSON object. Not cjson.encode: it writes numbers with 14 significant digits,
-- so a producer epoch or seq of 10^14 or more would come back wrong. Integers are written
-- whole (fmt); every value here is a string, a boolean or an integer.
local function encodeDetails(details)
  local parts = {}
  for k, v in pairs(details) do
    local value
    if type(v) == 'number' then
      value = v == math.floor(v) and fmt(v) or string.format('%.17g', v)
    else
      value = cjson.encode(v)
    end
    parts[#parts + 1] = cjson.encode(k) .. ':' .. value
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

local function fail(code, message, details)
  return { 'err', code, message, encodeDetails(details or {}) }
end

local function get(name)
  local v = redis.call('HMGET', mkey(name), unpack(FIELDS))
  if not v[1] then return nil end
  local s = { name = name }
  for i, f in ipairs(FIELDS) do
    local x = v[i]
    if x and x ~= '' then
      if NUMERIC[f] then s[f] = tonumber(x) else s[f] = x end
    end
  end
  s.closed = s.closed == '1'
  s.deleted = s.deleted == '1'
  s.refCount = s.refCount or 0
  return s
end

local function put(s)
  local args = {}
  for _, f in ipairs(FIELDS) do
    local x = s[f]
    if x ~= nil then
      if x == true then x = '1' elseif x == false then x = '0' elseif NUMERIC[f] then x = fmt(x) end
      args[#args + 1] = f
      args[#args + 1] = x
    end
  end
  redis.call('DEL', mkey(s.name))
  redis.call('HSET', mkey(s.name), unpack(args))
  if s.deadline and not s.deleted then
    redis.call('ZADD', XKEY, fmt(s.deadline), s.name)
  else
    redis.call('ZREM', XKEY, s.name)
  end
end

local function info(s)
  return { s.id, s.contentType, s.ttlMs and fmt(s.ttlMs) or '', s.expiresAt and fmt(s.expiresAt) or '',
    s.closed and '1' or '0', fmt(s.tail), fmt(s.createdAt), s.forkedFrom or '',
    s.forkedFrom and fmt(s.forkPosition or 0) or '', s.forkSubOffset and fmt(s.forkSubOffset) or '' }
end

local function push(id, list, from)
  for i = from, #list do redis.call('RPUSH', dkey(id), list[i]) end
end

local function publish(name) redis.call('PUBLISH', CHANNEL, name) end
