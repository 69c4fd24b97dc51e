-- A poll's one step: checks the poll token's hash, reads the session and, when the poll is to be
-- held, records that a node holds it, so a poll costs one round trip. The same rules as
-- MemoryStore.poll.
-- The poll is held when a holder is given and the session, as it is at ARGV[5], is neither final
-- nor past its lifetime (the rule of effective() in src/core/session.ts) and is at exactly
-- `since`: a poll behind it is answered at once, and one ahead of it is refused (invalid_since)
-- by the service, so neither claims anything.
-- The route is a hash of holder -> end of its claim (epoch ms), and holder .. ' since' -> the
-- `since` its poll asked with: a slow claim that lands after a newer poll's claim adds itself
-- instead of replacing it, and a set reaches every live holder. A claim drops the claims of polls
-- that asked with a smaller `since`: their client has seen a newer version since, so they are
-- over (a client's `since` never goes back), and a set need not be forwarded to their nodes.
-- A ' since' value is a session's version, far below any time in epoch ms, so no script can take
-- one for a live claim (transition.lua skips these fields by name as well). A claim without its
-- ' since' field is kept until it lapses; a ' since' field without its claim is dropped.
-- KEYS[1] session hash, KEYS[2] route hash; ARGV[1] token hash, ARGV[2] since,
-- ARGV[3] holder address ('' = the poll is not held), ARGV[4] claim lifetime (ms), ARGV[5] now (ms)
-- Returns the session's fields (HGETALL), {} when it is unknown, {'token'} for a wrong token.
--@rules
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return {} end
local s = {}
for i = 1, #fields, 2 do s[fields[i]] = fields[i + 1] end
if s['@tokenHash'] ~= ARGV[1] then return {'@V.token'} end
if ARGV[3] == '' then return fields end
local status, now = s['@status'], tonumber(ARGV[5])
if FINAL[status] then return fields end
local since = tonumber(ARGV[2])
if now >= tonumber(s['@expiresAt']) or tonumber(s['@version']) ~= since then return fields end

redis.call('HSET', KEYS[2], ARGV[3], now + tonumber(ARGV[4]), ARGV[3] .. SINCE, since)
local holders = redis.call('HGETALL', KEYS[2])
local ends, asked = {}, {}
for i = 1, #holders, 2 do
  local holder = string.sub(holders[i], -#SINCE) == SINCE and string.sub(holders[i], 1, -#SINCE - 1) or nil
  if holder then asked[holder] = tonumber(holders[i + 1]) else ends[holders[i]] = tonumber(holders[i + 1]) end
end
local latest = 0
for holder, e in pairs(ends) do
  local theirs = asked[holder]
  if e <= now or (theirs ~= nil and theirs < since) then
    redis.call('HDEL', KEYS[2], holder, holder .. SINCE)
  elseif e > latest then
    latest = e
  end
  asked[holder] = nil
end
for holder in pairs(asked) do redis.call('HDEL', KEYS[2], holder .. SINCE) end -- its claim is gone
redis.call('PEXPIREAT', KEYS[2], latest)
return fields
