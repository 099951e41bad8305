-- Reads: messages through the fork chain, head, and tail for waiters.

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
  -- The messages go back as one string and where each ends (4-byte little-endian integers):
  -- two replies, however many messages, where a pair per message cost the client a parse each.
  -- Large messages (512 bytes and up on average) go back as they are, one bulk string each, for
  -- the client to join: Lua's table.concat copies them over and over as its buffer grows (134 ms
  -- for 100 x 64 KiB against 59 ms for the list and the client's one copy).
  local parts, ends, bytes, last = {}, {}, 0, position
  local count = 0
  -- LRANGE in batches sized by the messages seen so far: one LRANGE of maxMessages large
  -- messages would copy far more than maxBytes into Lua (1000 x 64 KiB for a 16 MiB read).
  local batch, done = 16, false
  for i = #segments, 1, -1 do
    local seg = segments[i]
    local after = math.max(position, seg.lo)
    while not done and seg.hi > after and count < maxMessages do
      local take = math.min(seg.hi - after, maxMessages - count, batch)
      local items = redis.call('LRANGE', dkey(seg.id), after - seg.lo, after - seg.lo + take - 1)
      for j, data in ipairs(items) do
        if count > 0 and bytes + #data > maxBytes then done = true break end
        bytes = bytes + #data
        count = count + 1
        last = after + j
        parts[count] = data
        ends[count] = struct.pack('<I4', bytes)
      end
      if #items < take then done = true end
      after = after + take
      -- enough for what maxBytes leaves at the average size so far, and one more
      batch = math.max(1, math.floor((maxBytes - bytes) * count / math.max(bytes, 1)) + 1)
    end
    if done or count >= maxMessages then break end
  end
  if s.ttlMs then
    touch(s)
    put(s)
  end
  local data = parts
  if count == 0 or bytes < 512 * count then data = table.concat(parts) end
  return { 'read', fmt(last), last == s.tail and '1' or '0', info(s), data, table.concat(ends) }
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
