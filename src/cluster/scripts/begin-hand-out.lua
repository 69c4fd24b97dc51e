-- Starts handing out a session's final status: the same rules as MemoryStore.beginHandOut.
-- Field `dl` is '1' once delivered for good, else a lease's end (epoch ms); `lb` is the lease's id.
-- A session past its lifetime is first written as expired (version + 1), so a status change
-- racing this hand-out is refused as expired instead of confirming a session whose poll was told
-- it expired. The hand-out goes ahead only for the state the caller is about to send.
-- KEYS[1] session hash; ARGV[1] now (ms), ARGV[2] lease (ms), ARGV[3] status, ARGV[4] version,
-- ARGV[5] lease id
-- Returns 'ok' | 'delivered' | 'changed' | remaining lease in ms (a number)
local s = redis.call('HMGET', KEYS[1], 's', 'v', 'e', 'dl')
local status, version, expires, dl = s[1], tonumber(s[2]), tonumber(s[3]), s[4]
if not status then return 'delivered' end
local now = tonumber(ARGV[1])
if status ~= 'confirmed' and status ~= 'cancelled' and status ~= 'expired' and now >= expires then
  status = 'expired'
  version = version + 1
  redis.call('HSET', KEYS[1], 's', status, 'v', version)
  redis.call('HDEL', KEYS[1], 'd')
end
if status ~= ARGV[3] or version ~= tonumber(ARGV[4]) then return 'changed' end
if dl == '1' then return 'delivered' end
if dl and tonumber(dl) > now then return tonumber(dl) - now end
redis.call('HSET', KEYS[1], 'dl', tostring(now + tonumber(ARGV[2])), 'lb', ARGV[5])
return 'ok'
