-- KEYS[1] the key's states: one string of struct-packed fields, no text conversion either
-- way: the key's expiry (its longest-lived state) as a double, then per policy its id
-- (zero-terminated) and its state a, b, c and the state's expiry as doubles. Doubles hold
-- every integer below 2^53 exactly, the range of the reference arithmetic.
-- ARGV: now, grace, cost, consume (1/0), count, then per policy: id, algorithm (0 gcra,
-- 1 fixed-window, 2 sliding-window), limit, windowMs, capacity.
-- The arithmetic is the reference of @stowage/core (evaluateRateLimit), in exact integers.
-- A state's expiry is counted from its own mark or window (core's stateExpiresAt), never from
-- NOW: after the clock stepped back NOW stands behind the mark, and the state must still
-- live until the reset a later call announces.
-- Returns {now, consumed (1/0), then per policy a, b, c (-1 for none)}: the states written
-- when the call consumed, the states read otherwise; the caller derives the decision.
-- Live states of policies not in this call (the key's policies changed) are kept.
local cost = tonumber(ARGV[3])
local consume = ARGV[4] == '1'
local n = tonumber(ARGV[5])
local raw = redis.call('GET', KEYS[1])

-- out[3i], out[3i+1], out[3i+2]: policy i's state (ARGV[1+5i] is its id).
local out = { NOW, 0 }
for i = 3, n * 3 + 2 do out[i] = -1 end
local kept, others, others_exp = false, '', 0
if raw then
  local pos
  kept, pos = struct.unpack('<d', raw)
  local len = #raw
  while pos <= len do
    local from = pos
    local id, a, b, c, e
    id, a, b, c, e, pos = struct.unpack('<sdddd', raw, pos)
    if e > NOW then
      local mine = false
      for i = 1, n do
        if ARGV[1 + i * 5] == id then
          out[i * 3], out[i * 3 + 1], out[i * 3 + 2] = a, b, c
          mine = true
          break
        end
      end
      if not mine then
        others = others .. string.sub(raw, from, pos - 1)
        if e > others_exp then others_exp = e end
      end
    end
  end
end

-- The states after this call, and their expiries: nxt[4i-3..4i].
local nxt = {}
local all = true
for i = 1, n do
  local base = 1 + i * 5
  local alg, L, W, C = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local a, b, c = out[i * 3], out[i * 3 + 1], out[i * 3 + 2]
  local found = a ~= -1
  local fits, na, nb, nc, exp
  if alg == 0 then
    local used, mark = 0, NOW
    if found and a > 0 then
      local elapsed = NOW - b
      if elapsed < 0 then elapsed = 0 end
      if elapsed < cdiv(a, L) then used = a - elapsed * L end
      mark = b > NOW and b or NOW
    end
    na, nb, nc = used + cost * W, mark, 0
    fits = na <= C * W
    exp = mark + cdiv(na, L)
  else
    local cur = fdiv(NOW, W)
    local used, mark, prev, el = 0, cur, 0, NOW - cur * W
    if alg == 1 then
      if found and a >= cur then used, mark = b, a end
      fits = used + cost <= L
      na, nb, nc = mark, used + cost, 0
      exp = (mark + 1) * W
    else
      if found then
        if a > cur then used, mark, prev, el = b, a, c, 0
        elseif a == cur then used, prev = b, c
        elseif a == cur - 1 then prev = b end
      end
      local weight = 0
      if prev ~= 0 then weight = fdiv(prev * (W - el), W) end
      local count = used + cost
      fits = weight + count <= L
      na, nb, nc = mark, count, prev
      exp = (mark + 2) * W - cdiv(W, count) + 1
    end
  end
  local j = i * 4
  nxt[j - 3], nxt[j - 2], nxt[j - 1], nxt[j] = na, nb, nc, exp
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
