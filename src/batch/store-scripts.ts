// The Lua scripts of the batch store (store.ts) and the commands ioredis makes of them. Each touches the keys of
// one batch only, which share one hash tag (one Redis Cluster slot).

// Keeps the first result of each item only (SETBIT answers the old bit), counts them, and ends the batch with its
// last item. ARGV: now, TTL, then four per item (index, JSON, status, cause). Answers the batch's finish (1 or 2),
// its client, its state and one character per item ('1' kept, '0' had one). Every key's time to live restarts, so
// results are kept for the TTL after the batch's last activity. One call records a group of items: one round trip,
// one RPUSH, one HINCRBY per status and cause met.
export const recordScript = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1, '', '', ''} end
local kept, marks, counts = {}, {}, {}
for i = 3, #ARGV, 4 do
  if redis.call('SETBIT', KEYS[2], ARGV[i], 1) == 1 then
    marks[#marks + 1] = '0'
  else
    marks[#marks + 1] = '1'
    kept[#kept + 1] = ARGV[i + 1]
    local status, cause = 'status:' .. ARGV[i + 2], 'cause:' .. ARGV[i + 3]
    counts[status] = (counts[status] or 0) + 1
    counts[cause] = (counts[cause] or 0) + 1
  end
end
local state = redis.call('HGET', KEYS[1], 'state')
local clientId = redis.call('HGET', KEYS[1], 'clientId')
if #kept == 0 then return {0, clientId, state, table.concat(marks)} end
redis.call('RPUSH', KEYS[3], unpack(kept))
for field, count in pairs(counts) do redis.call('HINCRBY', KEYS[1], field, count) end
local done = redis.call('HINCRBY', KEYS[1], 'done', #kept)
local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
if done >= total then
  redis.call('HSETNX', KEYS[1], 'finishedAtMs', ARGV[1])
  if state == 'running' then
    state = 'completed'
    redis.call('HSET', KEYS[1], 'state', state)
  end
  return {2, clientId, state, table.concat(marks)}
end
return {1, clientId, state, table.concat(marks)}
`;

/** Items recorded by one script call at most: a bounded command for Redis, and Lua's unpack stays small. */
export const recordGroupMax = 256;

// A worker about to probe item i: the batch's state and whether i has a result already; the first sets startedAtMs.
export const claimScript = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'unknown', 0} end
redis.call('HSETNX', KEYS[1], 'startedAtMs', ARGV[2])
return {state, redis.call('GETBIT', KEYS[2], ARGV[1])}
`;

// A worker about to run a chunk, items ARGV[1] to ARGV[1] + ARGV[2] - 1: the batch's state and, one character per
// item, whether each has a result already ('1'); the first sets startedAtMs.
export const claimChunkScript = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'unknown', ''} end
redis.call('HSETNX', KEYS[1], 'startedAtMs', ARGV[3])
local marks = {}
local first = tonumber(ARGV[1])
for index = first, first + tonumber(ARGV[2]) - 1 do marks[#marks + 1] = redis.call('GETBIT', KEYS[2], index) end
return {state, table.concat(marks)}
`;

// Cancels a running batch: the state changes only from running, and the previous one is answered.
export const cancelScript = `
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
if state == 'running' then redis.call('HSET', KEYS[1], 'state', 'cancelled', 'cancelledAtMs', ARGV[1]) end
return state
`;

export interface BatchCommands {
  recordBatchItems(
    meta: string,
    done: string,
    results: string,
    badLines: string,
    urls: string,
    nowMs: number,
    ttlMs: number,
    ...items: Array<string | number>
  ): Promise<[number, string, string, string]>;
  claimBatchItem(meta: string, done: string, index: number, nowMs: number): Promise<[string, number]>;
  claimBatchChunk(
    meta: string,
    done: string,
    start: number,
    count: number,
    nowMs: number,
  ): Promise<[string, string]>;
  cancelBatch(meta: string, nowMs: number): Promise<string>;
}
