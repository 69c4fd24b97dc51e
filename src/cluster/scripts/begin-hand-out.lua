-- Starts handing out a session's final status: takes a lease on it, the same rules as
-- MemoryStore.beginHandOut. Field `dl` is '1' once delivered for good, else a lease's end (epoch ms).
-- KEYS[1] session hash; ARGV[1] now (ms), ARGV[2] lease (ms)
-- Returns 'ok' | 'delivered' | remaining lease in ms (a number)
if redis.call('EXISTS', KEYS[1]) == 0 then return 'delivered' end
local dl = redis.call('HGET', KEYS[1], 'dl')
if dl == '1' then return 'delivered' end
local now = tonumber(ARGV[1])
if dl and tonumber(dl) > now then return tonumber(dl) - now end
redis.call('HSET', KEYS[1], 'dl', tostring(now + tonumber(ARGV[2])))
return 'ok'
