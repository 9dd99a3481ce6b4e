// The Lua scripts that write a monitor's history ring, its kept entries and its counters. Each touches the keys
// of one monitor, all under the store's prefix (one hash tag on a Cluster), so each runs in one slot.
import { recordBytes, ringHeaderBytes } from './codec.js';
import { bucketBytes, countsBytes, dailySlots, hourlySlots } from './counts.js';

/** A ring starts this small and doubles while its oldest run is younger than the maximum age. */
export const initialRingSlots = 64;

// The ring: a 16-byte header ('H', version 1, record width, 0, next slot, count, sequence: uint32 each) and
// `capacity` fixed-width records. Kept entries (a hash): `c<start>:<seq>` a change of state, `k<start>:<seq>` a
// run the record cannot hold (the latest run is whole in the monitor's state). A new key made by SETRANGE is
// allocated exactly as long as asked (no slack, unlike growing one), so rings and counters are made at their
// size and written in place.
const prelude = `
local H, R = ${ringHeaderBytes}, ${recordBytes}
local sequenceSpan = 65536
local function readHeader(ring)
  local header = redis.call('GETRANGE', ring, 0, H - 1)
  if #header < H then return nil end
  local _, _, _, _, nextSlot, count, seq = struct.unpack('>BBBBI4I4I4', header)
  local capacity = math.floor((redis.call('STRLEN', ring) - H) / R)
  return nextSlot, count, seq, capacity
end
local function headerOf(nextSlot, count, seq)
  return struct.pack('>BBBBI4I4I4', 72, 1, R, 0, nextSlot, count, seq)
end
local function atOf(record)
  return (struct.unpack('>I6', record))
end
-- The field of a run's kept entry: its start and sequence number (unique however often the sequence wraps).
local function detailName(kind, record)
  return kind .. string.format('%.0f', atOf(record)) .. ':' .. struct.unpack('>I2', record, 18)
end
local function dropDetail(details, record)
  if bit.band(string.byte(record, 10), 32) ~= 0 then
    redis.call('HDEL', details, detailName('c', record), detailName('k', record))
  end
end
-- The records oldest first, as one string.
local function orderedRecords(ring, nextSlot, count, capacity)
  local body = string.sub(redis.call('GET', ring), H + 1)
  if count >= capacity then
    return string.sub(body, nextSlot * R + 1, capacity * R) .. string.sub(body, 1, nextSlot * R)
  end
  return string.sub(body, 1, count * R)
end
-- Rewrites the ring at this capacity with these records (oldest first), dropping the oldest that do not fit.
local function writeRing(ring, details, records, capacity, seq)
  local count = #records / R
  if count > capacity then
    for i = 1, (count - capacity) * R, R do dropDetail(details, string.sub(records, i, i + R - 1)) end
    records = string.sub(records, (count - capacity) * R + 1)
    count = capacity
  end
  local nextSlot = count % capacity
  redis.call('SET', ring, headerOf(nextSlot, count, seq) .. records .. string.rep('\\0', (capacity - count) * R))
  return count, nextSlot
end
-- Keeps the newest \`kept\` changes of state whole; older ones live on as their records.
local function trimChanges(details, kept)
  local changes = {}
  for _, field in ipairs(redis.call('HKEYS', details)) do
    if string.sub(field, 1, 1) == 'c' then
      table.insert(changes, { tonumber(string.match(field, '^c(%d+):')), field })
    end
  end
  if #changes <= kept then return end
  table.sort(changes, function(a, b) return a[1] > b[1] end)
  for i = kept + 1, #changes do redis.call('HDEL', details, changes[i][2]) end
end
local function stamped(record, flags, seq)
  return string.sub(record, 1, 9) .. string.char(flags) .. string.sub(record, 11, 17) .. struct.pack('>I2', seq)
end
local function ensureCounts(counts)
  if redis.call('EXISTS', counts) == 0 then redis.call('SETRANGE', counts, ${countsBytes - 1}, '\\0') end
end
-- Adds to one bucket of a counters ring: a slot holding an older bucket is reset, one holding a newer one wins.
local function countInto(counts, regionOffset, slots, bucket, kind, amount)
  local offset = regionOffset + (bucket % slots) * ${bucketBytes}
  local held, up, degraded, down, maintenance =
    struct.unpack('>I4I4I4I4I4', redis.call('GETRANGE', counts, offset, offset + ${bucketBytes - 1}))
  if held > bucket then return end
  local values = {0, 0, 0, 0}
  if held == bucket then values = {up, degraded, down, maintenance} end
  values[kind + 1] = values[kind + 1] + amount
  redis.call('SETRANGE', counts, offset,
    struct.pack('>I4I4I4I4I4', bucket, values[1], values[2], values[3], values[4]))
end
local hourlyOffset, hourlySlots = 0, ${hourlySlots}
local dailyOffset, dailySlots = ${hourlySlots * bucketBytes}, ${dailySlots}
`;

/**
 * One run. KEYS: ring, kept entries, counters, latency samples, and the three keys of the old format (only
 * checked). ARGV: record, entry JSON, now (ms), maximum age (ms), maximum runs, kept changes, count kind (0 up,
 * 1 degraded, 2 down, 3 maintenance), hour, day, latency sample ('' for none), samples kept. Answers how many of
 * the old format's keys exist (the store then migrates them).
 */
export const recordRunScript = `${prelude}
local ring, details, counts, latency = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local record, entry = ARGV[1], ARGV[2]
local nowMs, maxAgeMs, maxEntries = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local nextSlot, count, seq, capacity = readHeader(ring)
if not nextSlot then
  nextSlot, count, seq, capacity = 0, 0, 0, math.min(maxEntries, ${initialRingSlots})
  redis.call('SETRANGE', ring, H + capacity * R - 1, '\\0')
elseif capacity ~= maxEntries and (capacity > maxEntries or (count >= capacity and
    atOf(redis.call('GETRANGE', ring, H + nextSlot * R, H + nextSlot * R + 5)) >= nowMs - maxAgeMs)) then
  local records = orderedRecords(ring, nextSlot, count, capacity)
  capacity = math.min(maxEntries, capacity * 2)
  count, nextSlot = writeRing(ring, details, records, capacity, seq)
end
local flags = string.byte(record, 10)
local isChange = true
if count > 0 then
  local previousOffset = H + ((nextSlot - 1) % capacity) * R
  local previous = redis.call('GETRANGE', ring, previousOffset, previousOffset + R - 1)
  isChange = bit.band(string.byte(previous, 10), 19) ~= bit.band(flags, 19)
    or string.sub(previous, 11, 12) ~= string.sub(record, 11, 12)
    or string.byte(previous, 17) ~= string.byte(record, 17)
end
local offset = H + nextSlot * R
if count >= capacity then
  dropDetail(details, redis.call('GETRANGE', ring, offset, offset + R - 1))
else
  count = count + 1
end
seq = (seq + 1) % sequenceSpan
local mustKeep = bit.band(flags, 64) ~= 0
record = stamped(record, flags, seq)
if mustKeep or isChange then
  record = stamped(record, bit.bor(flags, 32), seq)
  redis.call('HSET', details, detailName(mustKeep and 'k' or 'c', record), entry)
end
redis.call('SETRANGE', ring, offset, record)
redis.call('SETRANGE', ring, 0, headerOf((nextSlot + 1) % capacity, count, seq))
if isChange and not mustKeep then trimChanges(details, tonumber(ARGV[6])) end
ensureCounts(counts)
local kind = tonumber(ARGV[7])
countInto(counts, hourlyOffset, hourlySlots, tonumber(ARGV[8]), kind, 1)
countInto(counts, dailyOffset, dailySlots, tonumber(ARGV[9]), kind, 1)
if ARGV[10] ~= '' then
  redis.call('LPUSH', latency, ARGV[10])
  redis.call('LTRIM', latency, 0, tonumber(ARGV[11]) - 1)
end
return redis.call('EXISTS', KEYS[5], KEYS[6], KEYS[7])
`;

/**
 * Many runs at once, merged with the ring's by start time (the migration of an old history, a bulk fill).
 * KEYS: ring, kept entries, the old format's history. ARGV: now, maximum age, maximum runs, kept changes, the
 * old history's expected size and last score ('' when not migrating), then per run: record, kept-entry kind
 * ('', 'c' or 'k'), entry JSON. Answers the ring's count, or -1 when the old history changed since it was read.
 */
export const importRunsScript = `${prelude}
local ring, details, legacy = KEYS[1], KEYS[2], KEYS[3]
local nowMs, maxAgeMs, maxEntries = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if ARGV[5] ~= '' then
  local size = redis.call('ZCARD', legacy)
  local last = redis.call('ZRANGE', legacy, -1, -1, 'WITHSCORES')
  if size ~= tonumber(ARGV[5]) or (size > 0 and last[2] ~= ARGV[6]) then return -1 end
end
local nextSlot, count, seq, capacity = readHeader(ring)
local records = {}
if nextSlot then
  local existing = orderedRecords(ring, nextSlot, count, capacity)
  for i = 1, #existing, R do table.insert(records, string.sub(existing, i, i + R - 1)) end
else
  seq, capacity = 0, 0
end
local hasChanges = false
for i = 7, #ARGV, 3 do
  local record, kind = ARGV[i], ARGV[i + 1]
  local flags = string.byte(record, 10)
  seq = (seq + 1) % sequenceSpan
  if kind ~= '' then
    record = stamped(record, bit.bor(flags, 32), seq)
    redis.call('HSET', details, detailName(kind, record), ARGV[i + 2])
    if kind == 'c' then hasChanges = true end
  else
    record = stamped(record, flags, seq)
  end
  table.insert(records, record)
end
-- By start time: the runs given come sorted, the ring's in the order written; sorted once on keys read once.
local starts = {}
for index, record in ipairs(records) do starts[index] = { atOf(record), index, record } end
table.sort(starts, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
local kept = {}
for _, start in ipairs(starts) do
  if start[1] >= nowMs - maxAgeMs then table.insert(kept, start[3]) else dropDetail(details, start[3]) end
end
if #kept == 0 then
  redis.call('DEL', ring)
else
  capacity = math.min(maxEntries, math.max(#kept, capacity, ${initialRingSlots}))
  writeRing(ring, details, table.concat(kept), capacity, seq)
end
if hasChanges then trimChanges(details, tonumber(ARGV[4])) end
if ARGV[5] ~= '' then redis.call('DEL', legacy) end
return #kept
`;

/** The old format's hourly and daily hashes (`<bucket>:<kind>` fields) added into the counters, then deleted. */
export const migrateCountsScript = `${prelude}
local counts, hourly, daily = KEYS[1], KEYS[2], KEYS[3]
local kinds = { up = 0, degraded = 1, down = 2, maintenance = 3 }
ensureCounts(counts)
for _, source in ipairs({ { hourly, hourlyOffset, hourlySlots }, { daily, dailyOffset, dailySlots } }) do
  local fields = redis.call('HGETALL', source[1])
  for i = 1, #fields, 2 do
    local bucket, kind = string.match(fields[i], '^(%d+):(%a+)$')
    if bucket and kinds[kind] then
      countInto(counts, source[2], source[3], tonumber(bucket), kinds[kind], tonumber(fields[i + 1]))
    end
  end
end
redis.call('DEL', hourly, daily)
return 1
`;
