-- Applies one status change atomically; the same rules, in the same order, as refuseTransition(),
-- isRepeat() and applyTransition() in src/core/session.ts.
-- A repeat of the change that made the current version is answered as applied, with no new
-- version; its status is written again, unchanged, so that the repeat is in this connection's
-- replication stream and a WAIT sent behind it waits for the change to reach the replicas.
-- KEYS[1] session hash, KEYS[2] route
-- ARGV[1] now (epoch ms), ARGV[2] new status, ARGV[3] actor ('' = none),
-- ARGV[4] data JSON ('' = none), ARGV[5] ifVersion ('' = none)
-- Returns {'ok', live holders joined by spaces (or ''), field, value, ...} | {'missing'} |
-- {refusal code, detail...}
local s = redis.call('HMGET', KEYS[1], '@status', '@version', '@expiresAt', '@actor', '@changeDigest')
local status, version, expires, actor = s[1], tonumber(s[2]), tonumber(s[3]), s[4]
if not status then return {'missing'} end

local to = ARGV[2]
if status == 'expired' then return {'session_expired'} end
local final = status == 'confirmed' or status == 'cancelled'
if not final and tonumber(ARGV[1]) >= expires then return {'session_expired'} end
local allowed = (status == 'pending' and (to == 'scanned' or to == 'cancelled'))
  or (status == 'scanned' and (to == 'confirmed' or to == 'cancelled'))
local digest = redis.sha1hex(to .. '\n' .. ARGV[3] .. '\n' .. ARGV[4])
if not allowed then
  local repeated = status == to and s[5] == digest and (ARGV[5] == '' or tonumber(ARGV[5]) == version - 1)
  if not repeated then return {'invalid_transition', status} end
  redis.call('HSET', KEYS[1], '@status', status)
else
  if status == 'scanned' and actor and actor ~= ARGV[3] then return {'actor_mismatch'} end
  if ARGV[5] ~= '' and tonumber(ARGV[5]) ~= version then return {'version_mismatch', tostring(version)} end

  redis.call('HSET', KEYS[1], '@status', to, '@version', version + 1, '@changeDigest', digest)
  if to == 'confirmed' then redis.call('HSET', KEYS[1], '@confirmedAt', ARGV[1]) end
  if status == 'pending' and ARGV[3] ~= '' then redis.call('HSET', KEYS[1], '@actor', ARGV[3]) end
  if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], '@data', ARGV[4]) else redis.call('HDEL', KEYS[1], '@data') end
end

local holders, live = redis.call('HGETALL', KEYS[2]), {}
for i = 1, #holders, 2 do
  -- '<holder> since' fields keep the `since` of each claim's poll (poll.lua), not claims.
  if string.sub(holders[i], -6) ~= ' since' and tonumber(holders[i + 1]) > tonumber(ARGV[1]) then live[#live + 1] = holders[i] end
end
local reply = {'ok', table.concat(live, ' ')}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields do reply[#reply + 1] = fields[i] end
return reply
