-- Prepended to every script of @stowage/stores-redis.
-- Convention: ARGV[1] is the time in epoch ms ('' = the server's, from TIME), ARGV[2] the
-- grace period added to native expiry when the time comes from a custom clock.

local function now_ms(arg)
  if arg ~= '' then return tonumber(arg) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Exact integer division of non-negative integers below 2^53 (Lua 5.1 numbers are doubles).
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 end
  return q
end
local function cdiv(a, b)
  local q = fdiv(a, b)
  if q * b < a then q = q + 1 end
  return q
end

-- Integers as exact decimal strings (tostring would round past 14 digits).
local function fmt(n) return string.format('%d', n) end

-- Native expiry never removes a record before its expiry on the store's clock. With the
-- server clock it removes it exactly then: Redis drops a key once its time is past the
-- deadline (now > deadline) and a record is expired at now == expires_at, hence the 1 ms; a
-- plain read then sees just what a script would. With a custom clock it keeps the record
-- for a grace period, hidden by its stored expiry meanwhile.
local function expire(key, expires_at, now, grace)
  local ttl = expires_at - now + grace
  if ARGV[1] == '' then ttl = ttl - 1 end
  if ttl < 1 then ttl = 1 end
  redis.call('PEXPIRE', key, fmt(ttl))
end

local NOW = now_ms(ARGV[1])
local GRACE = tonumber(ARGV[2])
