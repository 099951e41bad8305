-- KEYS[1] the key's states: a hash with fields "<policy id>:a", ":b", ":c", ":e" (expiry)
-- per policy, plus "_exp", the expiry of the key (its longest-lived state).
-- ARGV: now, grace, cost, consume (1/0), count, then per policy: id, algorithm (0 gcra,
-- 1 fixed-window, 2 sliding-window), limit, windowMs, capacity.
-- The arithmetic is the reference of @stowage/core (evaluateRateLimit), in exact integers.
-- Returns {now, consumed (1/0), then per policy a, b, c (-1 for none)}: the states written
-- when the call consumed, the states read otherwise; the caller derives the decision.
-- (Numbers go to redis.call and to the reply as exact integers; only tostring would round.)
local cost = tonumber(ARGV[3])
local consume = ARGV[4] == '1'
local n = tonumber(ARGV[5])
local fields = {}
for i = 1, n do
  local id = ARGV[6 + (i - 1) * 5]
  fields[#fields + 1] = id .. ':a'
  fields[#fields + 1] = id .. ':b'
  fields[#fields + 1] = id .. ':c'
  fields[#fields + 1] = id .. ':e'
end
fields[#fields + 1] = '_exp'
local raw = redis.call('HMGET', KEYS[1], unpack(fields))

local read, after, ttls = {}, {}, {}
local all = true
for i = 1, n do
  local base = 6 + (i - 1) * 5
  local alg, L, W, C = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local a, b, c
  local e = raw[i * 4]
  if e and tonumber(e) > NOW then
    a, b, c = tonumber(raw[i * 4 - 3]), tonumber(raw[i * 4 - 2]), tonumber(raw[i * 4 - 1])
  end
  read[i] = a and { a, b, c } or false
  local fits, na, nb, nc, ttl
  if alg == 0 then
    local used, mark = 0, NOW
    if a and a > 0 then
      local elapsed = NOW - b
      if elapsed < 0 then elapsed = 0 end
      if elapsed < cdiv(a, L) then used = a - elapsed * L end
      mark = b > NOW and b or NOW
    end
    na, nb, nc = used + cost * W, mark, 0
    fits = na <= C * W
    ttl = cdiv(na, L)
  else
    local cur = fdiv(NOW, W)
    local used, mark, prev, el = 0, cur, 0, NOW - cur * W
    if alg == 1 then
      if a and a >= cur then used, mark = b, a end
      fits = used + cost <= L
      na, nb, nc = mark, used + cost, 0
      ttl = (mark + 1) * W - NOW
    else
      if a then
        if a > cur then used, mark, prev, el = b, a, c, 0
        elseif a == cur then used, prev = b, c
        elseif a == cur - 1 then prev = b end
      end
      local weight = 0
      if prev ~= 0 then weight = fdiv(prev * (W - el), W) end
      local count = used + cost
      fits = weight + count <= L
      na, nb, nc = mark, count, prev
      ttl = (W - el) + W - cdiv(W, count) + 1
    end
  end
  after[i] = { na, nb, nc }
  ttls[i] = ttl
  all = all and fits
end

local out = { NOW }
if consume and all then
  local latest = NOW
  local kept = raw[n * 4 + 1]
  if kept then kept = tonumber(kept) end
  if kept and kept > latest then latest = kept end
  local writes = {}
  for i = 1, n do
    local exp = NOW + ttls[i]
    if exp > latest then latest = exp end
    local id = ARGV[6 + (i - 1) * 5]
    writes[#writes + 1] = id .. ':a'; writes[#writes + 1] = after[i][1]
    writes[#writes + 1] = id .. ':b'; writes[#writes + 1] = after[i][2]
    writes[#writes + 1] = id .. ':c'; writes[#writes + 1] = after[i][3]
    writes[#writes + 1] = id .. ':e'; writes[#writes + 1] = exp
  end
  writes[#writes + 1] = '_exp'; writes[#writes + 1] = latest
  redis.call('HSET', KEYS[1], unpack(writes))
  if kept ~= latest then expire(KEYS[1], latest, NOW, GRACE) end
  out[2] = 1
  for i = 1, n do
    out[#out + 1] = after[i][1]; out[#out + 1] = after[i][2]; out[#out + 1] = after[i][3]
  end
else
  out[2] = 0
  for i = 1, n do
    local s = read[i]
    if s then
      out[#out + 1] = s[1]; out[#out + 1] = s[2]; out[#out + 1] = s[3]
    else
      out[#out + 1] = -1; out[#out + 1] = -1; out[#out + 1] = -1
    end
  end
end
return out
