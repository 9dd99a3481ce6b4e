// Which shard a monitor's ticks belong to: monitors of one interval whose ticks fall in the same slice of it.
import { createHash } from 'node:crypto';

/**
 * The width of a shard's slice of the interval. A shard's job comes at the shard's tick (the start of its slice)
 * and starts each member at its own time in the slice (memberDueAtMs): 60 s monitors make at most 240 shards, so
 * 100,000 of them are 4 shard jobs a second of about 420 runs each, instead of 1,667 jobs. Part of every shard's name: changing it reshards every monitor (reconcile).
 */
export const shardSliceMs = 250;

/** A shard: its interval and where in it its ticks fall (ms after every multiple of the interval since 1970). */
export interface Shard {
  everyMs: number;
  offsetMs: number;
}

/**
 * Where in its interval a monitor's ticks fall: a stable spread drawn from its id, so 10,000 monitors created
 * in the same second do not all fire in the same second of every minute.
 */
export function spreadMs(monitorId: string, intervalMs: number): number {
  const hash = createHash('sha256').update(monitorId).digest();
  return hash.readUInt32BE(0) % intervalMs;
}

export function shardOf(monitor: { id: string; intervalSeconds: number }): Shard {
  const everyMs = monitor.intervalSeconds * 1000;
  const offsetMs = Math.floor(spreadMs(monitor.id, everyMs) / shardSliceMs) * shardSliceMs;
  return { everyMs, offsetMs };
}

/**
 * When a member is due in one of its shard's ticks: the tick (the start of the slice) plus where in the slice its
 * own spread falls. A shard's members are started in this order, none before its time, so the runs of an interval
 * are spread evenly over its milliseconds rather than started in bursts at each slice's start.
 */
export function memberDueAtMs(monitorId: string, shard: Shard, tickMs: number): number {
  return tickMs + spreadMs(monitorId, shard.everyMs) - shard.offsetMs;
}

/** The shard's name: its member set's key suffix, its BullMQ job scheduler's id, and its job's data. */
export function shardIdOf(shard: Shard): string {
  return `shard:${shard.everyMs}:${shard.offsetMs}`;
}

/** The shard a name stands for, or undefined for any other text (a legacy per-monitor scheduler's id). */
export function parseShardId(text: string): Shard | undefined {
  const match = /^shard:(\d{1,9}):(\d{1,9})$/.exec(text);
  if (!match) return undefined;
  const everyMs = Number(match[1]);
  const offsetMs = Number(match[2]);
  if (everyMs <= 0 || offsetMs >= everyMs) return undefined;
  return { everyMs, offsetMs };
}

/** The shard's first tick at or after `atMs`. */
export function nextTickAtOrAfter(shard: Shard, atMs: number): number {
  const base = Math.floor(atMs / shard.everyMs) * shard.everyMs + shard.offsetMs;
  return base >= atMs ? base : base + shard.everyMs;
}
