-- Make a transaction that read a run's state from this process's cache (RunCache) as safe as one
-- that read it from Redis: sent right after WATCH of the run, before MULTI, in the same round trip.
-- KEYS[1] = the run's state STRING (swf:{T}:run:<runId>)
-- ARGV[1] = the state the transaction's writes were worked out from
-- Equal: 1, and the WATCH now guards the rest exactly as after a read. Different (or gone): 0,
-- after touching the key (set again as it is, or set and deleted if it is gone), which marks
-- every WATCH of it, this transaction's own included, so that its EXEC does nothing.
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  return 1
end
if current then
  redis.call('SET', KEYS[1], current)
else
  redis.call('SET', KEYS[1], '')
  redis.call('DEL', KEYS[1])
end
return 0
