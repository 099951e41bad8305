-- KEYS[1] the owners due for pruning: a sorted set of owners, each scored with a time by which
-- its index may hold an entry of a session that is gone (set and rotate lower it). ARGV: now,
-- grace, batch size, session-key prefix, owner-index key prefix. Standalone only (the keys of
-- sessions and indexes are derived here). Drops the stale entries of up to a batch of due
-- owners, and scores each owner again with the earliest expiry of its live sessions (or
-- removes it, its index empty). Returns {entries removed, owners looked at}.
local removed = 0
local owners = redis.call('ZRANGE', KEYS[1], '-inf', fmt(NOW), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, owner in ipairs(owners) do
  local index = ARGV[5] .. owner .. '}'
  local next_due = false
  for _, id in ipairs(redis.call('SMEMBERS', index)) do
    local v = redis.call('HMGET', ARGV[4] .. id .. '}', 'exp', 'owner')
    local exp = v[1] and tonumber(v[1])
    if not exp or exp <= NOW or v[2] ~= owner then
      redis.call('SREM', index, id)
      removed = removed + 1
    elseif not next_due or exp < next_due then
      next_due = exp
    end
  end
  if next_due then
    redis.call('ZADD', KEYS[1], fmt(next_due), owner)
  else
    redis.call('ZREM', KEYS[1], owner)
  end
end
return { removed, #owners }
