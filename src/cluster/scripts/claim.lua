-- Records that a node holds the poll for a session, then reads the session, in one step.
-- KEYS[1] session hash, KEYS[2] route; ARGV[1] holder address, ARGV[2] route lifetime (ms)
-- Returns the session's fields (HGETALL), or an empty array when it is unknown.
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return redis.call('HGETALL', KEYS[1])
