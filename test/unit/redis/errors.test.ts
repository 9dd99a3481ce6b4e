// Redis errors from long-lived parts: a storm of the same error (a reconnect, a refused write) warns once a window.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  isRedisConnectionError,
  isRedisRefusingWrites,
  redisErrorLogger,
} from '../../../src/redis/errors.js';

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

  it('knows a Redis that refuses writes: its disk failing, its memory cap', () => {
    const fromScript = new Error(
      'MISCONF Errors writing to the AOF file: No space left on device script: d96ca626f1ea141b44a856b312fc636d99aa9ea9, on @user_script:217.',
    );
    expect(isRedisRefusingWrites(fromScript)).toBe(true);
    expect(isRedisRefusingWrites(new Error("OOM command not allowed when used memory > 'maxmemory'."))).toBe(
      true,
    );
    expect(
      isRedisRefusingWrites(new Error('ERR Error running script (call to f_1234): @user_script:1')),
    ).toBe(false);
    expect(isRedisRefusingWrites(refused())).toBe(false);
  });

  it('warns once for a storm of connection errors, of refused writes, or of one other error, at debug after', async () => {
    const { logger, lines } = capturingLogger();
    const onError = redisErrorLogger(logger, 'worker error');
    for (let attempt = 0; attempt < 50; attempt += 1) onError(refused());
    for (let attempt = 0; attempt < 1000; attempt += 1)
      onError(new Error('MISCONF Errors writing to the AOF file: No space left on device'));
    onError(new Error('ERR Error running script'));
    onError(new Error('ERR Error running script'));
    onError(new Error('Missing lock for job 12. moveToFinished'));
    await new Promise((resolve) => setImmediate(resolve));
    const warnings = lines.filter((line) => line.level === 40);
    expect(warnings.map((line) => line.msg)).toEqual([
      'worker error: Redis unreachable, reconnecting (repeats go to debug for a while)',
      'worker error: Redis refuses writes (repeats go to debug for a while)',
      'worker error (repeats go to debug for a while)',
      'worker error (repeats go to debug for a while)',
    ]);
    expect(lines.filter((line) => line.level === 20)).toHaveLength(49 + 999 + 1);
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
