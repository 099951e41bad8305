-- Creating a stream or a fork, and the idempotent answer to creating it again.

-- create: contentType, mediaType, ttlMs, expiresAt, closed, fork from, fork position, subOffset,
-- has prefix (0/1), message count, new id, [prefix], messages...
local function create(a)
  local name = a[1]
  local ct, mt, ttl, exp, closed = a[2], a[3], tonumber(a[4]), tonumber(a[5]), a[6] == '1'
  local from, fpos, sub, hasPrefix, count = a[7], tonumber(a[8]), tonumber(a[9]), a[10] == '1', tonumber(a[11])
  local newId = a[12]
  local list = {}
  for i = 13, #a do list[#list + 1] = a[i] end
  local existing = get(name)
  local p = presence(existing)
  if p == 'gone' then
    return fail('CONFLICT',
      'stream ' .. name .. ' was deleted but is kept for its forks; the name cannot be reused yet',
      { name = name, gone = true })
  end
  if p == 'live' then
    local s = existing
    local same = true
    if mt ~= '' then same = mt == s.mediaType else same = from ~= '' end
    local cttl, cexp = ttl, exp
    if from ~= '' and not cttl and not cexp then
      local src = get(from)
      if src then cttl, cexp = src.ttlMs, src.expiresAt end
    end
    same = same and cttl == s.ttlMs and cexp == s.expiresAt and closed == s.closed
    same = same and ((from ~= '' and from) or nil) == s.forkedFrom
    if same and from ~= '' then
      if fpos and fpos ~= s.forkPosition then same = false end
      if sub ~= (s.forkSubOffset or 0) then same = false end
    end
    if same then return { 'exists', info(s) } end
    return fail('CONFLICT', 'stream ' .. name .. ' exists with another configuration', { name = name })
  end
  -- An absent stream may still be stored (expired, or kept for forks that have all gone):
  -- clear it and its forks before the name is reused.
  if existing then remove_tree(existing) end
  local tail = 0
  if from ~= '' then
    local src = get(from)
    local sp = presence(src)
    if sp == 'absent' then return fail('NOT_FOUND', 'fork source ' .. from .. ' does not exist', { name = from }) end
    if sp == 'gone' then
      return fail('CONFLICT', 'fork source ' .. from .. ' was deleted', { name = from, gone = true })
    end
    if mt ~= '' and mt ~= src.mediaType then
      return fail('CONFLICT', 'fork content type ' .. ct .. " differs from the source's " .. src.contentType)
    end
    tail = fpos or src.tail
    if tail > src.tail then
      return fail('INVALID_ARGUMENT', 'fork offset is past the source tail')
    end
    if sub > 0 and tail == src.tail then
      return fail('INVALID_ARGUMENT', 'a fork sub-offset needs a source message after the fork offset')
    end
    if ct == '' then ct, mt = src.contentType, src.mediaType end
    if not ttl and not exp then ttl, exp = src.ttlMs, src.expiresAt end
    src.refCount = src.refCount + 1
    put(src)
    redis.call('SADD', fkey(src.id), name)
  end
  local s = {
    name = name, id = newId, contentType = ct, mediaType = mt, ttlMs = ttl, expiresAt = exp, createdAt = NOW,
    accessedAt = NOW, closed = closed, tail = tail, refCount = 0, deleted = false,
  }
  if from ~= '' then
    s.forkedFrom = from
    s.forkPosition = tail
    if sub > 0 then s.forkSubOffset = sub end
  end
  s.deadline = deadline_of(s)
  push(s.id, list, 1)
  s.tail = tail + #list
  put(s)
  publish(name)
  return { 'created', info(s) }
end
