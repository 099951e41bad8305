-- KEYS[1] the owner's index, KEYS[2] the owners due for pruning. ARGV: now, grace, owner,
-- except|'', session-key prefix.
-- Standalone only (session keys are derived here). Deletes every live session of the owner
-- but `except`, drops index entries of sessions that are gone, returns the count.
local count = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local key = ARGV[5] .. id .. '}'
  local v = redis.call('HMGET', key, 'exp', 'owner')
  if not v[1] or tonumber(v[1]) <= NOW or v[2] ~= ARGV[3] then
    redis.call('SREM', KEYS[1], id)
  elseif id ~= ARGV[4] then
    redis.call('DEL', key)
    redis.call('SREM', KEYS[1], id)
    count = count + 1
  end
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[3]) end
return count
