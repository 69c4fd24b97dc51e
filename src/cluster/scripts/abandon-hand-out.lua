-- Gives a final status back after its response never left: clears the lease, but only if it is
-- still the caller's (a lapsed lease taken over belongs to its new holder), and never a delivery.
-- KEYS[1] session hash; ARGV[1] lease id
local s = redis.call('HMGET', KEYS[1], '@delivered', '@leasedBy')
if s[1] and s[1] ~= '1' and s[2] == ARGV[1] then redis.call('HDEL', KEYS[1], '@delivered', '@leasedBy') end
return 1
