-- KEYS[1] old id, KEYS[2] new id, KEYS[3] the owners due for pruning (standalone Redis).
-- ARGV: now, grace, ttlMs|'', new id, owner-index key prefix, old id. Returns 1 moved, 0 old missing,
-- -1 new id live.
-- The owner's index key is derived here from the record (standalone only).
local v = redis.call('HMGET', KEYS[1], 'exp', 'abs', 'owner')
if not v[1] or tonumber(v[1]) <= NOW then return 0 end
local n = redis.call('HGET', KEYS[2], 'exp')
if n and tonumber(n) > NOW then return -1 end
redis.call('RENAME', KEYS[1], KEYS[2])
local exp = tonumber(v[1])
if ARGV[3] ~= '' then
  exp = NOW + tonumber(ARGV[3])
  if v[2] and tonumber(v[2]) < exp then exp = tonumber(v[2]) end
  redis.call('HSET', KEYS[2], 'exp', fmt(exp))
end
expire(KEYS[2], exp, NOW, GRACE)
if v[3] then
  local index = ARGV[5] .. v[3] .. '}'
  redis.call('SREM', index, ARGV[6])
  redis.call('SADD', index, ARGV[4])
  redis.call('ZADD', KEYS[3], 'LT', fmt(exp), v[3])
end
return 1
