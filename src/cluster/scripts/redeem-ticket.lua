-- Redeems a one-time ticket, once: the same rules as MemoryStore.redeemTicket. A second
-- redemption is told it was redeemed, until the ticket lapses.
-- Without an attempt id the redemption is final at once: the copy of the session the ticket
-- carried is dropped, and only its hash and `r` = '1' stay. With one (REDIS_MIN_REPLICAS > 0),
-- `r` names the attempt and the copy stays until settle-redemption.lua makes it final (the
-- replicas hold it) or gives the ticket back (they did not; the caller answered 503), so a retry
-- can still have the one 200.
-- KEYS[1] ticket hash; ARGV[1] the presented ticket's hash, ARGV[2] attempt id ('' = none)
-- Returns {'ok', field, value, ...} | {'unknown'} | {'redeemed'}
--@rules
local h = redis.call('HMGET', KEYS[1], '@T.hash', '@T.redeemed')
if not h[1] or h[1] ~= ARGV[1] then return {'@V.unknown'} end
-- The same attempt run again (its pipeline sent again after a dropped connection) is the same
-- redemption, not a second one.
if h[2] and (ARGV[2] == '' or h[2] ~= ARGV[2]) then return {'@V.redeemed'} end
local fields = redis.call('HGETALL', KEYS[1])
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], unpack(TICKET_COPY))
  redis.call('HSET', KEYS[1], '@T.redeemed', '1')
else
  redis.call('HSET', KEYS[1], '@T.redeemed', ARGV[2])
end
local reply = {'@V.ok'}
for i = 1, #fields do reply[#reply + 1] = fields[i] end
return reply
