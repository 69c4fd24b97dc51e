-- Starts handing out a session's final status: the same rules as MemoryStore.beginHandOut.
-- Field @delivered is '1' once delivered for good, else a lease's end (epoch ms); @leasedBy is the
-- lease's id.
-- A session past its lifetime is first written as expired (version + 1), so a status change
-- racing this hand-out is refused as expired instead of confirming a session whose poll was told
-- it expired. The hand-out goes ahead only for the state the caller is about to send, and what is
-- sent is the stored data returned here, never the caller's.
-- With a ticket hash, the ticket (KEYS[2]) is recorded with a copy of the session's actor, data,
-- client and confirmedAt, replacing any earlier one, and expires ARGV[7] ms from now.
-- KEYS[1] session hash, KEYS[2] ticket hash; ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] status,
-- ARGV[4] version, ARGV[5] lease id, ARGV[6] ticket hash ('' = none), ARGV[7] ticket lifetime (ms)
-- Returns {'ok', stored data JSON or ''} | {'delivered'} | {'changed'} | {'busy', remaining lease ms}
--@rules
local s = redis.call('HMGET', KEYS[1], '@status', '@version', '@expiresAt', '@delivered', '@data', '@leasedBy')
local status, version, expires, dl, data = s[1], tonumber(s[2]), tonumber(s[3]), s[4], s[5]
if not status then return {'@V.delivered'} end
local now = tonumber(ARGV[1])
if not FINAL[status] and now >= expires then
  status = '@S.expired'
  version = version + 1
  data = false
  redis.call('HSET', KEYS[1], '@status', status, '@version', version)
  redis.call('HDEL', KEYS[1], '@data')
end
if status ~= ARGV[3] or version ~= tonumber(ARGV[4]) then return {'@V.changed'} end
if dl == '1' then return {'@V.delivered'} end
-- The same lease taken again (its pipeline sent again after a dropped connection) is this hand-out.
if dl and tonumber(dl) > now and s[6] ~= ARGV[5] then return {'@V.busy', tonumber(dl) - now} end
redis.call('HSET', KEYS[1], '@delivered', tostring(now + tonumber(ARGV[2])), '@leasedBy', ARGV[5])
if ARGV[6] ~= '' then
  local copy = redis.call('HMGET', KEYS[1], '@actor', '@ip', '@userAgent', '@acceptLanguage', '@createdAt', '@confirmedAt')
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], '@T.hash', ARGV[6], '@ip', copy[2] or '', '@userAgent', copy[3] or '', '@acceptLanguage', copy[4] or '',
    '@createdAt', copy[5] or '0', '@confirmedAt', copy[6] or ARGV[1])
  if copy[1] then redis.call('HSET', KEYS[2], '@actor', copy[1]) end
  if data then redis.call('HSET', KEYS[2], '@data', data) end
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[7]))
end
return {'@V.ok', data or ''}
