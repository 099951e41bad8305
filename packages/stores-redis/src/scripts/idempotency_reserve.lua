-- KEYS[1] record. ARGV: now, grace, fingerprint, token, leaseMs.
-- Returns {'reserved'} | {'in-flight', retryAfterMs} | {'completed', response} | {'mismatch'}.
local v = redis.call('HMGET', KEYS[1], 'fp', 'token', 'resp', 'exp')
if v[4] and tonumber(v[4]) > NOW then
  if v[1] ~= ARGV[3] then return { 'mismatch' } end
  if v[3] then return { 'completed', v[3] } end
  return { 'in-flight', tonumber(v[4]) - NOW }
end
local exp = NOW + tonumber(ARGV[5])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'fp', ARGV[3], 'token', ARGV[4], 'exp', fmt(exp))
expire(KEYS[1], exp, NOW, GRACE)
return { 'reserved' }
