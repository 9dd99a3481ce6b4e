// The batch lane's probe slots: no more granted than there are, first asked first served, none once closing.
import { describe, expect, it } from 'vitest';
import { ProbeSlots } from '../../../src/batch/probe-slots.js';

describe('ProbeSlots', () => {
  it('grants its slots, then serves the waiters in the order they asked as slots come back', async () => {
    const slots = new ProbeSlots(2);
    const stop = new AbortController().signal;
    expect(await slots.acquire(stop)).toBe(true);
    expect(await slots.acquire(stop)).toBe(true);
    const granted: string[] = [];
    const first = slots.acquire(stop).then(() => granted.push('first'));
    const second = slots.acquire(stop).then(() => granted.push('second'));
    await Promise.resolve();
    expect(granted).toEqual([]);
    slots.release();
    await first;
    expect(granted).toEqual(['first']);
    slots.release();
    await second;
    expect(granted).toEqual(['first', 'second']);
  });

  it('answers false to every waiter of a closing worker, and to any later ask, leaving other waiters waiting', async () => {
    const slots = new ProbeSlots(1);
    const closing = new AbortController();
    const other = new AbortController().signal;
    expect(await slots.acquire(closing.signal)).toBe(true);
    const waiting = [slots.acquire(closing.signal), slots.acquire(closing.signal)];
    const otherWait = slots.acquire(other);
    closing.abort();
    expect(await Promise.all(waiting)).toEqual([false, false]);
    expect(await slots.acquire(closing.signal)).toBe(false);
    slots.release();
    expect(await otherWait).toBe(true);
  });
});
