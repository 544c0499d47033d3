-- Claim the next dispatchable task of a task list.
-- KEYS[1] = task list ZSET   (swf:{T}:tl:<d|a>:<name>; all scores 0, ordered by member)
-- KEYS[2] = in-flight ZSET   (swf:{T}:inflight; member -> lease end, epoch seconds)
-- ARGV[1] = now (epoch seconds, from the engine's clock)
-- ARGV[2] = lease (seconds): a claimer that dies before starting the task
--           gives it back once the lease has ended
-- In-flight members are "<task list key>\n<task member>" (names hold no
-- control characters), so an expired lease goes back to its own list.
-- Returns the claimed member, or false.
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
  return false
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[2]), KEYS[1] .. '\n' .. top[1])
return top[1]
