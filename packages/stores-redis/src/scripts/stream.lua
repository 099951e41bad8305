-- The StreamStore of @stowage/stores-redis: the rules of core's StreamEngine (engine.ts), in Lua,
-- one call per operation. KEYS[1] is the store's index of deadlines; every key of a store
-- shares its hash tag (`<prefix>{streams}:`), so a fork may read its sources in one script on
-- Redis Cluster too. ARGV: now, grace, key prefix, operation, then the operation's arguments.
-- Results are arrays; a refusal is {'err', code, message, details as JSON}.

local P = ARGV[3]
local OP = ARGV[4]
local XKEY = KEYS[1]
local CHANNEL = P .. 'events'
local function mkey(name) return P .. 'm:' .. name end
local function dkey(id) return P .. 'd:' .. id end
local function pkey(id) return P .. 'p:' .. id end
-- The names of a stream's forks (a set): whether one still reads through a hidden source.
local function fkey(id) return P .. 'f:' .. id end

local FIELDS = { 'id', 'contentType', 'mediaType', 'ttlMs', 'expiresAt', 'createdAt', 'accessedAt', 'deadline', 'closed',
  'lastSeq', 'tail', 'forkedFrom', 'forkPosition', 'forkSubOffset', 'refCount', 'deleted' }
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

local function is_expired(s) return s.deadline ~= nil and s.deadline <= NOW end

-- The stored forks of `s` (an entry whose stream has gone, or was re-created as another, is skipped).
local function forks(s)
  local out = {}
  if s.refCount == 0 then return out end
  for _, name in ipairs(redis.call('SMEMBERS', fkey(s.id))) do
    local f = get(name)
    if f and f.forkedFrom == s.name then out[#out + 1] = f end
  end
  return out
end

-- A stream deleted or expired is kept, hidden ('gone'), only while a fork still reads through
-- it: a live fork, or one itself kept for a live fork. Once every fork has expired or gone it
-- is absent at once, whether or not cleanup has run (core's streams/presence.ts).
local presence
local function pinned(s)
  if s.refCount == 0 then return false end
  local list = forks(s)
  -- A source whose forks predate the set of fork names is kept as before, until cleanup.
  if #list == 0 and redis.call('EXISTS', fkey(s.id)) == 0 then return true end
  for _, f in ipairs(list) do
    if presence(f) ~= 'absent' then return true end
  end
  return false
end
presence = function(s)
  if not s then return 'absent' end
  if not s.deleted and not is_expired(s) then return 'live' end
  if pinned(s) then return 'gone' end
  return 'absent'
end

local function deadline_of(s)
  local idle = s.ttlMs and (s.accessedAt + s.ttlMs) or nil
  if not idle then return s.expiresAt end
  if s.expiresAt and s.expiresAt < idle then return s.expiresAt end
  return idle
end

local function touch(s)
  if NOW > s.accessedAt then s.accessedAt = NOW end
  s.deadline = deadline_of(s)
end

local function info(s)
  return { s.id, s.contentType, s.ttlMs and fmt(s.ttlMs) or '', s.expiresAt and fmt(s.expiresAt) or '',
    s.closed and '1' or '0', fmt(s.tail), fmt(s.createdAt), s.forkedFrom or '',
    s.forkedFrom and fmt(s.forkPosition or 0) or '', s.forkSubOffset and fmt(s.forkSubOffset) or '' }
end

local function live(name)
  local s = get(name)
  local p = presence(s)
  if p == 'live' then return s end
  if p == 'gone' then return nil, fail('GONE', 'stream ' .. name .. ' was deleted and is kept only for its forks', { name = name }) end
  return nil, fail('NOT_FOUND', 'stream ' .. name .. ' does not exist', { name = name })
end

local function remove(s)
  if redis.call('HGET', mkey(s.name), 'id') == s.id then redis.call('DEL', mkey(s.name)) end
  redis.call('DEL', dkey(s.id), pkey(s.id), fkey(s.id))
  redis.call('ZREM', XKEY, s.name)
end

-- Removes a stream and, when it was a source's last fork, the hidden sources up the chain.
local function remove_cascade(s)
  remove(s)
  local removed = 1
  local child = s
  while child.forkedFrom do
    local parent = get(child.forkedFrom)
    if not parent then break end
    redis.call('SREM', fkey(parent.id), child.name)
    parent.refCount = math.max(0, parent.refCount - 1)
    if parent.refCount == 0 and (parent.deleted or is_expired(parent)) then
      remove(parent)
      removed = removed + 1
      child = parent
    else
      put(parent)
      break
    end
  end
  return removed
end

-- Removes `s` and its forks, all the way down, without touching its source.
local function remove_forks(s)
  local removed = 1
  for _, f in ipairs(forks(s)) do removed = removed + remove_forks(f) end
  remove(s)
  return removed
end

-- Removes a stream nothing reads through any more with every stream forked from it (all
-- absent too), then as remove_cascade: a stored fork always names the incarnation it forked from.
local function remove_tree(s)
  local removed = 0
  for _, f in ipairs(forks(s)) do removed = removed + remove_forks(f) end
  return removed + remove_cascade(s)
end

-- Byte-wise string order (Lua's < would use the server's locale).
local function compare(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y and -1 or 1 end
  end
  if #a == #b then return 0 end
  return #a < #b and -1 or 1
end

local function producer_state(s, pid)
  local v = redis.call('HGET', pkey(s.id), pid)
  if not v then return nil end
  local e, q = string.match(v, '^(%d+):(%d+)')
  return { epoch = tonumber(e), seq = tonumber(q) }
end

-- The reference producer check (core/src/streams/producer.ts), in the contract's order.
local function check_producer(state, pid, epoch, seq, closed, s)
  if state then
    if epoch < state.epoch then
      return 'reject', fail('FENCED', 'producer ' .. pid .. ' epoch ' .. fmt(epoch) .. ' is stale; the current epoch is ' .. fmt(state.epoch), { currentEpoch = state.epoch })
    end
    if epoch == state.epoch and seq <= state.seq then return 'duplicate', state end
  end
  if closed then
    return 'reject', fail('CONFLICT', 'the stream is closed', { closed = true, nextOffset = s.tail })
  end
  if not state then
    if seq ~= 0 then
      return 'reject', fail('CONFLICT', 'producer ' .. pid .. ' is new and must start at seq 0, got ' .. fmt(seq), { expectedSeq = 0, receivedSeq = seq })
    end
    return 'accept', { epoch = epoch, seq = 0 }
  end
  if epoch > state.epoch then
    if seq ~= 0 then
      return 'reject', fail('INVALID_ARGUMENT', 'producer ' .. pid .. ' epoch ' .. fmt(epoch) .. ' is new and must start at seq 0, got ' .. fmt(seq), { epochSeq = true, receivedSeq = seq })
    end
    return 'accept', { epoch = epoch, seq = 0 }
  end
  if seq ~= state.seq + 1 then
    return 'reject', fail('CONFLICT', 'producer ' .. pid .. ' seq gap: expected ' .. fmt(state.seq + 1) .. ', got ' .. fmt(seq), { expectedSeq = state.seq + 1, receivedSeq = seq })
  end
  return 'accept', { epoch = epoch, seq = seq }
end

local function set_producer(s, pid, st)
  redis.call('HSET', pkey(s.id), pid, fmt(st.epoch) .. ':' .. fmt(st.seq))
end

local function push(id, list, from)
  for i = from, #list do redis.call('RPUSH', dkey(id), list[i]) end
end

local function new_id()
  return fmt(redis.call('INCR', P .. 'n'))
end

local function publish(name) redis.call('PUBLISH', CHANNEL, name) end

-- create: contentType, mediaType, ttlMs, expiresAt, closed, fork from, fork position, subOffset,
-- has prefix (0/1), message count, [prefix], messages...
local function create(a)
  local name = a[1]
  local ct, mt, ttl, exp, closed = a[2], a[3], tonumber(a[4]), tonumber(a[5]), a[6] == '1'
  local from, fpos, sub, hasPrefix, count = a[7], tonumber(a[8]), tonumber(a[9]), a[10] == '1', tonumber(a[11])
  local list = {}
  for i = 12, #a do list[#list + 1] = a[i] end
  local existing = get(name)
  local p = presence(existing)
  if p == 'gone' then
    return fail('CONFLICT', 'stream ' .. name .. ' was deleted but is kept for its forks; the name cannot be reused yet', { name = name, gone = true })
  end
  if p == 'live' then
    local s = existing
    local same = true
    if mt ~= '' then same = mt == s.mediaType else same = from ~= '' end
    local cttl, cexp = ttl, exp
    if from ~= '' and not cttl and not cexp then
      local src = get(from)
      if src then cttl, cexp = src.ttlMs, src.expiresAt end
    end
    same = same and cttl == s.ttlMs and cexp == s.expiresAt and closed == s.closed
    same = same and ((from ~= '' and from) or nil) == s.forkedFrom
    if same and from ~= '' then
      if fpos and fpos ~= s.forkPosition then same = false end
      if sub ~= (s.forkSubOffset or 0) then same = false end
    end
    if same then return { 'exists', info(s) } end
    return fail('CONFLICT', 'stream ' .. name .. ' exists with another configuration', { name = name })
  end
  -- An absent stream may still be stored (expired, or kept for forks that have all gone):
  -- clear it and its forks before the name is reused.
  if existing then remove_tree(existing) end
  local tail = 0
  if from ~= '' then
    local src = get(from)
    local sp = presence(src)
    if sp == 'absent' then return fail('NOT_FOUND', 'fork source ' .. from .. ' does not exist', { name = from }) end
    if sp == 'gone' then return fail('CONFLICT', 'fork source ' .. from .. ' was deleted', { name = from, gone = true }) end
    if mt ~= '' and mt ~= src.mediaType then
      return fail('CONFLICT', 'fork content type ' .. ct .. " differs from the source's " .. src.contentType)
    end
    tail = fpos or src.tail
    if tail > src.tail then
      return fail('INVALID_ARGUMENT', 'fork offset is past the source tail')
    end
    if sub > 0 and tail == src.tail then
      return fail('INVALID_ARGUMENT', 'a fork sub-offset needs a source message after the fork offset')
    end
    if ct == '' then ct, mt = src.contentType, src.mediaType end
    if not ttl and not exp then ttl, exp = src.ttlMs, src.expiresAt end
    src.refCount = src.refCount + 1
    put(src)
    redis.call('SADD', fkey(src.id), name)
  end
  local s = {
    name = name, id = new_id(), contentType = ct, mediaType = mt, ttlMs = ttl, expiresAt = exp, createdAt = NOW,
    accessedAt = NOW, closed = closed, tail = tail, refCount = 0, deleted = false,
  }
  if from ~= '' then
    s.forkedFrom = from
    s.forkPosition = tail
    if sub > 0 then s.forkSubOffset = sub end
  end
  s.deadline = deadline_of(s)
  push(s.id, list, 1)
  s.tail = tail + #list
  put(s)
  publish(name)
  return { 'created', info(s) }
end

-- append: mediaType, seq, producer id, epoch, producer seq, close (0/1), messages...
local function append(a)
  local s, err = live(a[1])
  if not s then return err end
  local mt, seq, pid, epoch, pseq, close = a[2], a[3], a[4], tonumber(a[5]), tonumber(a[6]), a[7] == '1'
  if mt ~= '' and mt ~= s.mediaType then
    return fail('CONFLICT', 'content type ' .. mt .. " does not match the stream's " .. s.mediaType, { contentType = true })
  end
  local accepted
  if pid ~= '' then
    local verdict, r = check_producer(producer_state(s, pid), pid, epoch, pseq, s.closed, s)
    if verdict == 'duplicate' then return { 'duplicate', fmt(s.tail), s.closed and '1' or '0', fmt(r.epoch), fmt(r.seq) } end
    if verdict == 'reject' then return r end
    accepted = r
  elseif s.closed then
    return fail('CONFLICT', 'stream ' .. s.name .. ' is closed', { closed = true, nextOffset = s.tail })
  end
  if seq ~= '' and s.lastSeq and compare(seq, s.lastSeq) <= 0 then
    return fail('CONFLICT', 'Stream-Seq ' .. seq .. ' is not after the last one, ' .. s.lastSeq, { seqConflict = true, lastSeq = s.lastSeq })
  end
  push(s.id, a, 8)
  s.tail = s.tail + (#a - 7)
  if seq ~= '' then s.lastSeq = seq end
  if close then s.closed = true end
  touch(s)
  put(s)
  if accepted then set_producer(s, pid, accepted) end
  publish(s.name)
  return { 'appended', fmt(s.tail), s.closed and '1' or '0', accepted and fmt(accepted.epoch) or '', accepted and fmt(accepted.seq) or '' }
end

-- read: position, maxBytes, maxMessages. Messages after `position` through the fork chain.
local function read(a)
  local s, err = live(a[1])
  if not s then return err end
  local position, maxBytes, maxMessages = tonumber(a[2]), tonumber(a[3]), tonumber(a[4])
  if position > s.tail then
    return fail('INVALID_ARGUMENT', 'offset is past the tail', { pastTail = true })
  end
  local segments = {}
  local cur, hi = s, s.tail
  while cur and hi > position do
    local lo = cur.forkPosition or 0
    if hi > lo then segments[#segments + 1] = { id = cur.id, lo = lo, hi = hi } end
    if not cur.forkedFrom or lo <= position then break end
    if lo < hi then hi = lo end
    cur = get(cur.forkedFrom)
  end
  local out, bytes, last = {}, 0, position
  local count = 0
  for i = #segments, 1, -1 do
    local seg = segments[i]
    local after = math.max(position, seg.lo)
    if seg.hi > after and count < maxMessages then
      local take = math.min(seg.hi - after, maxMessages - count)
      local items = redis.call('LRANGE', dkey(seg.id), after - seg.lo, after - seg.lo + take - 1)
      local stop = false
      for j, data in ipairs(items) do
        if count > 0 and bytes + #data > maxBytes then stop = true break end
        bytes = bytes + #data
        count = count + 1
        last = after + j
        out[#out + 1] = fmt(last)
        out[#out + 1] = data
      end
      if stop or #items < take then break end
    end
  end
  if s.ttlMs then
    touch(s)
    put(s)
  end
  local result = { 'read', fmt(last), last == s.tail and '1' or '0', info(s) }
  for _, x in ipairs(out) do result[#result + 1] = x end
  return result
end

local function head(a)
  local s = get(a[1])
  if presence(s) ~= 'live' then return { 'none' } end
  return { 'head', info(s) }
end

-- tail: name. For a waiter: tail, closed, id, and the expiry with NOW (it looks again then).
local function tail(a)
  local s = get(a[1])
  if presence(s) ~= 'live' then return { 'none' } end
  return { 'tail', fmt(s.tail), s.closed and '1' or '0', s.id, s.deadline and fmt(s.deadline) or '', fmt(NOW) }
end

-- close: producer id, epoch, seq.
local function close_stream(a)
  local s, err = live(a[1])
  if not s then return err end
  local already = s.closed
  local pid = a[2]
  local accepted
  if pid ~= '' then
    local verdict, r = check_producer(producer_state(s, pid), pid, tonumber(a[3]), tonumber(a[4]), s.closed, s)
    if verdict == 'duplicate' then return { 'duplicate', fmt(s.tail), already and '1' or '0', fmt(r.epoch), fmt(r.seq) } end
    if verdict == 'reject' then return r end
    accepted = r
    set_producer(s, pid, accepted)
  end
  s.closed = true
  touch(s)
  put(s)
  publish(s.name)
  return { 'closed', fmt(s.tail), already and '1' or '0', accepted and fmt(accepted.epoch) or '', accepted and fmt(accepted.seq) or '' }
end

local function delete(a)
  local s = get(a[1])
  local p = presence(s)
  if p == 'absent' then return { 0 } end
  if p == 'gone' then
    return fail('GONE', 'stream ' .. a[1] .. ' was already deleted and is kept only for its forks', { name = a[1] })
  end
  -- Kept, hidden, while a fork reads through it; otherwise it goes now with its expired forks.
  if pinned(s) then
    s.deleted = true
    put(s)
  else
    remove_tree(s)
  end
  publish(s.name)
  return { 1 }
end

-- cleanup: batch size. Expired streams leave; those a fork still reads through stay hidden until it goes.
local function cleanup(a)
  local limit = tonumber(a[1])
  local names = redis.call('ZRANGEBYSCORE', XKEY, '-inf', fmt(NOW), 'LIMIT', 0, limit)
  local removed = 0
  for _, name in ipairs(names) do
    local s = get(name)
    if not s then
      redis.call('ZREM', XKEY, name)
    elseif pinned(s) then
      s.deleted = true
      put(s)
    else
      removed = removed + remove_tree(s)
    end
    publish(name)
  end
  return { removed, #names == limit and 1 or 0 }
end

local args = {}
for i = 5, #ARGV do args[#args + 1] = ARGV[i] end
if OP == 'create' then return create(args) end
if OP == 'append' then return append(args) end
if OP == 'read' then return read(args) end
if OP == 'head' then return head(args) end
if OP == 'tail' then return tail(args) end
if OP == 'close' then return close_stream(args) end
if OP == 'delete' then return delete(args) end
if OP == 'cleanup' then return cleanup(args) end
return fail('INTERNAL', 'unknown operation ' .. OP)
