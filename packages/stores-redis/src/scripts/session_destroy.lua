-- KEYS[1] session. ARGV: now, grace, owner|''. Deletes the session if live (and, with an
-- owner, only if it belongs to it). Returns 1 if a live session was deleted.
local v = redis.call('HMGET', KEYS[1], 'exp', 'owner')
if not v[1] then return 0 end
if tonumber(v[1]) <= NOW then
  redis.call('DEL', KEYS[1])
  return 0
end
if ARGV[3] ~= '' and v[2] ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
return 1
