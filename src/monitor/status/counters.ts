// Batched reads of the counters behind the status page: one pipeline per chunk of monitors, not round trips
// per monitor. The keys are the store's (MonitorStore.counterKeys), the fields `<bucket>:<kind>` counts.
import type { ChainableCommander } from 'ioredis';
import type { RedisClient } from '../../redis/connection.js';
import type { CounterKeys, CountKind } from '../store.js';

export type Counts = Record<CountKind, number>;

const countKinds: readonly CountKind[] = ['up', 'degraded', 'down', 'maintenance'];
/** Monitors per pipeline: big enough to save the round trips, small enough to let other clients in between. */
const monitorsPerPipeline = 500;

export function zeroCounts(): Counts {
  return { up: 0, degraded: 0, down: 0, maintenance: 0 };
}

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

function fieldsOf(buckets: number[]): string[] {
  return buckets.flatMap((bucket) => countKinds.map((kind) => `${bucket}:${kind}`));
}

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, offset) => from + offset);
}

/** Counts of consecutive buckets from HMGET values laid out as `fieldsOf` asked for them. */
function countsOf(values: Array<string | null>, bucketCount: number): Counts[] {
  const buckets: Counts[] = [];
  for (let bucket = 0; bucket < bucketCount; bucket += 1) {
    const offset = bucket * countKinds.length;
    buckets.push({
      up: Number(values[offset] ?? 0),
      degraded: Number(values[offset + 1] ?? 0),
      down: Number(values[offset + 2] ?? 0),
      maintenance: Number(values[offset + 3] ?? 0),
    });
  }
  return buckets;
}

/** Today's counts and the completed days before it from the whole daily hash (it keeps 91 days). */
function daysOf(fields: Record<string, string>, today: number, pastDays: number): [Counts, Counts[]] {
  const firstDay = today - pastDays;
  const days = range(firstDay, pastDays + 1).map(zeroCounts);
  for (const [field, value] of Object.entries(fields)) {
    const separator = field.indexOf(':');
    const dayCounts = days[Number(field.slice(0, separator)) - firstDay];
    const kind = field.slice(separator + 1) as CountKind;
    if (dayCounts && kind in dayCounts) dayCounts[kind] = Number(value);
  }
  const current = days.pop() ?? zeroCounts();
  return [current, days];
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
  // The same field names for every monitor: built once per read, not per monitor.
  const currentDayFields = fieldsOf([window.today]);
  const pastHourFields = fieldsOf(range(window.hour - window.pastHours, window.pastHours));
  return pipelined(
    source.redis,
    queries,
    (pipeline, query) => {
      // Completed days: the whole daily hash (at most 91 days of a few fields) costs Redis less than
      // asking for 356 named fields (a hash that small is a listpack, scanned once per field asked for).
      if (query.withPastDays) pipeline.hgetall(source.counterKeys(query.id).daily);
      else pipeline.hmget(source.counterKeys(query.id).daily, ...currentDayFields);
      if (query.withPastHours) pipeline.hmget(source.counterKeys(query.id).hourly, ...pastHourFields);
    },
    (next, query) => {
      let currentDay: Counts | undefined;
      let pastDays: Counts[] | undefined;
      if (query.withPastDays)
        [currentDay, pastDays] = daysOf(next() as Record<string, string>, window.today, window.pastDays);
      else [currentDay] = countsOf(next() as Array<string | null>, 1);
      const pastHours = query.withPastHours
        ? countsOf(next() as Array<string | null>, window.pastHours)
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
  const currentHourFields = fieldsOf([hour]);
  return pipelined(
    source.redis,
    ids,
    (pipeline, id) => {
      pipeline.hmget(source.counterKeys(id).hourly, ...currentHourFields);
      pipeline.lrange(source.counterKeys(id).latency, 0, -1);
    },
    (next) => {
      const [currentHour] = countsOf(next() as Array<string | null>, 1);
      return { currentHour: currentHour ?? zeroCounts(), durationsMs: (next() as string[]).map(Number) };
    },
  );
}
