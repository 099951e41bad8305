-- Writes to a live stream: append and close, each guarded by its producer.

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

-- append: mediaType, seq, producer id, epoch, producer seq, close (0/1), messages...
local function append(a)
  local s, err = live(a[1])
  if not s then return err end
  local mt, seq, pid, epoch, pseq, close = a[2], a[3], a[4], tonumber(a[5]), tonumber(a[6]), a[7] == '1'
  if mt ~= '' and mt ~= s.mediaType then
    return fail('CONFLICT', 'content type ' .. mt .. " does not match the stream's " .. s.mediaType,
      { contentType = true })
  end
  local accepted
  if pid ~= '' then
    local verdict, r = check_producer(producer_state(s, pid), pid, epoch, pseq, s.closed, s)
    if verdict == 'duplicate' then
      return { 'duplicate', fmt(s.tail), s.closed and '1' or '0', fmt(r.epoch), fmt(r.seq) }
    end
    if verdict == 'reject' then return r end
    accepted = r
  elseif s.closed then
    return fail('CONFLICT', 'stream ' .. s.name .. ' is closed', { closed = true, nextOffset = s.tail })
  end
  if seq ~= '' and s.lastSeq and compare(seq, s.lastSeq) <= 0 then
    return fail('CONFLICT', 'Stream-Seq ' .. seq .. ' is not after the last one, ' .. s.lastSeq,
      { seqConflict = true, lastSeq = s.lastSeq })
  end
  push(s.id, a, 8)
  s.tail = s.tail + (#a - 7)
  if seq ~= '' then s.lastSeq = seq end
  if close then s.closed = true end
  touch(s)
  put(s)
  if accepted then set_producer(s, pid, accepted) end
  publish(s.name)
  return { 'appended', fmt(s.tail), s.closed and '1' or '0', accepted and fmt(accepted.epoch) or '',
    accepted and fmt(accepted.seq) or '', s.id }
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
    if verdict == 'duplicate' then
      return { 'duplicate', fmt(s.tail), already and '1' or '0', fmt(r.epoch), fmt(r.seq) }
    end
    if verdict == 'reject' then return r end
    accepted = r
    set_producer(s, pid, accepted)
  end
  s.closed = true
  touch(s)
  put(s)
  publish(s.name)
  return { 'closed', fmt(s.tail), already and '1' or '0', accepted and fmt(accepted.epoch) or '',
    accepted and fmt(accepted.seq) or '' }
end
