-- KEYS[1] the session's tokens (a hash: SHA-256 of a token -> expiresAt, plus "_exp").
-- ARGV: now, grace, action ('issue' | 'check' | 'consume' | 'revoke'), hash, ttlMs.
-- issue: 1; check / consume: 1 if the token is live (consume deletes it); revoke: live count.
local action = ARGV[3]
if action == 'check' or action == 'consume' then
  local exp = redis.call('HGET', KEYS[1], ARGV[4])
  if not exp or tonumber(exp) <= NOW then return 0 end
  if action == 'consume' then redis.call('HDEL', KEYS[1], ARGV[4]) end
  return 1
end
local fields = redis.call('HGETALL', KEYS[1])
if action == 'revoke' then
  local live = 0
  for i = 1, #fields, 2 do
    if fields[i] ~= '_exp' and tonumber(fields[i + 1]) > NOW then live = live + 1 end
  end
  redis.call('DEL', KEYS[1])
  return live
end
-- issue: drop expired tokens of the session on the way, keep the key until its last token ends.
local latest = NOW + tonumber(ARGV[5])
for i = 1, #fields, 2 do
  local exp = tonumber(fields[i + 1])
  if fields[i] ~= '_exp' then
    if exp <= NOW then redis.call('HDEL', KEYS[1], fields[i]) elseif exp > latest then latest = exp end
  end
end
redis.call('HSET', KEYS[1], ARGV[4], fmt(NOW + tonumber(ARGV[5])), '_exp', fmt(latest))
expire(KEYS[1], latest, NOW, GRACE)
return 1
