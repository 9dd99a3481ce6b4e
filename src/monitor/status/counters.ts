// Batched reads of the counters behind the status page: one pipeline per chunk of monitors, not round trips
// per monitor. The keys are the store's (MonitorStore.counterKeys), the buckets laid out by history/counts.ts.
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../../redis/connection.js';
import {
  bucketBytes,
  bucketOffset,
  type Counts,
  countsOfBucket,
  countsOfRegion,
  regionRange,
  zeroCounts,
} from '../history/counts.js';
import type { CounterKeys } from '../store.js';

export { type Counts, zeroCounts };

/** Monitors per pipeline: big enough to save the round trips, small enough to let other clients in between. */
const monitorsPerPipeline = 500;

export interface DayQuery {
  id: string;
  /** Read the completed days (`pastDays` before `today`) too. */
  withPastDays: boolean;
  /** Read the completed hours (`pastHours` before `hour`) too. */
  withPastHours: boolean;
}

export interface DayReading {
  currentDay: Counts;
  /** Oldest first; present when asked for. */
  pastDays?: Counts[];
  /** Oldest first; present when asked for. */
  pastHours?: Counts[];
}

export interface RecentReading {
  currentHour: Counts;
  /** Latency samples, in the list's order (newest first). */
  durationsMs: number[];
}

export interface CounterWindow {
  today: number;
  hour: number;
  pastDays: number;
  pastHours: number;
}

/** What the reads need of the store: its client and where each monitor's counters are. */
export interface CounterSource {
  redis: RedisClient;
  counterKeys(id: string): CounterKeys;
}

/** Sends `queue`'s commands for each item, one pipeline per chunk, and parses each item's replies in order. */
async function pipelined<Item, Reading>(
  redis: RedisClient,
  items: Item[],
  queue: (pipeline: ChainableCommander, item: Item) => void,
  parse: (next: () => unknown, item: Item) => Reading,
): Promise<Reading[]> {
  const readings: Reading[] = [];
  for (let start = 0; start < items.length; start += monitorsPerPipeline) {
    const chunk = items.slice(start, start + monitorsPerPipeline);
    const pipeline = redis.pipeline();
    for (const item of chunk) queue(pipeline, item);
    const replies = (await pipeline.exec()) ?? [];
    let index = 0;
    const next = (): unknown => {
      const [error, value] = replies[index] ?? [new Error('the status counters pipeline lost a reply'), null];
      index += 1;
      if (error) throw error;
      return value;
    };
    for (const item of chunk) readings.push(parse(next, item));
  }
  return readings;
}

/**
 * Today's counters of every monitor asked for, plus its completed days and hours where asked: one pipeline
 * per 500 monitors. A Redis error rejects the whole read.
 */
export function readDayCounters(
  source: CounterSource,
  queries: DayQuery[],
  window: CounterWindow,
): Promise<DayReading[]> {
  const todayOffset = bucketOffset('daily', window.today);
  const [dailyStart, dailyEnd] = regionRange('daily');
  const [hourlyStart, hourlyEnd] = regionRange('hourly');
  return pipelined(
    source.redis,
    queries,
    (pipeline, query) => {
      const { counts } = source.counterKeys(query.id);
      // Completed days: the whole daily ring (1.8 KB); otherwise today's bucket alone (20 bytes).
      if (query.withPastDays) pipeline.getrangeBuffer(counts, dailyStart, dailyEnd);
      else pipeline.getrangeBuffer(counts, todayOffset, todayOffset + bucketBytes - 1);
      if (query.withPastHours) pipeline.getrangeBuffer(counts, hourlyStart, hourlyEnd);
    },
    (next, query) => {
      let currentDay: Counts | undefined;
      let pastDays: Counts[] | undefined;
      if (query.withPastDays) {
        const days = countsOfRegion(bytesOf(next()), 'daily', window.today - window.pastDays, window.today);
        currentDay = days.pop();
        pastDays = days;
      } else currentDay = countsOfBucket(bytesOf(next()), window.today);
      const pastHours = query.withPastHours
        ? countsOfRegion(bytesOf(next()), 'hourly', window.hour - window.pastHours, window.hour - 1)
        : undefined;
      return {
        currentDay: currentDay ?? zeroCounts(),
        ...(pastDays ? { pastDays } : {}),
        ...(pastHours ? { pastHours } : {}),
      };
    },
  );
}

/** The current hour's counters and the latency samples of every monitor asked for, pipelined likewise. */
export function readRecentCounters(
  source: CounterSource,
  ids: string[],
  hour: number,
): Promise<RecentReading[]> {
  const hourOffset = bucketOffset('hourly', hour);
  return pipelined(
    source.redis,
    ids,
    (pipeline, id) => {
      const keys = source.counterKeys(id);
      pipeline.getrangeBuffer(keys.counts, hourOffset, hourOffset + bucketBytes - 1);
      pipeline.lrange(keys.latency, 0, -1);
    },
    (next) => ({
      currentHour: countsOfBucket(bytesOf(next()), hour),
      durationsMs: (next() as string[]).map(Number),
    }),
  );
}

/** A GETRANGE reply; an absent key reads as an empty string, i.e. no counts. */
function bytesOf(reply: unknown): Buffer | null {
  return Buffer.isBuffer(reply) && reply.length > 0 ? reply : null;
}
