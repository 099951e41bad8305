-- Redis Cluster rotate, step 1. KEYS[1] old id. Deletes the live session and returns its
-- fields {data, version, exp, abs|'', owner|''} (or nil), so one caller alone moves it.
local v = redis.call('HMGET', KEYS[1], 'data', 'version', 'exp', 'abs', 'owner')
if not v[2] or tonumber(v[3]) <= NOW then return nil end
redis.call('DEL', KEYS[1])
return { v[1], v[2], v[3], v[4] or '', v[5] or '' }
