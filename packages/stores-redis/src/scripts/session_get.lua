-- KEYS[1] session. Returns {data, version, expiresAt, absoluteExpiresAt|'', owner|''} or nil.
local v = redis.call('HMGET', KEYS[1], 'data', 'version', 'exp', 'abs', 'owner')
if not v[2] or tonumber(v[3]) <= NOW then return nil end
return { v[1], v[2], v[3], v[4] or '', v[5] or '' }
