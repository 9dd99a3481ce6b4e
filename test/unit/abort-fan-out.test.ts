// The fan-out of a parent's abort to the runs in flight under it: one listener on the parent while any run is in
// flight and none after, every run stopped with the parent's reason, a run started after the abort stopped at once.
import { getEventListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AbortFanOut, runAsMember } from '../../src/abort-fan-out.js';
import { listenerLeakWarnings, warningsDuring } from '../support/warnings.js';

/** A run that waits until its signal aborts, then answers the reason it was given. */
function untilAborted(signal: AbortSignal | undefined): Promise<unknown> {
  if (!signal) return Promise.reject(new Error('the run was given no signal'));
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) =>
    signal.addEventListener('abort', () => resolve(signal.reason), { once: true }),
  );
}

const listenersOn = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;

describe('AbortFanOut', () => {
  it('is one per signal: every part running work under a signal shares its listener', () => {
    const parent = new AbortController().signal;
    expect(AbortFanOut.of(parent)).toBe(AbortFanOut.of(parent));
    expect(AbortFanOut.of(parent)).not.toBe(AbortFanOut.of(new AbortController().signal));
    const releases = [AbortFanOut.of(parent).child().release, AbortFanOut.of(parent).register(() => {})];
    expect(listenersOn(parent)).toBe(1);
    for (const release of releases) release();
    expect(listenersOn(parent)).toBe(0);
  });

  it('stops 1,000 runs in flight through one listener, each with the parent’s reason, and no leak warning', async () => {
    const parent = new AbortController();
    const fanOut = AbortFanOut.of(parent.signal);
    let mostListeners = 0;
    const { value: reasons, warnings } = await warningsDuring(async () => {
      const runs = Array.from({ length: 1000 }, () =>
        fanOut.run((signal) => {
          mostListeners = Math.max(mostListeners, listenersOn(parent.signal));
          return untilAborted(signal);
        }),
      );
      parent.abort(new Error('shutdown deadline reached'));
      return Promise.all(runs);
    });
    expect(mostListeners).toBe(1);
    expect(new Set(reasons)).toEqual(new Set([parent.signal.reason]));
    expect(listenerLeakWarnings(warnings)).toEqual([]);
    expect(listenersOn(parent.signal)).toBe(0);
  });

  it('keeps no listener once the last run has ended, and adds it again for the next', async () => {
    const parent = new AbortController();
    const fanOut = AbortFanOut.of(parent.signal);
    const first = fanOut.child();
    const second = fanOut.child();
    expect(listenersOn(parent.signal)).toBe(1);
    first.release();
    expect(listenersOn(parent.signal)).toBe(1);
    second.release();
    expect(listenersOn(parent.signal)).toBe(0);
    // A run that ended is forgotten: the parent's abort no longer reaches it.
    await fanOut.run(async () => undefined);
    expect(listenersOn(parent.signal)).toBe(0);
    const third = fanOut.child();
    expect(listenersOn(parent.signal)).toBe(1);
    parent.abort('stop');
    expect(first.signal.aborted).toBe(false);
    expect(second.signal.aborted).toBe(false);
    expect(third.signal.reason).toBe('stop');
    third.release();
    expect(listenersOn(parent.signal)).toBe(0);
  });

  it('stops a run registered after the parent’s abort at once, with no listener added', () => {
    const parent = new AbortController();
    parent.abort('closing');
    const stopped: unknown[] = [];
    const release = AbortFanOut.of(parent.signal).register((reason) => stopped.push(reason));
    expect(stopped).toEqual(['closing']);
    const child = AbortFanOut.of(parent.signal).child();
    expect(child.signal.reason).toBe('closing');
    release();
    child.release();
    expect(listenersOn(parent.signal)).toBe(0);
  });

  it('lets a probe take `register` as its registerStop: the stop it gives is called once, with the reason', () => {
    const parent = new AbortController();
    const { register } = AbortFanOut.of(parent.signal);
    const stopped: unknown[] = [];
    const unregister = register((reason) => stopped.push(reason));
    parent.abort('cancelled');
    parent.signal.dispatchEvent(new Event('abort'));
    unregister();
    expect(stopped).toEqual(['cancelled']);
  });
});

describe('runAsMember', () => {
  it('runs with no signal when there is no parent', async () => {
    expect(await runAsMember(undefined, async (signal) => signal)).toBeUndefined();
  });

  it('gives each member a signal of its own, aborted with the parent, and forgets it when it ends', async () => {
    const parent = new AbortController();
    const seen: AbortSignal[] = [];
    const ended = await runAsMember(parent.signal, async (signal) => {
      if (signal) seen.push(signal);
      return 'done';
    });
    expect(ended).toBe('done');
    const running = runAsMember(parent.signal, (signal) => {
      if (signal) seen.push(signal);
      return untilAborted(signal);
    });
    expect(seen).toHaveLength(2);
    expect(seen[0]).not.toBe(seen[1]);
    expect(seen[1]).not.toBe(parent.signal);
    parent.abort('shard aborted');
    expect(await running).toBe('shard aborted');
    expect(seen[0]?.aborted).toBe(false);
    expect(listenersOn(parent.signal)).toBe(0);
  });

  it('releases the member when its run throws', async () => {
    const parent = new AbortController();
    await expect(
      runAsMember(parent.signal, async () => {
        throw new Error('the store failed');
      }),
    ).rejects.toThrow('the store failed');
    expect(listenersOn(parent.signal)).toBe(0);
  });
});
