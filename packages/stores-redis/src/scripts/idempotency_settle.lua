-- KEYS[1] record. ARGV: now, grace, token, action ('complete' | 'release' | 'extend'),
-- then: complete: response, retentionMs; extend: leaseMs.
-- Acts only if `token` holds the live lease. Returns 1 if it did.
local v = redis.call('HMGET', KEYS[1], 'token', 'exp')
-- A completed record holds '' (below): no token, the empty one included, holds it.
if not v[1] or v[1] == '' or v[1] ~= ARGV[3] or tonumber(v[2]) <= NOW then return 0 end
local action = ARGV[4]
if action == 'release' then
  redis.call('DEL', KEYS[1])
  return 1
end
local exp
if action == 'complete' then
  exp = NOW + tonumber(ARGV[6])
  -- No token holds a completed record ('' matches none).
  redis.call('HSET', KEYS[1], 'token', '', 'resp', ARGV[5], 'exp', fmt(exp))
else
  exp = NOW + tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'exp', fmt(exp))
end
expire(KEYS[1], exp, NOW, GRACE)
return 1
