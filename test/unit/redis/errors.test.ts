// Redis errors from long-lived parts: a reconnect storm warns once, a real error warns every time.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { isRedisConnectionError, redisErrorLogger } from '../../../src/redis/errors.js';

function capturingLogger() {
  const lines: Array<{ level: number; msg: string; quietedCount?: number }> = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()));
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

const refused = () =>
  Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

describe('Redis errors of long-lived parts', () => {
  it('knows what ioredis and BullMQ say while Redis is away, and what they do not', () => {
    expect(isRedisConnectionError(refused())).toBe(true);
    expect(isRedisConnectionError(new Error('Connection is closed.'))).toBe(true);
    expect(isRedisConnectionError(new Error('Failed to refresh slots cache.'))).toBe(true);
    expect(
      isRedisConnectionError(new Error('All sentinels are unreachable. Retrying from scratch after 200ms.')),
    ).toBe(true);
    expect(isRedisConnectionError(new Error("READONLY You can't write against a read only replica."))).toBe(
      true,
    );
    expect(
      isRedisConnectionError(new Error('ERR Error running script (call to f_1234): @user_script:1')),
    ).toBe(false);
    expect(isRedisConnectionError(new Error('Missing lock for job 12. moveToFinished'))).toBe(false);
    expect(isRedisConnectionError('ECONNREFUSED')).toBe(false);
  });

  it('warns once for a storm of connection errors, at debug after, and every time for any other error', async () => {
    const { logger, lines } = capturingLogger();
    const onError = redisErrorLogger(logger, 'worker connection error');
    for (let attempt = 0; attempt < 50; attempt += 1) onError(refused());
    onError(new Error('ERR Error running script'));
    onError(new Error('ERR Error running script'));
    await new Promise((resolve) => setImmediate(resolve));
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual([
      'worker connection error: Redis unreachable, reconnecting (repeats go to debug for a while)',
      'worker connection error',
      'worker connection error',
    ]);
    expect(lines.filter((line) => line.level === 20)).toHaveLength(49);
  });

  it('warns again after the quiet window, counting the errors it quieted', async () => {
    const { logger, lines } = capturingLogger();
    const onError = redisErrorLogger(logger, 'alert worker connection error', {}, 0);
    onError(refused());
    onError(refused());
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines.filter((line) => line.level === 40)).toHaveLength(2);
    expect(lines.every((line) => line.quietedCount === 0)).toBe(true);
  });
});
