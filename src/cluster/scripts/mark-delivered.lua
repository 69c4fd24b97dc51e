-- Marks a session's final status as handed out; only the first caller wins.
-- KEYS[1] session hash. Returns 1 for the first caller, 0 otherwise (or when unknown).
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'dl', '1')
