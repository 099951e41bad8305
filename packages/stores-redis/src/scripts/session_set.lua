-- KEYS[1] session; standalone only: KEYS[2] the owners due for pruning (a sorted set, see
-- session_prune.lua), KEYS[3] the owner's index (when an owner is given). ARGV: now, grace,
-- data, ttlMs, absoluteTtlMs|'', ifVersion|'', owner|'', id. Returns {1, version} or {0, currentVersion}.
local cur = redis.call('HMGET', KEYS[1], 'version', 'exp', 'abs', 'owner')
local live = cur[1] and tonumber(cur[2]) > NOW
local version = live and tonumber(cur[1]) or 0
if ARGV[6] ~= '' and tonumber(ARGV[6]) ~= version then return { 0, version } end
local abs = false
if live then
  if cur[3] then abs = tonumber(cur[3]) end
elseif ARGV[5] ~= '' then
  abs = NOW + tonumber(ARGV[5])
end
local exp = NOW + tonumber(ARGV[4])
if abs and abs < exp then exp = abs end
local owner = ARGV[7]
if owner == '' then owner = (live and cur[4]) or false end
-- A live record keeps its abs and owner, so one HSET overwrites all it holds; an expired one
-- kept for a custom clock's grace may hold fields this one lacks: drop it first.
if cur[2] and not live then redis.call('DEL', KEYS[1]) end
local fields = { 'data', ARGV[3], 'version', version + 1, 'exp', fmt(exp) }
if abs then fields[7], fields[8] = 'abs', fmt(abs) end
if owner then fields[#fields + 1], fields[#fields + 2] = 'owner', owner end
redis.call('HSET', KEYS[1], unpack(fields))
expire(KEYS[1], exp, NOW, GRACE)
if KEYS[3] and ARGV[7] ~= '' then redis.call('SADD', KEYS[3], ARGV[8]) end
-- The owner's index may hold a stale entry once this session expires: due then at the latest.
if KEYS[2] and owner then redis.call('ZADD', KEYS[2], 'LT', fmt(exp), owner) end
return { 1, version + 1 }
