-- Rate-limit reset. KEYS[1] the key's states. A script rather than a plain DEL so that a reset
-- its caller was told failed is refused by the deadline check above, never applied later.
redis.call('DEL', KEYS[1])
return 0
