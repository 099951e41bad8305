-- Redis Cluster rotate, step 2 (and the undo of step 1). KEYS[1] id. ARGV: now, grace,
-- data, version, exp, abs|'', owner|'', ttlMs|''. Writes the record unless a live one is
-- there. Returns 1 written, 0 taken.
local n = redis.call('HGET', KEYS[1], 'exp')
if n and tonumber(n) > NOW then return 0 end
local exp = tonumber(ARGV[5])
if ARGV[8] ~= '' then
  exp = NOW + tonumber(ARGV[8])
  if ARGV[6] ~= '' and tonumber(ARGV[6]) < exp then exp = tonumber(ARGV[6]) end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'version', ARGV[4], 'exp', fmt(exp))
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'abs', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'owner', ARGV[7]) end
expire(KEYS[1], exp, NOW, GRACE)
return 1
