-- KEYS[1] session; on Redis Cluster KEYS[2] its rotation mark (see session_take.lua). ARGV:
-- now, grace, owner|''. Deletes the session if live (and, with an owner, only if it belongs to
-- it), and the mark of a rotate under way (of that owner's session), so that the rotate does
-- not give back a session destroyed meanwhile. Returns 1 if a live session was deleted.
if KEYS[2] then
  local mark = redis.call('GET', KEYS[2])
  if mark and (ARGV[3] == '' or string.sub(mark, 17) == ARGV[3]) then redis.call('DEL', KEYS[2]) end
end
local v = redis.call('HMGET', KEYS[1], 'exp', 'owner')
if not v[1] then return 0 end
if tonumber(v[1]) <= NOW then
  redis.call('DEL', KEYS[1])
  return 0
end
if ARGV[3] ~= '' and v[2] ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
return 1
