-- KEYS[1] the lock (a hash: token, fence, exp). The key never expires: it holds the fence.
-- ARGV: now, grace, action ('acquire' | 'extend' | 'release'), token, ttlMs.
-- acquire: {fence, expiresAt} or nil; extend / release: 1 if `token` held the live lease.
local v = redis.call('HMGET', KEYS[1], 'token', 'exp')
local held = v[1] and tonumber(v[2]) > NOW
local action = ARGV[3]
if action == 'acquire' then
  if held then return nil end
  local exp = NOW + tonumber(ARGV[5])
  local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
  redis.call('HSET', KEYS[1], 'token', ARGV[4], 'exp', fmt(exp))
  return { fence, fmt(exp) }
end
if not held or v[1] ~= ARGV[4] then return 0 end
if action == 'release' then
  redis.call('HDEL', KEYS[1], 'token', 'exp')
else
  redis.call('HSET', KEYS[1], 'exp', fmt(NOW + tonumber(ARGV[5])))
end
return 1
