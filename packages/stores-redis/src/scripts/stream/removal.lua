-- Removing streams: delete, expiry (cleanup), and the hidden sources and forks that go with them.

local function remove(s)
  if redis.call('HGET', mkey(s.name), 'id') == s.id then redis.call('DEL', mkey(s.name)) end
  redis.call('DEL', dkey(s.id), pkey(s.id), fkey(s.id))
  redis.call('ZREM', XKEY, s.name)
end

-- Removes a stream and, when it was a source's last fork, the hidden sources up the chain.
local function remove_cascade(s)
  remove(s)
  local removed = 1
  local child = s
  while child.forkedFrom do
    local parent = get(child.forkedFrom)
    if not parent then break end
    redis.call('SREM', fkey(parent.id), child.name)
    parent.refCount = math.max(0, parent.refCount - 1)
    if parent.refCount == 0 and (parent.deleted or is_expired(parent)) then
      remove(parent)
      removed = removed + 1
      child = parent
    else
      put(parent)
      break
    end
  end
  return removed
end

-- Removes `s` and its forks, all the way down, without touching its source.
local function remove_forks(s)
  local removed = 1
  for _, f in ipairs(forks(s)) do removed = removed + remove_forks(f) end
  remove(s)
  return removed
end

-- Removes a stream nothing reads through any more with every stream forked from it (all
-- absent too), then as remove_cascade: a stored fork always names the incarnation it forked from.
local function remove_tree(s)
  local removed = 0
  for _, f in ipairs(forks(s)) do removed = removed + remove_forks(f) end
  return removed + remove_cascade(s)
end

local function delete(a)
  local s = get(a[1])
  local p = presence(s)
  if p == 'absent' then return { 0 } end
  if p == 'gone' then
    return fail('GONE', 'stream ' .. a[1] .. ' was already deleted and is kept only for its forks', { name = a[1] })
  end
  -- Kept, hidden, while a fork reads through it; otherwise it goes now with its expired forks.
  if pinned(s) then
    s.deleted = true
    put(s)
  else
    remove_tree(s)
  end
  publish(s.name)
  return { 1 }
end

-- cleanup: batch size. Expired streams leave; those a fork still reads through stay hidden until it goes.
local function cleanup(a)
  local limit = tonumber(a[1])
  local names = redis.call('ZRANGEBYSCORE', XKEY, '-inf', fmt(NOW), 'LIMIT', 0, limit)
  local removed = 0
  for _, name in ipairs(names) do
    local s = get(name)
    if not s then
      redis.call('ZREM', XKEY, name)
    elseif pinned(s) then
      s.deleted = true
      put(s)
    else
      removed = removed + remove_tree(s)
    end
    publish(name)
  end
  return { removed, #names == limit and 1 or 0 }
end
