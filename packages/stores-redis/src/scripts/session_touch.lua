-- KEYS[1] session. ARGV: now, grace, ttlMs. Returns 1 if extended.
local v = redis.call('HMGET', KEYS[1], 'exp', 'abs')
if not v[1] or tonumber(v[1]) <= NOW then return 0 end
local exp = NOW + tonumber(ARGV[3])
if v[2] and tonumber(v[2]) < exp then exp = tonumber(v[2]) end
redis.call('HSET', KEYS[1], 'exp', fmt(exp))
expire(KEYS[1], exp, NOW, GRACE)
return 1
