-- Redis Cluster rotate, step 2, and the undo of step 1. KEYS[1] id; for the undo, KEYS[2] the
-- id's rotation mark. ARGV: now, grace, data, version, exp, abs|'', owner|'', ttlMs|'', and for
-- the undo the mark session_take.lua set. Writes the record unless a live one is there, or
-- (undo) unless the mark is no longer the rotate's own (a destroy came since, or it expired).
-- Returns 1 written, 0 not.
if KEYS[2] then
  if redis.call('GET', KEYS[2]) ~= ARGV[9] then return 0 end
  redis.call('DEL', KEYS[2])
end
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
