// How close Redis is to its memory cap, read at most once a second, so submissions stop before writes fail.
import { Cluster } from 'ioredis';
import type { RedisClient } from './connection.js';

export interface RedisMemory {
  usedBytes: number;
  /** 0: no cap. */
  maxBytes: number;
}

export interface MemoryGauge {
  /** The latest reading when Redis uses at least the high-water share of its cap; undefined otherwise. */
  nearCap(): Promise<RedisMemory | undefined>;
}

export function parseMemoryInfo(info: string): RedisMemory {
  const field = (name: string) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
}

/** Used share of the cap; a server with no cap is never near it. */
function shareOf(memory: RedisMemory): number {
  return memory.maxBytes === 0 ? 0 : memory.usedBytes / memory.maxBytes;
}

/** Of several masters, the one nearest its cap: the first whose writes fail. No masters: no cap. */
export function fullestOf(readings: RedisMemory[]): RedisMemory {
  return readings.reduce((fullest, reading) => (shareOf(reading) > shareOf(fullest) ? reading : fullest), {
    usedBytes: 0,
    maxBytes: 0,
  });
}

/** INFO MEMORY of one server, or of every master of a Cluster (each holds some of our keys), the fullest. */
async function readMemory(redis: RedisClient): Promise<RedisMemory> {
  if (!(redis instanceof Cluster)) return parseMemoryInfo(await redis.info('memory'));
  const masters = redis.nodes('master');
  return fullestOf(
    await Promise.all(masters.map(async (node) => parseMemoryInfo(await node.info('memory')))),
  );
}

/**
 * One INFO MEMORY per second at most (on a Cluster, one per master), shared by all requests in between. A failed read is not "near cap": the
 * request goes on and meets Redis's own error, which the caller answers as 503 anyway.
 */
export function createMemoryGauge(
  redis: RedisClient,
  highWaterPercent: number,
  maxAgeMs = 1000,
): MemoryGauge {
  let reading: RedisMemory | undefined;
  let readAtMs = Number.NEGATIVE_INFINITY;
  let pending: Promise<RedisMemory | undefined> | undefined;
  const read = async () => {
    if (performance.now() - readAtMs < maxAgeMs) return reading;
    pending ??= readMemory(redis)
      .then(
        (memory) => {
          reading = memory;
          readAtMs = performance.now();
          return reading;
        },
        () => undefined,
      )
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
  return {
    async nearCap() {
      const memory = await read();
      if (!memory || memory.maxBytes === 0) return undefined;
      return memory.usedBytes * 100 >= memory.maxBytes * highWaterPercent ? memory : undefined;
    },
  };
}
