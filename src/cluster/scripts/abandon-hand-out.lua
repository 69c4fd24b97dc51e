-- Gives a final status back after its response never left: clears the lease, but only if it is
-- still the caller's (a lapsed lease taken over belongs to its new holder), and never a delivery.
-- KEYS[1] session hash; ARGV[1] lease id
local dl = redis.call('HGET', KEYS[1], 'dl')
if dl and dl ~= '1' and string.match(dl, ':(.*)$') == ARGV[1] then redis.call('HDEL', KEYS[1], 'dl') end
return 1
