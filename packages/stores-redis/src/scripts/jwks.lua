-- KEYS[1] the cached document (a hash: jwks, fetched, exp).
-- ARGV: now, grace, action ('get' | 'put'), jwks, fetchedAt, ttlMs.
-- get: {jwks, fetchedAt, expiresAt} or nil; put: 1 if stored, 0 if a later fetch is kept.
local v = redis.call('HMGET', KEYS[1], 'jwks', 'fetched', 'exp')
local live = v[3] and tonumber(v[3]) > NOW
if ARGV[3] == 'get' then
  if not live then return nil end
  return { v[1], v[2], v[3] }
end
if live and tonumber(v[2]) > tonumber(ARGV[5]) then return 0 end
local exp = NOW + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'jwks', ARGV[4], 'fetched', ARGV[5], 'exp', fmt(exp))
expire(KEYS[1], exp, NOW, GRACE)
return 1
