-- Redis Cluster prune, step 1. KEYS[1] the owners due for pruning (see session_prune.lua).
-- ARGV: now, grace, batch size. Returns {now, owner...}: up to a batch of owners due by now.
local due = redis.call('ZRANGE', KEYS[1], '-inf', fmt(NOW), 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
table.insert(due, 1, fmt(NOW))
return due
