-- KEYS[1] the key's states (a hash: policy id -> "a:b:c:expiresAt", plus "_exp").
-- ARGV: now, grace, cost, consume (1/0), count, then per policy: id, algorithm (0 gcra,
-- 1 fixed-window, 2 sliding-window), limit, windowMs, capacity.
-- The arithmetic is the reference of @stowage/core (evaluateRateLimit), in exact integers.
-- Returns {now, consumed (1/0), then per policy a, b, c ('' for none)}: the states written
-- when the call consumed, the states read otherwise; the caller derives the decision.
local cost = tonumber(ARGV[3])
local consume = ARGV[4] == '1'
local n = tonumber(ARGV[5])
local ids = {}
for i = 1, n do ids[i] = ARGV[6 + (i - 1) * 5] end
local raw = redis.call('HMGET', KEYS[1], unpack(ids))

local read, after, ttls = {}, {}, {}
local all = true
for i = 1, n do
  local base = 6 + (i - 1) * 5
  local alg, L, W, C = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local a, b, c
  if raw[i] then
    local p1, p2, p3, p4 = string.match(raw[i], '^(%-?%d+):(%-?%d+):(%-?%d+):(%-?%d+)$')
    if p4 and tonumber(p4) > NOW then a, b, c = tonumber(p1), tonumber(p2), tonumber(p3) end
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
  local kept = redis.call('HGET', KEYS[1], '_exp')
  if kept and tonumber(kept) > latest then latest = tonumber(kept) end
  for i = 1, n do
    local exp = NOW + ttls[i]
    if exp > latest then latest = exp end
    redis.call('HSET', KEYS[1], ids[i], fmt(after[i][1]) .. ':' .. fmt(after[i][2]) .. ':' .. fmt(after[i][3]) .. ':' .. fmt(exp))
  end
  redis.call('HSET', KEYS[1], '_exp', fmt(latest))
  expire(KEYS[1], latest, NOW, GRACE)
  out[2] = 1
  for i = 1, n do
    out[#out + 1] = fmt(after[i][1]); out[#out + 1] = fmt(after[i][2]); out[#out + 1] = fmt(after[i][3])
  end
else
  out[2] = 0
  for i = 1, n do
    local s = read[i]
    if s then
      out[#out + 1] = fmt(s[1]); out[#out + 1] = fmt(s[2]); out[#out + 1] = fmt(s[3])
    else
      out[#out + 1] = ''; out[#out + 1] = ''; out[#out + 1] = ''
    end
  end
end
return out
