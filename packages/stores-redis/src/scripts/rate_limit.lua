-- KEYS[1] the key's states: one string of struct-packed fields, no text conversion either
-- way: the key's expiry (its longest-lived state) as a double, then per policy its id
-- (zero-terminated) and its state's columns mark, used, previous (core's
-- RateLimitStateColumns) and the state's expiry as doubles. Doubles hold every integer below
-- 2^53 exactly, the range of the reference arithmetic.
-- ARGV: now, grace, cost, consume (1/0), count, then per policy: id, variant (the algorithm's
-- name: 'gcra', 'fixed-window', 'sliding-window', or 'anchored-window:' and its onExceed
-- 'keep', 'restart' or 'backoff'), limit, windowMs, capacity (an anchored window's threshold).
-- The arithmetic is the reference of @stowage/core (evaluateRateLimit), in exact integers.
-- A state's expiry is counted from its own mark or window (core's stateExpiresAt), never from
-- NOW: after the clock stepped back NOW stands behind the mark, and the state must still
-- live until the reset a later call announces.
-- Returns {now, consumed (1/0), then per policy mark, used, previous (-1 for none)}: the
-- states written when the call consumed, the states read otherwise; the caller derives the
-- decision.
-- Live states of policies not in this call (the key's policies changed) are kept.
local cost = tonumber(ARGV[3])
local consume = ARGV[4] == '1'
local n = tonumber(ARGV[5])
local raw = redis.call('GET', KEYS[1])
local CORRUPT = 'STOWAGE_CORRUPT the key holds no rate-limit states as this store writes them'

-- out[3i], out[3i+1], out[3i+2]: policy i's mark, used, previous (ARGV[1+5i] is its id).
local out = { NOW, 0 }
for i = 3, n * 3 + 2 do out[i] = -1 end
local kept, others, others_exp = false, '', 0
if raw then
  -- A value not in this layout (another program's, under our prefix) is refused, not misread.
  -- The store never writes fewer than 41 bytes: the expiry and one state (an id, its zero, 4 doubles).
  local len = #raw
  if len < 41 then return redis.error_reply(CORRUPT) end
  local pos
  kept, pos = struct.unpack('<d', raw)
  while pos <= len do
    local zero = string.find(raw, '\0', pos, true)
    if not zero or zero + 32 > len then return redis.error_reply(CORRUPT) end
    local from = pos
    local id, mark, used, previous, expires_at
    id, mark, used, previous, expires_at, pos = struct.unpack('<sdddd', raw, pos)
    if expires_at > NOW then
      local mine = false
      for i = 1, n do
        if ARGV[1 + i * 5] == id then
          out[i * 3], out[i * 3 + 1], out[i * 3 + 2] = mark, used, previous
          mine = true
          break
        end
      end
      if not mine then
        others = others .. string.sub(raw, from, pos - 1)
        if expires_at > others_exp then others_exp = expires_at end
      end
    end
  end
end

-- The states after this call, and their expiries: nxt[4i-3..4i] = mark, used, previous, expiry.
local nxt = {}
local all = true
for i = 1, n do
  local base = 1 + i * 5
  local algorithm = ARGV[base + 1]
  local limit, window_ms, capacity = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local found = out[i * 3] ~= -1
  local fits, new_mark, new_used, new_previous, expires_at
  if algorithm == 'gcra' then
    local at, debt = out[i * 3], out[i * 3 + 1]
    local owed, mark = 0, NOW
    if found and debt > 0 then
      local elapsed = NOW - at
      if elapsed < 0 then elapsed = 0 end
      if elapsed < cdiv(debt, limit) then owed = debt - elapsed * limit end
      mark = at > NOW and at or NOW
    end
    new_mark, new_used, new_previous = mark, owed + cost * window_ms, 0
    fits = new_used <= capacity * window_ms
    expires_at = mark + cdiv(new_used, limit)
  elseif algorithm == 'fixed-window' or algorithm == 'sliding-window' then
    local window, count, previous_count = out[i * 3], out[i * 3 + 1], out[i * 3 + 2]
    local cur = fdiv(NOW, window_ms)
    local used, mark, prev, elapsed = 0, cur, 0, NOW - cur * window_ms
    if algorithm == 'fixed-window' then
      if found and window >= cur then used, mark = count, window end
      fits = used + cost <= limit
      new_mark, new_used, new_previous = mark, used + cost, 0
      expires_at = (mark + 1) * window_ms
    else
      if found then
        if window > cur then used, mark, prev, elapsed = count, window, previous_count, 0
        elseif window == cur then used, prev = count, previous_count
        elseif window == cur - 1 then prev = count end
      end
      local weight = 0
      if prev ~= 0 then weight = fdiv(prev * (window_ms - elapsed), window_ms) end
      local after = used + cost
      fits = weight + after <= limit
      new_mark, new_used, new_previous = mark, after, prev
      expires_at = (mark + 2) * window_ms - cdiv(window_ms, after) + 1
    end
  elseif string.sub(algorithm, 1, 16) == 'anchored-window:' then
    -- mark, used, previous: the window's start, count and length; none live: a window from NOW.
    local mode, threshold = string.sub(algorithm, 17), capacity
    local start, count, length = NOW, 0, window_ms
    if found then start, count, length = out[i * 3], out[i * 3 + 1], out[i * 3 + 2] end
    local after = count + cost
    fits = after <= limit
    if after > threshold and mode ~= 'keep' then
      -- A clock behind the start counts as no time passed: the window restarts at its start.
      if NOW > start then start = NOW end
      if mode == 'restart' then
        length = window_ms
      elseif mode == 'backoff' then
        -- window_ms * 2^k, at most 2^52 (core's anchoredBackoffMs); doubles are exact here.
        local k, longest = after - threshold - 1, 2 ^ 52
        if k > 52 or window_ms > longest / 2 ^ k then length = longest else length = window_ms * 2 ^ k end
      else
        return redis.error_reply('ERR unknown rate-limit onExceed ' .. tostring(mode))
      end
    end
    new_mark, new_used, new_previous = start, after, length
    expires_at = start + length
  else
    return redis.error_reply('ERR unknown rate-limit algorithm ' .. tostring(algorithm))
  end
  local j = i * 4
  nxt[j - 3], nxt[j - 2], nxt[j - 1], nxt[j] = new_mark, new_used, new_previous, expires_at
  all = all and fits
end

if consume and all then
  local latest = others_exp > NOW and others_exp or NOW
  local value = others
  for i = 1, n do
    local j = i * 4
    if nxt[j] > latest then latest = nxt[j] end
    value = struct.pack('<sdddd', ARGV[1 + i * 5], nxt[j - 3], nxt[j - 2], nxt[j - 1], nxt[j]) .. value
    out[i * 3], out[i * 3 + 1], out[i * 3 + 2] = nxt[j - 3], nxt[j - 2], nxt[j - 1]
  end
  value = struct.pack('<d', latest) .. value
  if kept == latest then
    redis.call('SET', KEYS[1], value, 'KEEPTTL')
  else
    redis.call('SET', KEYS[1], value, expiry(latest, NOW, GRACE))
  end
  out[2] = 1
end
return out
