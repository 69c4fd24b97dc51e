-- Records that a node holds a poll for a session, then reads the session, in one step.
-- The route is a hash of holder -> end of its claim (epoch ms): a slow claim that lands after a
-- newer poll's claim adds itself instead of replacing it, and a set reaches every live holder.
-- KEYS[1] session hash, KEYS[2] route hash; ARGV[1] holder address, ARGV[2] claim lifetime (ms),
-- ARGV[3] now (ms)
-- Returns the session's fields (HGETALL), or an empty array when it is unknown.
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local now = tonumber(ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[2]))
local latest = 0
local holders = redis.call('HGETALL', KEYS[2])
for i = 1, #holders, 2 do
  local ends = tonumber(holders[i + 1])
  if ends <= now then redis.call('HDEL', KEYS[2], holders[i]) elseif ends > latest then latest = ends end
end
redis.call('PEXPIREAT', KEYS[2], latest)
return redis.call('HGETALL', KEYS[1])
