-- Marks a final status delivered for good, only on a session that still exists (a write to a
-- forgotten key would recreate it without a lifetime).
-- KEYS[1] session hash
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'dl', '1')
redis.call('HDEL', KEYS[1], 'lb')
return 1
