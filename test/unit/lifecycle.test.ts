// The shutdown helpers: a close raced against its deadline, a close shared by every caller, guarded cleanups.
import { describe, expect, it, vi } from 'vitest';
import { closeOnce, closeWithin, runCleanups } from '../../src/lifecycle.js';

describe('closeWithin', () => {
  it('answers closed and leaves in-flight work alone when the close finishes first', async () => {
    const onDeadline = vi.fn();
    await expect(closeWithin(10_000, async () => undefined, onDeadline)).resolves.toBe('closed');
    expect(onDeadline).not.toHaveBeenCalled();
  });

  it('cuts in-flight work short at the deadline, then waits for the close to end', async () => {
    let finishClose: () => void = () => undefined;
    const closing = new Promise<void>((resolve) => {
      finishClose = resolve;
    });
    const steps: string[] = [];
    const result = closeWithin(
      0,
      () => closing.then(() => steps.push('closed')),
      () => {
        steps.push('deadline');
        finishClose();
      },
    );
    await expect(result).resolves.toBe('deadline');
    expect(steps).toEqual(['deadline', 'closed']);
  });

  it('passes on a close that fails', async () => {
    const failing = () => Promise.reject(new Error('redis gone'));
    await expect(closeWithin(10_000, failing, () => undefined)).rejects.toThrow('redis gone');
  });
});

describe('closeOnce', () => {
  it('gives a second caller the promise of the first close', async () => {
    const close = vi.fn(async (_deadlineMs: number) => undefined);
    const shared = closeOnce(close);
    const first = shared(100);
    const second = shared(0);
    expect(second).toBe(first);
    await first;
    expect(close).toHaveBeenCalledTimes(1);
    expect(close).toHaveBeenCalledWith(100);
  });
});

describe('runCleanups', () => {
  it('runs every cleanup in order though one throws, and reports the failure by name', async () => {
    const ran: string[] = [];
    const failures: Array<[string, string]> = [];
    await runCleanups(
      [
        ['queue', () => ran.push('queue')],
        [
          'delivery',
          async () => {
            ran.push('delivery');
            throw new Error('socket hang up');
          },
        ],
        undefined,
        ['redis', () => ran.push('redis')],
      ],
      (error, name) => failures.push([name, (error as Error).message]),
    );
    expect(ran).toEqual(['queue', 'delivery', 'redis']);
    expect(failures).toEqual([['delivery', 'socket hang up']]);
  });
});
