// Redis clients for the two kinds of use: commands that must fail fast, and blocking reads that wait it out.
import type { RedisOptions } from 'bullmq';
import { Redis } from 'ioredis';

export type RedisPurpose = 'commands' | 'blocking';

/**
 * `commands` (the API's queue, rate limiter, readiness): no offline queue, so a request made while Redis is
 * away fails at once and the API answers 503 instead of hanging. `blocking` (workers, queue events):
 * BullMQ wants maxRetriesPerRequest null so its blocking reads survive reconnects.
 */
export function createRedisClient(url: string, purpose: RedisPurpose): Redis {
  return new Redis(url, {
    lazyConnect: false,
    connectTimeout: 3000,
    enableOfflineQueue: purpose === 'blocking',
    // No auto-pipelining: every batch is a new ioredis Pipeline, whose constructor copies each script defined
    // on the client (BullMQ's Queue defines 64 on this one). A lone command then costs about 140 µs of CPU
    // instead of 30; under the API's load most batches held one or two commands, so it cost more than it saved.
    enableAutoPipelining: false,
    maxRetriesPerRequest: purpose === 'blocking' ? null : 1,
    // Reconnect forever, backing off to at most 2 s: a Redis restart is a pause, not a crash.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  });
}

export function isRedisReady(client: Redis): boolean {
  return client.status === 'ready';
}

/** Closes a client politely when connected, at once otherwise (QUIT would wait for a reconnect). */
export async function closeRedisClient(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // fall through to disconnect
    }
  }
  client.disconnect();
}

/**
 * Connection options for BullMQ parts that open (and own) their connections: workers and queue events.
 * Giving options rather than a client lets BullMQ duplicate them for its blocking reads and close them itself.
 */
export function blockingOptionsFromUrl(url: string): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    db,
    ...(parsed.protocol === 'rediss:' ? { tls: { servername: parsed.hostname } } : {}),
    connectTimeout: 3000,
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
  };
}
