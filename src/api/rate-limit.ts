// Per-client rate limits kept in Redis, so every API replica shares one budget per key or address.
import type { RequestHandler } from 'express';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RedisClient } from '../redis/connection.js';
import { HttpProblem } from '../requests/problems.js';

/**
 * rate-limiter-flexible's RateLimiterRedis: one atomic round trip per request (INCR + PEXPIRE in a MULTI),
 * works with the ioredis client we already hold, and tells how long until the next point (Retry-After).
 */
export function createRateLimit(options: {
  redis: RedisClient;
  keyPrefix: string;
  points: number;
  windowSeconds: number;
}): RequestHandler {
  const limiter = new RateLimiterRedis({
    storeClient: options.redis,
    keyPrefix: options.keyPrefix,
    points: options.points,
    duration: options.windowSeconds,
    rejectIfRedisNotReady: true,
  });
  return async (_request, response, next) => {
    const clientId = String(response.locals.clientId ?? 'anonymous');
    try {
      const result = await limiter.consume(clientId);
      response.setHeader('RateLimit-Limit', String(options.points));
      response.setHeader('RateLimit-Remaining', String(result.remainingPoints));
      next();
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        const retryAfterSeconds = Math.ceil(rejection.msBeforeNext / 1000);
        next(
          new HttpProblem(
            429,
            'rateLimited',
            `at most ${options.points} requests per ${options.windowSeconds} s`,
            {
              retryAfterSeconds,
            },
          ),
        );
        return;
      }
      next(
        new HttpProblem(503, 'unavailable', 'the rate limiter store (Redis) is unreachable', {
          retryAfterSeconds: 2,
        }),
      );
    }
  };
}

/** Spends one failure of a client; returns the 429 to answer instead once its budget is used up. */
export type FailureLimit = (clientId: string) => Promise<HttpProblem | undefined>;

/**
 * Failed authentication per client address. A store that cannot be reached does not turn a 401 into a 503: the
 * answer stays 401, and the success path never touches this limiter.
 */
export function createFailureLimit(options: {
  redis: RedisClient;
  keyPrefix: string;
  points: number;
  windowSeconds: number;
}): FailureLimit {
  const limiter = new RateLimiterRedis({
    storeClient: options.redis,
    keyPrefix: options.keyPrefix,
    points: options.points,
    duration: options.windowSeconds,
    rejectIfRedisNotReady: true,
  });
  return async (clientId) => {
    try {
      await limiter.consume(clientId);
      return undefined;
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) return undefined;
      return new HttpProblem(
        429,
        'rateLimited',
        `too many requests without a valid key: at most ${options.points} per ${options.windowSeconds} s`,
        { retryAfterSeconds: Math.ceil(rejection.msBeforeNext / 1000) },
      );
    }
  };
}
