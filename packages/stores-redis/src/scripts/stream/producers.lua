-- Idempotent producers: their stored (epoch, seq) and the check of each write against it.

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
      return 'reject', fail('FENCED',
        'producer ' .. pid .. ' epoch ' .. fmt(epoch) .. ' is stale; the current epoch is ' .. fmt(state.epoch),
        { currentEpoch = state.epoch })
    end
    if epoch == state.epoch and seq <= state.seq then return 'duplicate', state end
  end
  if closed then
    return 'reject', fail('CONFLICT', 'the stream is closed', { closed = true, nextOffset = s.tail })
  end
  if not state then
    if seq ~= 0 then
      return 'reject', fail('CONFLICT', 'producer ' .. pid .. ' is new and must start at seq 0, got ' .. fmt(seq),
        { expectedSeq = 0, receivedSeq = seq })
    end
    return 'accept', { epoch = epoch, seq = 0 }
  end
  if epoch > state.epoch then
    if seq ~= 0 then
      return 'reject', fail('INVALID_ARGUMENT',
        'producer ' .. pid .. ' epoch ' .. fmt(epoch) .. ' is new and must start at seq 0, got ' .. fmt(seq),
        { epochSeq = true, receivedSeq = seq })
    end
    return 'accept', { epoch = epoch, seq = 0 }
  end
  if seq ~= state.seq + 1 then
    return 'reject', fail('CONFLICT',
      'producer ' .. pid .. ' seq gap: expected ' .. fmt(state.seq + 1) .. ', got ' .. fmt(seq),
      { expectedSeq = state.seq + 1, receivedSeq = seq })
  end
  return 'accept', { epoch = epoch, seq = seq }
end

local function set_producer(s, pid, st)
  redis.call('HSET', pkey(s.id), pid, fmt(st.epoch) .. ':' .. fmt(st.seq))
end
