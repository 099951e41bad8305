-- Redis Cluster rotate, step 1. KEYS[1] old id, KEYS[2] its rotation mark (same slot). ARGV:
-- now, grace, the rotate's mark (a random token, then the owner), the mark's life in ms.
-- Deletes the live session and returns its fields {data, version, exp, abs|'', owner|''} (or
-- nil), so one caller alone moves it. The mark lets that caller alone give it back, and only
-- while no destroy has come since (session_destroy.lua deletes it).
local v = redis.call('HMGET', KEYS[1], 'data', 'version', 'exp', 'abs', 'owner')
if not v[2] or tonumber(v[3]) <= NOW then return nil end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[3] .. (v[5] or ''), 'PX', ARGV[4])
return { v[1], v[2], v[3], v[4] or '', v[5] or '' }
