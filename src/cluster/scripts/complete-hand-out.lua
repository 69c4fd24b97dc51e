-- Marks a final status delivered for good, only on a session that still exists (a write to a
-- forgotten key would recreate it without a lifetime). The session forgets its actor and data:
-- nothing needs them any more (a ticket keeps its own copy until it is redeemed or lapses).
-- KEYS[1] session hash
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], '@delivered', '1')
redis.call('HDEL', KEYS[1], '@leasedBy', '@actor', '@data')
return 1
