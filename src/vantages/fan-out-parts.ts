// A fan-out's parts as they finish: each vantage's result written into its comparison's job hash, and the last
// one to arrive releasing the comparison early. One Lua script on one key, so it is atomic and Cluster-safe.
import { createHash } from 'node:crypto';
import { Queue } from 'bullmq';
import type { RedisClient, RedisConnector } from '../redis/connection.js';
import type { ProbeJobResult } from '../requests/probe-job.js';
import { compareQueueName } from './registry.js';

/**
 * What a vantage's part carries to find its comparison: the fan-out's id, its own name, how many parts; and the
 * batch its URL belongs to, if any (the vantage probes the batch's controls once for its parts, shared-controls.ts).
 */
export interface FanOutPart {
  id: string;
  vantage: string;
  size: number;
  batchId?: string;
}

/** A part's outcome as written for the comparison: the job's result, or the vantage's own failure. */
export type PartOutcome =
  | { outcome: 'result'; result: ProbeJobResult }
  | { outcome: 'failed'; reason: string };

/** The comparison job's hash holds the parts beside BullMQ's own fields, so they expire with it. */
export function partField(vantage: string): string {
  return `reach:part:${vantage}`;
}

const doneField = 'reach:parts-done';

/**
 * KEYS[1] the comparison's job hash. ARGV: the part's field, its outcome (JSON), the fan-out's size.
 * Returns 1 when this part was the last one, 0 when others are missing or it was already written, -1 when the
 * comparison is gone or has begun (a worker set processedOn): a late part changes nothing.
 * HSETNX makes a second write of the same part (a retried job) count once, so exactly one part sees 1.
 */
const recordPartScript = `
local job = redis.call('HMGET', KEYS[1], 'timestamp', 'processedOn')
if not job[1] or job[2] then return -1 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
if redis.call('HINCRBY', KEYS[1], '${doneField}', 1) == tonumber(ARGV[3]) then return 1 end
return 0
`;
const recordPartSha = createHash('sha1').update(recordPartScript).digest('hex');

export type RecordOutcome = 'last' | 'recorded' | 'late';

/** What a part's job returns to BullMQ: its result lives in the comparison, not in the part's own job. */
export interface PartReceipt {
  outcome: 'part';
  fanOutId: string;
  written: RecordOutcome | 'error';
}

/** The workers' side: writes each part where its comparison reads it. */
export interface FanOutPartRecorder {
  record(part: FanOutPart, outcome: PartOutcome): Promise<RecordOutcome>;
  close(): Promise<void>;
}

/**
 * A recorder with its own connection, opened on the first part: a worker that never takes a fan-out's part
 * never opens it.
 */
export function createFanOutPartRecorder(options: {
  baseQueueName: string;
  /** Opens the recorder's client; the comparison's queue takes the connector's prefix, so its job key is found. */
  redis: RedisConnector;
}): FanOutPartRecorder {
  let opened: { redis: RedisClient; compareQueue: Queue } | undefined;
  const open = () => {
    if (!opened) {
      const redis = options.redis.client('blocking');
      redis.on('error', () => undefined);
      const compareQueue = new Queue(compareQueueName(options.baseQueueName), options.redis.bullOn(redis));
      compareQueue.on('error', () => undefined);
      opened = { redis, compareQueue };
    }
    return opened;
  };
  let closing: Promise<void> | undefined;
  return {
    async record(part, outcome) {
      const { redis, compareQueue } = open();
      const answer = await runRecordScript(redis, compareQueue.toKey(part.id), [
        partField(part.vantage),
        JSON.stringify(outcome),
        String(part.size),
      ]);
      if (answer === -1) return 'late';
      if (answer === 0) return 'recorded';
      // The comparison waits as a delayed job until the deadline; every part is in, so it runs now. Should this
      // process die right here, the delay still runs it by the deadline, with every part already written.
      await compareQueue.backend.promote(part.id).catch(() => undefined);
      return 'last';
    },
    close() {
      closing ??= (async () => {
        if (!opened) return;
        await opened.compareQueue.close();
        opened.redis.disconnect();
      })();
      return closing;
    },
  };
}

async function runRecordScript(redis: RedisClient, key: string, args: string[]): Promise<number> {
  try {
    return Number(await redis.evalsha(recordPartSha, 1, key, ...args));
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
    return Number(await redis.eval(recordPartScript, 1, key, ...args));
  }
}

/** The comparison's side: every part written so far, by vantage (one HMGET). */
export async function readParts(
  redis: RedisClient,
  jobKey: string,
  vantages: string[],
): Promise<Map<string, PartOutcome>> {
  const values = await redis.hmget(jobKey, ...vantages.map(partField));
  const parts = new Map<string, PartOutcome>();
  for (const [index, value] of values.entries())
    if (value !== null) parts.set(vantages[index] as string, JSON.parse(value) as PartOutcome);
  return parts;
}
