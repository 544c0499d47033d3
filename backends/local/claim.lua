-- Claim the next dispatchable task of a task list.
-- KEYS[1] = task list ZSET   (swf:{T}:tl:<d|a|l>:<name>; all scores 0, ordered by member)
-- KEYS[2] = in-flight ZSET   (swf:{T}:inflight; member -> lease end, epoch seconds)
-- KEYS[3] = the task list's wake LIST (one token per task made dispatchable)
-- ARGV[1] = now (epoch seconds, from the engine's clock)
-- ARGV[2] = lease (seconds): a claimer that dies before starting the task
--           gives it back once the lease has ended
-- ARGV[3] = "1" when the claimer did not just take a wake token: a claimed
--           task then takes its own token away, so that no waiting poller is
--           woken for a task that is gone
-- In-flight members are "<task list key>\n<task member>" (names hold no
-- control characters), so an expired lease goes back to its own list.
-- Returns {member, ""} for a claim, or {"", earliest lease end or ""}.
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 16)
for _, member in ipairs(expired) do
  local sep = string.find(member, '\n', 1, true)
  redis.call('ZREM', KEYS[2], member)
  if sep then
    -- same domain, so same hash slot as KEYS[1]
    redis.call('ZADD', string.sub(member, 1, sep - 1), 0, string.sub(member, sep + 1))
  end
end
local top = redis.call('ZPOPMIN', KEYS[1])
if #top == 0 then
  local lease = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {'', lease[2] or ''}
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[2]), KEYS[1] .. '\n' .. top[1])
if ARGV[3] == '1' then
  redis.call('LPOP', KEYS[3])
end
return {top[1], ''}
