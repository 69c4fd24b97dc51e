-- Creates a session: its fields and its expiry in one step, so a session never exists without a
-- lifetime (one command where a MULTI was four).
-- KEYS[1] session hash
-- ARGV[1] expiry (epoch ms, the session's end plus grace), ARGV[2..] field, value, ...
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 1
