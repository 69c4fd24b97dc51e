-- Gives a final status back after its response never left (clears a lease, never a delivery).
-- KEYS[1] session hash
local dl = redis.call('HGET', KEYS[1], 'dl')
if dl and dl ~= '1' then redis.call('HDEL', KEYS[1], 'dl') end
return 1
