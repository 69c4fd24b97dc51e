-- Settles a redemption that redeem-ticket.lua marked with its attempt id, if the mark is still
-- that attempt's: 'final' drops the session's copy and leaves `r` = '1' (the replicas hold the
-- redemption and its 200 is being answered); 'back' clears the mark, so the ticket is redeemable
-- again (the replicas did not acknowledge it and the caller is answered 503, never 200).
-- KEYS[1] ticket hash; ARGV[1] attempt id, ARGV[2] 'final' | 'back'
if redis.call('HGET', KEYS[1], '@T.redeemed') ~= ARGV[1] then return 0 end
if ARGV[2] == 'back' then
  redis.call('HDEL', KEYS[1], '@T.redeemed')
else
  redis.call('HDEL', KEYS[1], '@actor', '@data', '@ip', '@userAgent', '@acceptLanguage', '@createdAt', '@confirmedAt')
  redis.call('HSET', KEYS[1], '@T.redeemed', '1')
end
return 1
