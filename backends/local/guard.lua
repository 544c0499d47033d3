-- Make a transaction that read a run's state from this process's cache (RunCache) as safe as one
-- that read it from Redis: sent right after WATCH of the run, before MULTI, in the same round trip.
-- KEYS[1] = the run's state STRING (swf:{T}:run:<runId>)
-- ARGV[1] = the state the transaction's writes were worked out from
-- KEYS[2..] = hashes of records the transaction also took from the cache (the domain's types), and
--   for each, in ARGV from ARGV[2] on: n, then its n fields, then their n values ('' for none)
-- All equal: 1, and the WATCH now guards the rest exactly as after a read. Any different (or the
-- state gone): 0, after touching the run's key (set again as it is, or set and deleted if it is
-- gone), which marks every WATCH of it, this transaction's own included, so its EXEC does nothing.
local current = redis.call('GET', KEYS[1])
local same = current == ARGV[1]
local a = 2
for k = 2, #KEYS do
  if not same then
    break
  end
  local n = tonumber(ARGV[a])
  local got = redis.call('HMGET', KEYS[k], unpack(ARGV, a + 1, a + n))
  for i = 1, n do
    if (got[i] or '') ~= ARGV[a + n + i] then
      same = false
      break
    end
  end
  a = a + 1 + 2 * n
end
if same then
  return 1
end
if current then
  redis.call('SET', KEYS[1], current)
else
  redis.call('SET', KEYS[1], '')
  redis.call('DEL', KEYS[1])
end
return 0
