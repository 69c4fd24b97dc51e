-- Redeems a one-time ticket, once: the same rules as MemoryStore.redeemTicket. The copy of the
-- session it carried is dropped; only its hash and `r` stay until the ticket lapses, so a second
-- redemption is told it was redeemed.
-- KEYS[1] ticket hash; ARGV[1] the presented ticket's hash
-- Returns {'ok', field, value, ...} | {'unknown'} | {'redeemed'}
local h = redis.call('HMGET', KEYS[1], '@T.hash', '@T.redeemed')
if not h[1] or h[1] ~= ARGV[1] then return {'unknown'} end
if h[2] == '1' then return {'redeemed'} end
local fields = redis.call('HGETALL', KEYS[1])
redis.call('HDEL', KEYS[1], '@actor', '@data', '@ip', '@userAgent', '@acceptLanguage', '@createdAt', '@confirmedAt')
redis.call('HSET', KEYS[1], '@T.redeemed', '1')
local reply = {'ok'}
for i = 1, #fields do reply[#reply + 1] = fields[i] end
return reply
