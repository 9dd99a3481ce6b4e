// Batched reads of the counters behind the status page: one pipeline per chunk of monitors, not round trips
// per monitor. The key and field layout is MonitorStore's (src/monitor/store.ts: `<prefix>:hourly:<id>`,
// `<prefix>:daily:<id>` hashes of `<bucket>:<kind>` counts, the `<prefix>:latency:<id>` list); it belongs
// there as a store method, and lives here only while store.ts is being changed by someone else.
import type { Redis } from 'ioredis';
import type { CountKind } from './store.js';

export type Counts = Record<CountKind, number>;

const countKinds: readonly CountKind[] = ['up', 'degraded', 'down', 'maintenance'];
/** Monitors per pipeline: big enough to save the round trips, small enough to let other clients in between. */
const monitorsPerPipeline = 500;

export function zeroCounts(): Counts {
  return { up: 0, degraded: 0, down: 0, maintenance: 0 };
}

export interface CounterQuery {
  id: string;
  /** Read the completed days (`pastDays` before `today`) too. */
  withPastDays: boolean;
  /** Read the completed hours (`pastHours` before `hour`) too. */
  withPastHours: boolean;
}

export interface CounterReading {
  currentHour: Counts;
  currentDay: Counts;
  /** Latency samples, in the list's order (newest first). */
  durationsMs: number[];
  /** Oldest first; present when asked for. */
  pastDays?: Counts[];
  /** Oldest first; present when asked for. */
  pastHours?: Counts[];
}

export interface CounterWindow {
  today: number;
  hour: number;
  pastDays: number;
  pastHours: number;
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
 * Reads the current hour's and day's counters and the latency samples of every monitor asked for, plus its
 * completed hours and days where asked: one pipeline per 500 monitors. A Redis error rejects the whole read.
 */
export async function readCounters(
  redis: Redis,
  keyPrefix: string,
  queries: CounterQuery[],
  window: CounterWindow,
): Promise<CounterReading[]> {
  const key = (kind: string, id: string) => `${keyPrefix}:${kind}:${id}`;
  // The same field names for every monitor: built once per read, not per monitor.
  const currentHourFields = fieldsOf([window.hour]);
  const currentDayFields = fieldsOf([window.today]);
  const pastHourFields = fieldsOf(range(window.hour - window.pastHours, window.pastHours));
  const readings: CounterReading[] = [];
  for (let start = 0; start < queries.length; start += monitorsPerPipeline) {
    const chunk = queries.slice(start, start + monitorsPerPipeline);
    const pipeline = redis.pipeline();
    for (const query of chunk) {
      pipeline.hmget(key('hourly', query.id), ...currentHourFields);
      // Completed days: the whole daily hash (at most 91 days of a few fields) costs Redis less than
      // asking for 360 named fields, and it holds today as well.
      if (query.withPastDays) pipeline.hgetall(key('daily', query.id));
      else pipeline.hmget(key('daily', query.id), ...currentDayFields);
      pipeline.lrange(key('latency', query.id), 0, -1);
      if (query.withPastHours) pipeline.hmget(key('hourly', query.id), ...pastHourFields);
    }
    const replies = (await pipeline.exec()) ?? [];
    let index = 0;
    const next = (): unknown => {
      const [error, value] = replies[index] ?? [new Error('the status counters pipeline lost a reply'), null];
      index += 1;
      if (error) throw error;
      return value;
    };
    for (const query of chunk) {
      const [currentHour] = countsOf(next() as Array<string | null>, 1);
      let currentDay: Counts | undefined;
      let pastDays: Counts[] | undefined;
      if (query.withPastDays)
        [currentDay, pastDays] = daysOf(next() as Record<string, string>, window.today, window.pastDays);
      else [currentDay] = countsOf(next() as Array<string | null>, 1);
      const durationsMs = (next() as string[]).map(Number);
      const pastHours = query.withPastHours
        ? countsOf(next() as Array<string | null>, window.pastHours)
        : undefined;
      readings.push({
        currentHour: currentHour ?? zeroCounts(),
        currentDay: currentDay ?? zeroCounts(),
        durationsMs,
        ...(pastDays ? { pastDays } : {}),
        ...(pastHours ? { pastHours } : {}),
      });
    }
  }
  return readings;
}
