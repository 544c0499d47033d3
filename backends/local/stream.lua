-- Append one transaction's history events to its domain's event stream (run with EVAL inside
-- the transaction's MULTI, so that the events and their stream entries are written together).
-- KEYS[1] = the domain's STREAM  (swf:{T}:stream)
-- KEYS[2] = its sequence STRING  (swf:{T}:stream:seq: the last entry's number)
-- ARGV[1] = bound: the stream keeps about this many entries (MAXLEN ~)
-- ARGV[2] = how many events follow, in all
-- ARGV[3..] = one group per run: "<runId>|<workflowId>|<type name>|<type version>", the
--             count of its events, then each event as stored in the history (events.py)
-- Entry ids are "<seq>-0" with seq counted by KEYS[2], one per event, with no gap: a reader
-- that finds a gap after the id it read last knows exactly how many entries were trimmed.
-- Each entry has two fields: r (the run's group header) and e (the stored event).
local seq = redis.call('INCRBY', KEYS[2], ARGV[2]) - tonumber(ARGV[2])
local i = 3
while i < #ARGV do
  local n = tonumber(ARGV[i + 1])
  for j = i + 2, i + 1 + n do
    seq = seq + 1
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], seq .. '-0', 'r', ARGV[i], 'e', ARGV[j])
  end
  i = i + 2 + n
end
return seq
