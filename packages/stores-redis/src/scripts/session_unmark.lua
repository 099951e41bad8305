-- Redis Cluster rotate, last step. KEYS[1] the old id's rotation mark (see session_take.lua).
-- ARGV: now, grace, the rotate's mark. Deletes the mark if it is still the rotate's own and
-- returns 1; 0 when a destroy deleted it meanwhile (the session's sign-out came during the
-- rotate, and the session written under the new id must go too).
if redis.call('GET', KEYS[1]) ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
return 1
