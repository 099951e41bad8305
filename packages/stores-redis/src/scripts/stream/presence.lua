-- Whether a stream is live, gone (deleted or expired, kept for its forks) or absent, and
-- when it expires.

local function is_expired(s) return s.deadline ~= nil and s.deadline <= NOW end

-- The stored forks of `s` (an entry whose stream has gone, or was re-created as another, is skipped).
local function forks(s)
  local out = {}
  if s.refCount == 0 then return out end
  for _, name in ipairs(redis.call('SMEMBERS', fkey(s.id))) do
    local f = get(name)
    if f and f.forkedFrom == s.name then out[#out + 1] = f end
  end
  return out
end

-- A stream deleted or expired is kept, hidden ('gone'), only while a fork still reads through
-- it: a live fork, or one itself kept for a live fork. Once every fork has expired or gone it
-- is absent at once, whether or not cleanup has run (core's streams/presence.ts).
local presence
local function pinned(s)
  if s.refCount == 0 then return false end
  local list = forks(s)
  -- A source whose forks predate the set of fork names is kept as before, until cleanup.
  if #list == 0 and redis.call('EXISTS', fkey(s.id)) == 0 then return true end
  for _, f in ipairs(list) do
    if presence(f) ~= 'absent' then return true end
  end
  return false
end
presence = function(s)
  if not s then return 'absent' end
  if not s.deleted and not is_expired(s) then return 'live' end
  if pinned(s) then return 'gone' end
  return 'absent'
end

local function deadline_of(s)
  local idle = s.ttlMs and (s.accessedAt + s.ttlMs) or nil
  if not idle then return s.expiresAt end
  if s.expiresAt and s.expiresAt < idle then return s.expiresAt end
  return idle
end

local function touch(s)
  if NOW > s.accessedAt then s.accessedAt = NOW end
  s.deadline = deadline_of(s)
end

local function live(name)
  local s = get(name)
  local p = presence(s)
  if p == 'live' then return s end
  if p == 'gone' then
    return nil, fail('GONE', 'stream ' .. name .. ' was deleted and is kept only for its forks', { name = name })
  end
  return nil, fail('NOT_FOUND', 'stream ' .. name .. ' does not exist', { name = name })
end
