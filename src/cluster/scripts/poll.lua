-- A poll's one step: checks the poll token's hash, reads the session and, when the poll is to be
-- held, records that a node holds it, so a poll costs one round trip. The same rules as
-- MemoryStore.poll.
-- The poll is held when a holder is given and the session, as it is at ARGV[5], is neither final
-- nor past its lifetime nor newer than `since` (the rule of effective() in src/core/session.ts).
-- The route is a hash of holder -> end of its claim (epoch ms): a slow claim that lands after a
-- newer poll's claim adds itself instead of replacing it, and a set reaches every live holder.
-- KEYS[1] session hash, KEYS[2] route hash; ARGV[1] token hash, ARGV[2] since,
-- ARGV[3] holder address ('' = the poll is not held), ARGV[4] claim lifetime (ms), ARGV[5] now (ms)
-- Returns the session's fields (HGETALL), {} when it is unknown, {'token'} for a wrong token.
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return {} end
local s = {}
for i = 1, #fields, 2 do s[fields[i]] = fields[i + 1] end
if s['@tokenHash'] ~= ARGV[1] then return {'token'} end
if ARGV[3] == '' then return fields end
local status, now = s['@status'], tonumber(ARGV[5])
if status == 'confirmed' or status == 'cancelled' or status == 'expired' then return fields end
if now >= tonumber(s['@expiresAt']) or tonumber(s['@version']) > tonumber(ARGV[2]) then return fields end

redis.call('HSET', KEYS[2], ARGV[3], now + tonumber(ARGV[4]))
local latest = 0
local holders = redis.call('HGETALL', KEYS[2])
for i = 1, #holders, 2 do
  local ends = tonumber(holders[i + 1])
  if ends <= now then redis.call('HDEL', KEYS[2], holders[i]) elseif ends > latest then latest = ends end
end
redis.call('PEXPIREAT', KEYS[2], latest)
return fields
