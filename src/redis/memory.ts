// How close Redis is to its memory cap, read at most once a second, so submissions stop before writes fail.
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

/**
 * One INFO MEMORY per second at most, shared by all requests in between. A failed read is not "near cap": the
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
    pending ??= redis
      .info('memory')
      .then(
        (info) => {
          reading = parseMemoryInfo(info);
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
