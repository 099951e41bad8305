-- KEYS[1] record. ARGV: now, grace, fingerprint, token, leaseMs.
-- Returns {'reserved'} | {'in-flight', retryAfterMs} | {'completed', response} | {'mismatch'}.
local v = redis.call('HMGET', KEYS[1], 'fp', 'resp', 'exp')
if v[3] and tonumber(v[3]) > NOW then
  if v[1] ~= ARGV[3] then return { 'mismatch' } end
  if v[2] then return { 'completed', v[2] } end
  return { 'in-flight', tonumber(v[3]) - NOW }
end
local exp = NOW + tonumber(ARGV[5])
-- An expired record kept for a custom clock's grace may still hold a response: drop it.
if v[3] then redis.call('DEL', KEYS[1]) end
redis.call('HSET', KEYS[1], 'fp', ARGV[3], 'token', ARGV[4], 'exp', fmt(exp))
expire(KEYS[1], exp, NOW, GRACE)
return { 'reserved' }
