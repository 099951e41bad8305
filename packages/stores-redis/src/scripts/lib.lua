-- Prepended to every script of @stowage/stores-redis.
-- Convention: ARGV[1] is the time in epoch ms ('' = the server's, from TIME), ARGV[2] the
-- grace period added to native expiry when the time comes from a custom clock, ARGV[3] the
-- caller's deadline in epoch ms on this server's clock ('' = none). The deadline is taken
-- out of ARGV below, so each script's own arguments start at ARGV[3].

local function server_ms()
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
-- deadline (now > deadline) and a record is expired at now == expires_at, so the deadline is
-- expires_at - 1, set as an absolute time (a relative PEXPIRE counts from Redis's own time
-- snapshot, which may be a millisecond off TIME); a plain read then sees just what a script
-- would. With a custom clock the record is kept for a grace period, hidden by its stored
-- expiry meanwhile. `expiry` gives the arguments of SET (PXAT or PX), `expire` sets it on a key.
local function expiry(expires_at, now, grace)
  if ARGV[1] == '' then
    local deadline = expires_at - 1
    if deadline <= now then deadline = now + 1 end
    return 'PXAT', fmt(deadline)
  end
  local ttl = expires_at - now + grace
  if ttl < 1 then ttl = 1 end
  return 'PX', fmt(ttl)
end
local function expire(key, expires_at, now, grace)
  local mode, at = expiry(expires_at, now, grace)
  redis.call(mode == 'PXAT' and 'PEXPIREAT' or 'PEXPIRE', key, at)
end

-- A call that reaches Redis after its caller's deadline changes nothing: the caller was told
-- it failed (a client may resend commands after a reconnect, long after that). The refusal
-- carries this server's time, so a caller whose clock is behind can correct itself.
local DEADLINE = table.remove(ARGV, 3)
local NOW
if ARGV[1] == '' then NOW = server_ms() else NOW = tonumber(ARGV[1]) end
if DEADLINE ~= '' then
  local t = ARGV[1] == '' and NOW or server_ms()
  if t > tonumber(DEADLINE) then return redis.error_reply('STOWAGE_LATE ' .. fmt(t)) end
end
local GRACE = tonumber(ARGV[2])
